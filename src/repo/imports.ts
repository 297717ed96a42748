// Archive imports: archive/ stages, reads and plans the upload; here it is claimed, moved into place and committed.
import type { Readable } from 'node:stream';
import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.js';
import type { Digest } from '../core/digest.js';
import type { Hasher } from '../core/hash-worker.js';
import { requiredBlobs } from '../core/manifests.js';
import { parseRepositoryName, parseTag } from '../core/references.js';
import type { BlobStore } from '../storage/blob-store.js';
import { Keys, promote, receive, storedDiffIds } from '../storage/cas.js';
import { locateIn, storedAsObject } from '../gc/blob-objects.js';
import { discardStaged, stageArchive, stopIfGone, type StagedArchive } from '../archive/staging.js';
import { ARCHIVE_LIMITS, type ArchiveLimits } from '../archive/tar-guard.js';
import { readArchive } from '../archive/detect.js';
import type { ArchiveFormat } from '../archive/layout.js';
import { missingError, planImport, type HeldContent, type ImportPlan } from '../archive/planner.js';
import {
  commitVersion,
  DEFAULT_COMMIT_SETTINGS,
  type CommitSettings,
  type ContentChange,
} from './versions.js';
import { refuseImmutableChanges } from './immutability.js';
import { recordBlobs, recordManifest } from './catalogue.js';
import { withClaims } from '../gc/claims.js';
import { holds, layersByDiffId } from './held.js';
import { checkIndexChildren } from './manifests.js';
import { checkQuotas } from './quotas.js';

export interface ImportResult {
  repository: string;
  version: number;
  format: ArchiveFormat;
  /** root: an image of its own, not only a child of an index of the archive */
  manifests: { digest: Digest; mediaType: string; tags: string[]; root: boolean }[];
  blobs: { uploaded: number; reused: number; foreign: number };
}

export class Imports {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly store: BlobStore,
    private readonly limits: ArchiveLimits = ARCHIVE_LIMITS,
    private readonly settings: CommitSettings = DEFAULT_COMMIT_SETTINGS,
    /** the hashing thread large entries are hashed on while they are received (none: on the event loop) */
    private readonly hasher?: Hasher,
  ) {}

  /**
   * Imports an image archive streamed in `body` into repository `name` as one new version, tagging it with
   * `tag` too when given. A failed import changes nothing and leaves no staged file behind.
   *
   * `signal` is aborted when the client goes. Until the commit starts (files moved into place, then one
   * transaction), that stops the upload wherever it is (receiving, reading, verifying, planning): no version is
   * made and the staging folder goes. Once the commit has started it completes — one version, atomically — and
   * only its answer is lost: a commit is never left half done.
   */
  async importArchive(
    name: string,
    tag: string | undefined,
    body: Readable,
    signal?: AbortSignal,
  ): Promise<ImportResult> {
    parseRepositoryName(name);
    if (tag !== undefined) parseTag(tag);
    const staged = await stageArchive(this.store, body, { limits: this.limits, signal, hasher: this.hasher });
    try {
      const contents = await readArchive(this.store, staged);
      stopIfGone(signal);
      const plan = await planImport(this.held(name), name, contents, tag);
      stopIfGone(signal);
      // Before anything moves into place, so that an upload refused for a quota stores nothing; commitVersion
      // checks again under the quotas' locks (an upload losing that race leaves its files to cleanup).
      const items = [
        ...[...plan.upload].map(([digest, f]) => ({ digest, size: f.size })),
        ...plan.manifests.map((m) => ({ digest: m.digest, size: m.size })),
      ];
      await checkQuotas(this.db, name, items, 'the archive', { lock: false });
      const version = await this.commit(name, staged, plan, signal);
      return {
        repository: name,
        version,
        format: plan.format,
        manifests: plan.manifests.map((m) => ({
          digest: m.digest,
          mediaType: m.parsed.mediaType,
          tags: m.tags,
          root: m.root,
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
      holds: (digests) => holds(this.db, name, digests),
      checkChildren: (children) => checkIndexChildren(this.db, name, children),
    };
  }

  /**
   * What the plan moves into place is claimed first, so cleanup cannot take it before the commit. Should the
   * commit fail (a layer it reuses left the repository meanwhile), files that no row names stay: harmless, and
   * left to cleanup; deleting them here could pull them from under a concurrent upload of the same bytes.
   */
  private async commit(
    name: string,
    staged: StagedArchive,
    plan: ImportPlan,
    signal: AbortSignal | undefined,
  ): Promise<number> {
    const { db, store } = this;
    const claimed = [...plan.upload.keys(), ...plan.manifests.map((m) => m.digest)];
    // Before any file moves, so that a refusal leaves the store as it was; checked again under the lock.
    const tagChanges = plan.manifests.flatMap((m) =>
      m.tags.map((tag): ContentChange => ({ op: 'add', kind: 'tag', tag, digest: m.digest })),
    );
    await refuseImmutableChanges(db, name, tagChanges);
    const create = { create: true, settings: this.settings };
    return withClaims(db, claimed, async () => {
      // The last point a client that left stops the upload: from here on (renames, then one transaction) the
      // commit completes, so that no file is moved into place for a version that is not made.
      stopIfGone(signal);
      await moveIntoPlace(db, store, staged, plan);
      const diffIds = new Map<Digest, Digest[] | undefined>();
      for (const m of plan.manifests)
        diffIds.set(m.digest, await storedDiffIds(store, locateIn(db), m.parsed.config));
      const version = await commitVersion(db, name, create, async ({ trx }) => {
        // Re-checked under the repository's lock: a layer left out must still be in the latest version.
        const still = await holds(trx, name, [...plan.fromRepository]);
        const gone = [...plan.fromRepository].filter((d) => !still.has(d));
        if (gone.length > 0) throw missingError(name, gone);
        await checkIndexChildren(trx, name, [...plan.absentChildren]);
        // Shared rows are written in digest order (recordBlobs sorts), so concurrent uploads never deadlock.
        await recordBlobs(trx, [
          // by the digest the archive names each blob by (sha256 or sha512), not staging's sha256 of the file
          ...[...plan.upload].map(([digest, f]) => ({ digest, size: f.size })),
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

/**
 * Moves the archive's blobs and manifests to their content addresses; a layer whose row maps a pushed upload's
 * object is stored already (the claim taken before keeps it: cleanup checks claims again before it deletes such
 * an object), and its staged copy goes with the staging folder.
 */
async function moveIntoPlace(
  db: Kysely<Database>,
  store: BlobStore,
  staged: StagedArchive,
  plan: ImportPlan,
): Promise<void> {
  for (const [digest, f] of plan.upload) {
    if (await storedAsObject(db, digest)) continue;
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
