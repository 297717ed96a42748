// The rows of `blobs` in the order of their keys in the store (by digest, or by object key), read a page at a time.
import type { Kysely } from 'kysely';
import type { Digest } from '../core/digest.js';
import type { Database } from './schema.js';

export interface BlobRowState {
  digest: Digest;
  size: number;
  /** present, missing (fsck found its bytes gone) or remote (on demand: bytes at its remote) */
  state: 'present' | 'missing' | 'remote';
  /** the object holding its bytes (an upload's), or null: its content address */
  objectKey: string | null;
}

/**
 * Blob rows by digest, `page` rows a query (keyset paging: rows added meanwhile after the cursor come too); with
 * `addressed`, only those whose bytes are at their content address (no object key), which sort as their keys.
 */
export async function* blobRowsByDigest(
  db: Kysely<Database>,
  page: number,
  addressed = false,
): AsyncGenerator<BlobRowState> {
  let after = '';
  for (;;) {
    const rows = await db
      .selectFrom('blobs')
      .select(['digest', 'size', 'state', 'object_key'])
      .where('digest', '>', after)
      .$if(addressed, (q) => q.where('object_key', 'is', null))
      .orderBy('digest')
      .limit(page)
      .execute();
    if (rows.length === 0) return;
    after = rows[rows.length - 1]!.digest;
    for (const r of rows)
      yield { digest: r.digest as Digest, size: r.size, state: r.state, objectKey: r.object_key };
  }
}

/** The rows that map an object (object_key set), by that key, `page` rows a query. */
export async function* blobRowsByObjectKey(db: Kysely<Database>, page: number): AsyncGenerator<BlobRowState> {
  let after = '';
  for (;;) {
    const rows = await db
      .selectFrom('blobs')
      .select(['digest', 'size', 'state', 'object_key'])
      .where('object_key', '>', after)
      .orderBy('object_key')
      .limit(page)
      .execute();
    if (rows.length === 0) return;
    after = rows[rows.length - 1]!.object_key!;
    for (const r of rows)
      yield { digest: r.digest as Digest, size: r.size, state: r.state, objectKey: r.object_key };
  }
}
