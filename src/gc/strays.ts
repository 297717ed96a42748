// Stray files: files under blobs/ that nothing names (left by a commit that failed after its moves), and their sweep.
import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.js';
import { digestOfHex, type Digest } from '../core/digest.js';
import type { BlobStore, StoreEntry } from '../storage/blob-store.js';
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
  const sweep = async (listed: StoreEntry[]) => {
    const found = listed.flatMap((e) => {
      const digest = digestOfBlobKey(e.key);
      return digest ? [{ digest, entry: e }] : [];
    });
    const named = await namedDigests(
      db,
      found.map((f) => f.digest),
      opts.now,
    );
    const strays: { digest: Digest; size: number }[] = [];
    for (const { digest, entry } of found) {
      if (!named.has(digest) && entry.modifiedAt.getTime() < opts.cutoff)
        strays.push({ digest, size: entry.size });
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
  // sizes and times from the listing (S3: its pages), not a stat per object
  let batch: StoreEntry[] = [];
  for await (const entry of store.entries(Keys.blobsRoot)) {
    batch.push(entry);
    if (batch.length >= BATCH) {
      await sweep(batch);
      batch = [];
    }
  }
  await sweep(batch);
}

/**
 * Of `digests`, those that something names: a blob row, a repository's content, a pending upload, a manifest's
 * reference to a blob, or an unexpired claim.
 */
async function namedDigests(db: Kysely<Database>, digests: Digest[], now: number): Promise<Set<string>> {
  const found = new Set<string>();
  if (digests.length === 0) return found;
  const rows = await db
    .selectFrom('blobs')
    .select('digest')
    .where('digest', 'in', digests)
    .where('object_key', 'is', null) // a row that maps an upload's object does not name the content address
    .union(
      db
        .selectFrom('repository_content')
        .select('key as digest')
        .where('kind', 'in', ['blob', 'manifest'])
        .where('key', 'in', digests),
    )
    .union(db.selectFrom('pending_blobs').select('digest').where('digest', 'in', digests))
    // a blob a manifest names (its row lost: fsck records it again); not an index's child, which names its file
    // through repository content when a version holds it, and else is a sparse index's absent child: no claim
    .union(
      db
        .selectFrom('manifest_references')
        .select('digest')
        .where('kind', '=', 'blob')
        .where('digest', 'in', digests),
    )
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
