// Where a blob's bytes are in a test's store (its row's object, or its content address), and the layout of old stores.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { buffer } from 'node:stream/consumers';
import type { Kysely } from 'kysely';
import type { Database } from '../../src/db/schema.js';
import { algorithmOf, hashOf, type Digest } from '../../src/core/digest.js';
import type { BlobStore } from '../../src/storage/blob-store.js';
import { Keys } from '../../src/storage/cas.js';
import { blobObjectKey } from '../../src/gc/blob-objects.js';

/** The key of `digest`'s bytes, as every reader finds them (through its row). */
export const blobKey = (db: Kysely<Database>, digest: Digest): Promise<string> => blobObjectKey(db, digest);

/**
 * Puts a pushed blob where a store from before migration 0015 keeps it: its object moved to its content address
 * and its row mapping none (a data folder of an older berth).
 */
export async function toContentAddress(
  db: Kysely<Database>,
  store: BlobStore,
  digest: Digest,
): Promise<void> {
  const key = await blobObjectKey(db, digest);
  if (key === Keys.blob(digest)) return;
  await store.move(key, Keys.blob(digest));
  await db.updateTable('blobs').set({ object_key: null }).where('digest', '=', digest).execute();
}

/** The files under `dir` (a filesystem store's folder), as paths relative to it. */
function filesIn(dir: string, under = ''): string[] {
  if (!existsSync(join(dir, under))) return [];
  return readdirSync(join(dir, under), { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? filesIn(dir, join(under, e.name)) : [join(under, e.name)],
  );
}

/**
 * The file of a filesystem store (its folder `storeDir`) holding `digest`'s bytes, wherever they are: at its content
 * address, or an upload's object under objects/ whose bytes hash to it (found by hashing them: for small test
 * stores). Undefined when the store holds them nowhere — what tests of cleanup ask after a blob's row has gone.
 */
export function fileWithBytes(storeDir: string, digest: Digest): string | undefined {
  const addressed = join(storeDir, ...Keys.blob(digest).split('/'));
  if (existsSync(addressed)) return addressed;
  for (const f of filesIn(storeDir, Keys.objectsRoot)) {
    const path = join(storeDir, f);
    if (hashOf(algorithmOf(digest), readFileSync(path)) === digest) return path;
  }
  return undefined;
}

/** Whether `store` holds `digest`'s bytes anywhere (see fileWithBytes), through the port. */
export async function storesBytes(store: BlobStore, digest: Digest): Promise<boolean> {
  if (await store.stat(Keys.blob(digest))) return true;
  for await (const key of store.list(Keys.objectsRoot)) {
    if (hashOf(algorithmOf(digest), await buffer(await store.reader(key))) === digest) return true;
  }
  return false;
}
