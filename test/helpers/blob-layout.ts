// Where a blob's bytes are in a test's store (its row's object, or its content address), and the layout of old stores.
import type { Kysely } from 'kysely';
import type { Database } from '../../src/db/schema.js';
import type { Digest } from '../../src/core/digest.js';
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
