// Archive imports: archive/ stages, reads and plans the upload; here it is claimed, moved into place and committed.
import type { Readable } from 'node:stream';
import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.js';
import type { Digest } from '../core/digest.js';
import { requiredBlobs } from '../core/manifests.js';
import { parseRepositoryName, parseTag } from '../core/references.js';
import { Keys, type BlobStore } from '../storage/blob-store.js';
import { discardStaged, stageArchive, type StagedArchive } from '../archive/staging.js';
import { readArchive } from '../archive/detect.js';
import type { ArchiveFormat } from '../archive/layout.js';
import {
  missingError,
  planImport,
  type HeldContent,
  type HeldLayer,
  type ImportPlan,
} from '../archive/planner.js';
import { commitVersion, type ContentChange } from './versions.js';
import { recordBlobs, recordManifest } from './records.js';
import { promote, receive, storedDiffIds } from './blobs.js';
import { withClaims } from './claims.js';

export interface ImportResult {
  repository: string;
  version: number;
  format: ArchiveFormat;
  manifests: { digest: Digest; mediaType: string; tags: string[] }[];
  blobs: { uploaded: number; reused: number; foreign: number };
}

export class Imports {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly store: BlobStore,
  ) {}

  /**
   * Imports an image archive streamed in `body` into repository `name` as one new version, tagging it with
   * `tag` too when given. A failed import changes nothing and leaves no staged file behind.
   */
  async importArchive(name: string, tag: string | undefined, body: Readable): Promise<ImportResult> {
    parseRepositoryName(name);
    if (tag !== undefined) parseTag(tag);
    const staged = await stageArchive(this.store, body);
    try {
      const contents = await readArchive(this.store, staged);
      const plan = await planImport(this.held(name), name, contents, tag);
      const version = await this.commit(name, staged, plan);
      return {
        repository: name,
        version,
        format: plan.format,
        manifests: plan.manifests.map((m) => ({
          digest: m.digest,
          mediaType: m.parsed.mediaType,
          tags: m.tags,
        })),
        blobs: { uploaded: plan.upload.size, reused: plan.reused, foreign: plan.foreign.size },
      };
    } finally {
      await discardStaged(this.store, staged);
    }
  }

  /** The planner's read port over repository `name`'s latest version. */
  private held(name: string): HeldContent {
    return {
      layersByDiffId: (diffIds) => layersByDiffId(this.db, name, diffIds),
      holds: (digests) => presentInRepository(this.db, name, digests),
    };
  }

  /**
   * What the plan moves into place is claimed first, so cleanup cannot take it before the commit. Should the
   * commit fail (a layer it reuses left the repository meanwhile), files that no row names stay: harmless, and
   * left to cleanup; deleting them here could pull them from under a concurrent upload of the same bytes.
   */
  private async commit(name: string, staged: StagedArchive, plan: ImportPlan): Promise<number> {
    const { db, store } = this;
    const claimed = [...plan.upload.keys(), ...plan.manifests.map((m) => m.digest)];
    return withClaims(db, claimed, async () => {
      await moveIntoPlace(store, staged, plan);
      const diffIds = new Map<Digest, Digest[] | undefined>();
      for (const m of plan.manifests) diffIds.set(m.digest, await storedDiffIds(store, m.parsed.config));
      const version = await commitVersion(db, name, { create: true }, async ({ trx }) => {
        // Re-checked under the repository's lock: a layer left out must still be in the latest version.
        const still = await presentInRepository(trx, name, [...plan.fromRepository]);
        const gone = [...plan.fromRepository].filter((d) => !still.has(d));
        if (gone.length > 0) throw missingError(name, gone);
        // Shared rows are written in digest order (recordBlobs sorts), so concurrent uploads never deadlock.
        await recordBlobs(trx, [
          ...[...plan.upload.values()].map((f) => ({ digest: f.digest, size: f.size })),
          ...plan.manifests.map((m) => ({ digest: m.digest, size: m.size })),
        ]);
        const changes: ContentChange[] = [];
        for (const m of [...plan.manifests].sort((x, y) => (x.digest < y.digest ? -1 : 1))) {
          await recordManifest(trx, {
            digest: m.digest,
            size: m.size,
            parsed: m.parsed,
            diffIds: diffIds.get(m.digest),
          });
          changes.push({ op: 'add', kind: 'manifest', digest: m.digest });
          for (const b of requiredBlobs(m.parsed))
            changes.push({ op: 'add', kind: 'blob', digest: b.digest });
          for (const t of m.tags) changes.push({ op: 'add', kind: 'tag', tag: t, digest: m.digest });
        }
        return changes;
      });
      return version.number;
    });
  }
}

/** Moves the archive's blobs and manifests to their content addresses. */
async function moveIntoPlace(store: BlobStore, staged: StagedArchive, plan: ImportPlan): Promise<void> {
  for (const [digest, f] of plan.upload) {
    await promote(store, f.key, digest);
  }
  let n = 0;
  for (const m of plan.manifests) {
    if (Buffer.isBuffer(m.source)) {
      const key = `${Keys.stagingDir(staged.id)}written-${n++}`;
      await receive(store, key, [m.source]);
      await promote(store, key, m.digest);
    } else if (!plan.upload.has(m.digest)) {
      await promote(store, m.source.key, m.digest);
    }
  }
}

// The two repository-holds queries the planner's port needs (moved from archive/importer.ts; they belong with
// the other "what does a repository hold" queries of src/repo/held.ts once it exists).

/** For each diff ID, a layer blob of the repository's latest version with that diff ID. */
async function layersByDiffId(
  db: Kysely<Database>,
  name: string,
  diffIds: Digest[],
): Promise<Map<Digest, HeldLayer>> {
  const out = new Map<Digest, HeldLayer>();
  if (diffIds.length === 0) return out;
  const rows = await db
    .selectFrom('layer_diff_ids as l')
    .innerJoin('repository_content as c', 'c.key', 'l.blob_digest')
    .innerJoin('repositories as r', 'r.id', 'c.repository_id')
    .select(['l.diff_id', 'l.blob_digest', 'l.media_type', 'l.size'])
    .where('r.name', '=', name)
    .where('c.kind', '=', 'blob')
    .where('c.version_removed', 'is', null)
    .where('l.diff_id', 'in', diffIds)
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
  return out;
}

/** Of `digests`, those the repository's latest version holds as blobs or manifests. */
async function presentInRepository(
  db: Kysely<Database>,
  name: string,
  digests: Digest[],
): Promise<Set<Digest>> {
  const found = new Set<Digest>();
  for (let i = 0; i < digests.length; i += 500) {
    const rows = await db
      .selectFrom('repository_content as c')
      .innerJoin('repositories as r', 'r.id', 'c.repository_id')
      .select('c.key')
      .where('r.name', '=', name)
      .where('c.kind', 'in', ['blob', 'manifest'])
      .where('c.key', 'in', digests.slice(i, i + 500))
      .where('c.version_removed', 'is', null)
      .execute();
    rows.forEach((r) => found.add(r.key as Digest));
  }
  return found;
}
