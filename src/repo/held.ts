// What a repository holds, every way berth asks it: its latest version's blobs and manifests, pushed blobs awaiting a manifest, layers by diff ID.
import { sql, type Kysely } from 'kysely';
import type { ContentKind, Database } from '../db/schema.js';
import type { Digest } from '../core/digest.js';

/** The database or a transaction on it: every question here can be asked inside a commit, under its lock. */
type Db = Kysely<Database>;

/** Digests per statement: a manifest may name thousands, more bound parameters than one statement takes. */
const BATCH = 500;

/** Runs `ask` over `digests` (made unique) a batch at a time, collecting what it finds. */
async function inBatches(
  digests: string[],
  ask: (part: string[]) => Promise<string[]>,
): Promise<Set<string>> {
  const found = new Set<string>();
  const unique = [...new Set(digests)];
  for (let i = 0; i < unique.length; i += BATCH) {
    for (const d of await ask(unique.slice(i, i + BATCH))) found.add(d);
  }
  return found;
}

/** Content rows of the repository's latest version, by repository name. */
export function current(db: Db, name: string) {
  return db
    .selectFrom('repository_content as c')
    .innerJoin('repositories as r', 'r.id', 'c.repository_id')
    .where('r.name', '=', name)
    .where('c.version_removed', 'is', null);
}

function inLatest(db: Db, name: string, kinds: ContentKind[], part: string[]) {
  return current(db, name).select('c.key as digest').where('c.kind', 'in', kinds).where('c.key', 'in', part);
}

/** Of `digests`, those the repository's latest version holds as units of the given kinds. */
export async function inLatestVersion(
  db: Db,
  name: string,
  kinds: ContentKind[],
  digests: string[],
): Promise<Set<string>> {
  return inBatches(digests, async (part) =>
    (await inLatest(db, name, kinds, part).execute()).map((r) => r.digest),
  );
}

/**
 * Of `digests`, the blobs the repository holds: in its latest version, or pushed (or mounted) into it and awaiting
 * a manifest. A pending blob counts only while its blob row lives: a pending row outliving its blob (cleanup took
 * it) names bytes that are gone, and no version may be committed naming them.
 */
export async function heldBlobs(db: Db, name: string, digests: string[]): Promise<Set<string>> {
  return inBatches(digests, async (part) => {
    // One statement, so one snapshot: a manifest push that moves a blob from pending_blobs into a version
    // between two separate queries would otherwise make it look held by neither (seen under PostgreSQL).
    const rows = await inLatest(db, name, ['blob'], part)
      .union(
        db
          .selectFrom('pending_blobs as p')
          .innerJoin('blobs as b', 'b.digest', 'p.digest')
          .select('p.digest')
          .where('p.repository', '=', name)
          .where('p.digest', 'in', part),
      )
      .execute();
    return rows.map((r) => r.digest);
  });
}

/**
 * Of `digests`, those the repository's latest version holds as blobs: the blobs an archive may leave out. Pending
 * blobs do not count (an archive's layers left out must be in the version it builds on).
 */
export async function holds(db: Db, name: string, digests: string[]): Promise<Set<string>> {
  return inLatestVersion(db, name, ['blob'], digests);
}

/**
 * Of `digests`, those the repository holds as blobs (latest version or pending) and not as manifests of its latest
 * version: content of another kind, which no index may name as a child manifest.
 */
export async function heldOnlyAsBlobs(db: Db, name: string, digests: string[]): Promise<string[]> {
  const asBlobs = await heldBlobs(db, name, digests);
  if (asBlobs.size === 0) return [];
  const asManifests = await inLatestVersion(db, name, ['manifest'], [...asBlobs]);
  return [...asBlobs].filter((d) => !asManifests.has(d)).sort();
}

/**
 * The size of a blob if the repository holds it (its latest version, as a blob or a manifest's bytes, or pushed
 * and awaiting its manifest) and its bytes are present. Other repositories holding the same bytes do not count:
 * holding them is the proof of ownership.
 */
export async function blobSize(db: Db, name: string, digest: Digest): Promise<number | undefined> {
  return (await heldBlob(db, name, digest)).stored;
}

/** How a repository holds a blob (heldBlob): its size on demand (its bytes come from a remote), stored, or both. */
export interface HeldSize {
  remote?: number;
  stored?: number;
}

/**
 * How the repository holds a blob, in one statement (one round trip: a HEAD on PostgreSQL waits on it): on demand
 * when its latest version holds it as a blob with an on_demand_blobs row of this repository (the row's size),
 * checked first: even when berth has the bytes for another repository, this repository's first GET fetches and
 * verifies them. Stored: its latest version holds it as a blob or a manifest's bytes, or it was pushed and awaits its
 manifest, and its bytes are present. Neither size when it holds it neither way.
 */
export async function heldBlob(db: Db, name: string, digest: Digest): Promise<HeldSize> {
  const rows = await current(db, name)
    .leftJoin('on_demand_blobs as o', (j) =>
      j.onRef('o.digest', '=', 'c.key').on('o.repository', '=', name).on('c.kind', '=', 'blob'),
    )
    // a blob fsck marked missing is unknown until pushed again
    .leftJoin('blobs as b', (j) => j.onRef('b.digest', '=', 'c.key').on('b.state', '=', 'present'))
    .select(['o.size as remote', 'b.size as stored'])
    .where('c.kind', 'in', ['blob', 'manifest'])
    .where('c.key', '=', digest)
    .union(
      db
        .selectFrom('pending_blobs as p')
        .innerJoin('blobs as b', 'b.digest', 'p.digest')
        .select([sql<number | null>`null`.as('remote'), 'b.size as stored'])
        .where('p.repository', '=', name)
        .where('p.digest', '=', digest)
        .where('b.state', '=', 'present'),
    )
    .execute();
  const remote = rows.find((r) => r.remote !== null)?.remote;
  const stored = rows.find((r) => r.stored !== null)?.stored;
  return {
    ...(remote == null ? {} : { remote: Number(remote) }),
    ...(stored == null ? {} : { stored: Number(stored) }),
  };
}

export interface HeldLayer {
  digest: Digest;
  mediaType: string;
  size: number;
}

/** For each diff ID, a layer blob of the repository's latest version with that diff ID (compressed preferred). */
export async function layersByDiffId(
  db: Db,
  name: string,
  diffIds: Digest[],
): Promise<Map<Digest, HeldLayer>> {
  const out = new Map<Digest, HeldLayer>();
  const unique = [...new Set(diffIds)];
  for (let i = 0; i < unique.length; i += BATCH) {
    const rows = await current(db, name)
      .innerJoin('layer_diff_ids as l', 'l.blob_digest', 'c.key')
      .select(['l.diff_id', 'l.blob_digest', 'l.media_type', 'l.size'])
      .where('c.kind', '=', 'blob')
      .where('l.diff_id', 'in', unique.slice(i, i + BATCH))
      .orderBy('l.blob_digest')
      .execute();
    for (const r of rows) {
      // Prefer a compressed blob to the uncompressed one when the repository holds both.
      const prev = out.get(r.diff_id as Digest);
      if (!prev || prev.digest === r.diff_id) {
        out.set(r.diff_id as Digest, {
          digest: r.blob_digest as Digest,
          mediaType: r.media_type,
          size: r.size,
        });
      }
    }
  }
  return out;
}

/**
 * Of `digests`, in their order, those the repository's latest version holds as a blob, or as the diff ID of a
 * layer blob it holds: what a client may leave out of an archive for this repository.
 */
export async function presentBlobs(db: Db, name: string, digests: string[]): Promise<string[]> {
  const asBlobs = await inLatestVersion(db, name, ['blob'], digests);
  const asDiffIds = await layersByDiffId(db, name, digests as Digest[]);
  return digests.filter((d) => asBlobs.has(d) || asDiffIds.has(d as Digest));
}

/**
 * The manifests of the repository's latest version that need blob `digest` (as their config or a layer), sorted:
 * while there is one, the blob cannot leave the repository. Asked under the repository's lock.
 */
export async function manifestsNeeding(db: Db, name: string, digest: string): Promise<string[]> {
  const rows = await current(db, name)
    .innerJoin('manifest_references as mr', 'mr.manifest_digest', 'c.key')
    .select('mr.manifest_digest as digest')
    .distinct()
    .where('c.kind', '=', 'manifest')
    .where('mr.kind', '=', 'blob')
    .where('mr.digest', '=', digest)
    .orderBy('mr.manifest_digest')
    .execute();
  return rows.map((r) => r.digest);
}
