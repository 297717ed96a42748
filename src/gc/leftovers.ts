// Temporary folders of the store (uploads/<id>/, staging/<id>/) by age, and the sweep of a crashed process's staging.
import type { BlobStore } from '../storage/blob-store.js';
import { Keys } from '../storage/cas.js';

/** The default protection time: files younger than this may belong to an operation in flight. */
export const DEFAULT_PROTECTION_MS = 3600_000;

/**
 * The folders directly under `prefix` ('uploads/' or 'staging/'), each with the time its newest file was last
 * written: a folder still being written to is as young as its youngest file.
 */
export async function foldersByAge(store: BlobStore, prefix: string): Promise<Map<string, Date>> {
  const newest = new Map<string, Date>();
  for await (const key of store.list(prefix)) {
    const id = key.slice(prefix.length).split('/')[0];
    if (!id) continue;
    const st = await store.stat(key);
    if (!st) continue; // removed meanwhile
    const seen = newest.get(id);
    if (!seen || st.modifiedAt > seen) newest.set(id, st.modifiedAt);
  }
  return newest;
}

/**
 * Removes staging folders untouched for longer than `protectionMs` (archive uploads of a process that died);
 * a fresh one may be another process's upload in progress and is left alone. Returns the ids removed.
 */
export async function removeStaleStaging(
  store: BlobStore,
  protectionMs = DEFAULT_PROTECTION_MS,
  now = Date.now(),
): Promise<string[]> {
  const removed: string[] = [];
  for (const [id, newest] of await foldersByAge(store, 'staging/')) {
    if (newest.getTime() >= now - protectionMs) continue;
    await store.deletePrefix(Keys.stagingDir(id));
    removed.push(id);
  }
  return removed;
}
