// Where a blob's bytes are: digest → object key through its row (blobs.object_key), for every reader of the store.
import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.js';
import type { Digest } from '../core/digest.js';
import { storedKey, type Locate } from '../storage/cas.js';

/**
 * The key of `digest`'s bytes: the object its row maps (an upload's objects/<xx>/<id>/data), or its content address
 * blobs/<alg>/<xx>/<hex> when the row maps none (rows from before migration 0015, blobs other writers moved into
 * place) or there is no row (a writer reading what it has just moved into place, before it records it).
 */
export async function blobObjectKey(db: Kysely<Database>, digest: Digest): Promise<string> {
  const row = await db
    .selectFrom('blobs')
    .select('object_key')
    .where('digest', '=', digest)
    .executeTakeFirst();
  return storedKey(digest, row?.object_key);
}

/** Whether `digest`'s row maps an upload's object holding its bytes (present): a writer need not store them. */
export async function storedAsObject(db: Kysely<Database>, digest: Digest): Promise<boolean> {
  const row = await db
    .selectFrom('blobs')
    .select('digest')
    .where('digest', '=', digest)
    .where('object_key', 'is not', null)
    .where('state', '=', 'present')
    .executeTakeFirst();
  return row !== undefined;
}

/** `blobObjectKey` over `db`, as the `Locate` that cas.ts's readers take. */
export const locateIn =
  (db: Kysely<Database>): Locate =>
  (digest) =>
    blobObjectKey(db, digest);
