// Temporary folders of the store (uploads/<id>/, staging/<id>/) by age, and the sweeps of a crashed process's staging and sync downloads.
import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.js';
import type { BlobStore } from '../storage/blob-store.js';
import { Keys } from '../storage/cas.js';

/** The default protection time: files younger than this may belong to an operation in flight. */
export const DEFAULT_PROTECTION_MS = 3600_000;

/**
 * The folders directly under `prefix` ('uploads/' or 'staging/'), each with the time its newest file was last
 * written (or its newest unfinished write began): a folder still being written to is as young as its youngest file.
 */
export async function foldersByAge(store: BlobStore, prefix: string): Promise<Map<string, Date>> {
  const newest = new Map<string, Date>();
  for await (const { key, modifiedAt } of store.entries(prefix)) {
    const id = key.slice(prefix.length).split('/')[0];
    if (!id) continue;
    const seen = newest.get(id);
    if (!seen || modifiedAt > seen) newest.set(id, modifiedAt);
  }
  // writes a dead process began and the store keeps out of sight (S3's incomplete multipart uploads): their
  // folder is as old as when they began, so that its sweep (deletePrefix) takes them too
  for await (const { key, startedAt } of store.unfinished(prefix)) {
    const id = key.slice(prefix.length).split('/')[0];
    if (!id) continue;
    const seen = newest.get(id);
    if (!seen || startedAt > seen) newest.set(id, startedAt);
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

/** The folder a sync run downloads into before its commit: uploads/sync-<run id>/. */
export const syncDownloadDir = (runId: string): string => Keys.uploadDir(`sync-${runId}`);

/**
 * Removes sync download folders (uploads/sync-<run>/) untouched for longer than `protectionMs` whose run is not
 * running (failed — a killed process's run once marked so —, ended, or unknown): a run that ends deletes its own,
 * so these are what a process that died left. Returns the folder names removed.
 */
export async function removeStaleSyncDownloads(
  db: Kysely<Database>,
  store: BlobStore,
  protectionMs = DEFAULT_PROTECTION_MS,
  now = Date.now(),
): Promise<string[]> {
  const removed: string[] = [];
  for (const [id, newest] of await foldersByAge(store, 'uploads/')) {
    if (!id.startsWith('sync-') || newest.getTime() >= now - protectionMs) continue;
    const run = await db
      .selectFrom('sync_runs')
      .select('state')
      .where('id', '=', id.slice('sync-'.length))
      .executeTakeFirst();
    if (run?.state === 'running') continue;
    await store.deletePrefix(Keys.uploadDir(id));
    removed.push(id);
  }
  return removed;
}
