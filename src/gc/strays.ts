// Stray files: files under blobs/ that nothing names (left by a commit that failed after its moves), and their sweep.
import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.js';
import { digestOfHex, type Digest } from '../core/digest.js';
import type { BlobStore } from '../storage/blob-store.js';
import { Keys } from '../storage/cas.js';
import { CleanupFileError, type Trash } from './trash.js';

const BATCH = 500;

/** The digest a key under blobs/ stands for, if it is a well-formed content address. */
export function digestOfBlobKey(key: string): Digest | undefined {
  const m = /^blobs\/(sha256|sha512)\/([a-f0-9]{2})\/([a-f0-9]+)$/.exec(key);
  const digest = m && m[3]!.startsWith(m[2]!) ? digestOfHex(m[3]!) : undefined;
  return digest?.startsWith(`${m![1]}:`) ? digest : undefined;
}

export interface StraySweep {
  dryRun: boolean;
  now: number;
  /** files last written before this are old enough to go */
  cutoff: number;
  /** called with the strays found, before they are let go of (tests interleave a writer here) */
  afterDecision?: (digests: Digest[]) => Promise<void>;
  /** called for each stray removed (or, in a dry run, that would be) */
  removed(stray: { digest: Digest; size: number }): void;
  /** called for each stray put back because a writer claimed or recorded it meanwhile */
  kept(digest: Digest): void;
}

/**
 * Sweeps files under blobs/ that no blob row, repository content, pending upload, manifest reference or unexpired
 * claim names and that were last written before the cutoff. They are let go of as blobs are (moved to trash,
 * re-checked, put back when a writer claimed or recorded the blob meanwhile, else deleted), so an upload in
 * flight, which claims before it moves its file into place, never loses it. Keys that are no content address are
 * left to fsck. A file that cannot be moved (other than not found) stops the sweep with a CleanupFileError.
 */
export async function sweepStrays(
  db: Kysely<Database>,
  store: BlobStore,
  trash: Trash,
  opts: StraySweep,
): Promise<void> {
  const sweep = async (keys: string[]) => {
    const digests = keys.map(digestOfBlobKey).filter((d): d is Digest => d !== undefined);
    const named = await namedDigests(db, digests, opts.now);
    const strays: { digest: Digest; size: number }[] = [];
    for (const d of digests) {
      if (named.has(d)) continue;
      const st = await store.stat(Keys.blob(d));
      if (st && st.modifiedAt.getTime() < opts.cutoff) strays.push({ digest: d, size: st.size });
    }
    if (strays.length === 0) return;
    let kept = new Set<Digest>();
    if (!opts.dryRun) {
      await opts.afterDecision?.(strays.map((s) => s.digest));
      const done = await trash.letGo(
        randomUUID(),
        strays.map((s) => s.digest),
      );
      if (done.failed.size > 0) throw new CleanupFileError(done.failed);
      kept = done.kept;
    }
    for (const s of strays) {
      if (kept.has(s.digest)) opts.kept(s.digest);
      else opts.removed(s);
    }
  };
  let keys: string[] = [];
  for await (const key of store.list(Keys.blobsRoot)) {
    keys.push(key);
    if (keys.length >= BATCH) {
      await sweep(keys);
      keys = [];
    }
  }
  await sweep(keys);
}

/**
 * Of `digests`, those that something names: a blob row, a repository's content, a pending upload, a manifest's
 * reference, or an unexpired claim.
 */
async function namedDigests(db: Kysely<Database>, digests: Digest[], now: number): Promise<Set<string>> {
  const found = new Set<string>();
  if (digests.length === 0) return found;
  const rows = await db
    .selectFrom('blobs')
    .select('digest')
    .where('digest', 'in', digests)
    .union(
      db
        .selectFrom('repository_content')
        .select('key as digest')
        .where('kind', 'in', ['blob', 'manifest'])
        .where('key', 'in', digests),
    )
    .union(db.selectFrom('pending_blobs').select('digest').where('digest', 'in', digests))
    .union(db.selectFrom('manifest_references').select('digest').where('digest', 'in', digests))
    .union(
      db
        .selectFrom('blob_claims')
        .select('digest')
        .where('digest', 'in', digests)
        .where('expires_at', '>=', now),
    )
    .execute();
  for (const r of rows) found.add(r.digest);
  return found;
}
