// Objects under objects/ that no blob row maps and no open upload session writes (strays), and their sweep.
import { sql, type Kysely } from 'kysely';
import type { Database } from '../db/schema.js';
import type { BlobStore, StoreEntry } from '../storage/blob-store.js';
import { Keys, objectIdOf } from '../storage/cas.js';

const BATCH = 500;

/**
 * Of `listed` (objects under objects/), those that a blob row maps or that are in an open upload session's folder
 * objects/<2 chars>/<id>/ (its bytes, or what a store keeps beside them while appending). Both in one statement: an upload's finish maps its object and deletes its session in
 * one transaction, so an object in flight is always named by one or the other.
 */
export async function namedObjects(db: Kysely<Database>, listed: StoreEntry[]): Promise<Set<string>> {
  const named = new Set<string>();
  if (listed.length === 0) return named;
  const keys = listed.map((e) => e.key);
  const ids = listed.flatMap((e) => {
    const id = objectIdOf(e.key);
    return id ? [id] : [];
  });
  const rows = await db
    .selectFrom('blobs')
    .select(['object_key as key', sql<string>`'row'`.as('kind')])
    .where('object_key', 'in', keys)
    .$if(ids.length > 0, (q) =>
      q.union(
        db
          .selectFrom('upload_sessions')
          .select(['id as key', sql<string>`'session'`.as('kind')])
          .where('id', 'in', ids),
      ),
    )
    .execute();
  const sessions = new Set<string>();
  for (const r of rows) {
    if (r.kind === 'session') sessions.add(r.key!);
    else if (r.key) named.add(r.key);
  }
  // everything in an open session's folder: its object, and what a store keeps beside it while appending
  for (const e of listed) {
    const id = objectIdOf(e.key);
    if (id && sessions.has(id)) named.add(e.key);
  }
  return named;
}

/**
 * The objects under objects/ that nothing names and that were last written before `cutoff`, a batch at a time
 * (sizes and times from the listing). No trash is needed: nothing can come to name such an object (its session is
 * gone, finished or not, and only its session's finish maps it), so each is deleted at once unless `dryRun`.
 * Cleanup's step (4) and fsck --repair call it.
 */
export async function* objectStrays(
  db: Kysely<Database>,
  store: BlobStore,
  cutoff: number,
): AsyncGenerator<StoreEntry> {
  let batch: StoreEntry[] = [];
  const unnamed = async function* (listed: StoreEntry[]) {
    const named = await namedObjects(db, listed);
    for (const e of listed) if (!named.has(e.key) && e.modifiedAt.getTime() < cutoff) yield e;
  };
  for await (const entry of store.entries(Keys.objectsRoot)) {
    batch.push(entry);
    if (batch.length >= BATCH) {
      yield* unnamed(batch);
      batch = [];
    }
  }
  yield* unnamed(batch);
}

/** Deletes the stray objects (unless `dryRun`), calling `removed` for each. */
export async function sweepObjectStrays(
  db: Kysely<Database>,
  store: BlobStore,
  opts: { dryRun: boolean; cutoff: number; removed(stray: StoreEntry): void },
): Promise<void> {
  for await (const stray of objectStrays(db, store, opts.cutoff)) {
    if (!opts.dryRun) await store.delete(stray.key);
    opts.removed(stray);
  }
}
