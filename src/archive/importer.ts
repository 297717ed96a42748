// The archive upload: stage the tar, read it, apply DESIGN.md's table blob by blob, commit one new version or nothing.
import type { Readable } from 'node:stream';
import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.js';
import { BerthError } from '../core/errors.js';
import { sha256, type Digest } from '../core/digest.js';
import { requiredBlobs, parseManifest, type Descriptor, type ParsedManifest } from '../core/manifests.js';
import { isForeignLayer, MediaTypes } from '../core/media-types.js';
import { parseRepositoryName, parseTag } from '../core/references.js';
import { Keys, type BlobStore } from '../storage/blob-store.js';
import { commitVersion, type ContentChange } from '../repo/versions.js';
import { recordBlobs, recordManifest } from '../repo/records.js';
import { promote, receive, storedDiffIds } from '../repo/blobs.js';
import { withClaims } from '../repo/claims.js';
import { discardStaged, stageArchive, type StagedArchive, type StagedFile } from './staging.js';
import { readArchive } from './detect.js';
import type { ArchiveContents, DockerImage } from './contents.js';
import type { ArchiveFormat } from './layout.js';

export interface ImportResult {
  repository: string;
  version: number;
  format: ArchiveFormat;
  manifests: { digest: Digest; mediaType: string; tags: string[] }[];
  blobs: { uploaded: number; reused: number; foreign: number };
}

export interface ImportDeps {
  db: Kysely<Database>;
  store: BlobStore;
}

/** A manifest of the new version: bytes already in the store (or in a staged file to be moved). */
interface PlannedManifest {
  digest: Digest;
  size: number;
  parsed: ParsedManifest;
  /** where its bytes are now: a staged file of the archive, or bytes berth wrote */
  source: StagedFile | Buffer;
  tags: string[];
  root: boolean;
}

interface Plan {
  manifests: PlannedManifest[];
  /** blobs whose bytes come from the archive */
  upload: Map<Digest, StagedFile>;
  /** blobs (and child manifests) the archive leaves out, which the repository must hold */
  fromRepository: Set<Digest>;
  foreign: Set<Digest>;
}

export async function importArchive(
  deps: ImportDeps,
  name: string,
  requestTag: string | undefined,
  body: Readable,
): Promise<ImportResult> {
  parseRepositoryName(name);
  if (requestTag !== undefined) parseTag(requestTag);
  const { db, store } = deps;
  const staged = await stageArchive(store, body);
  try {
    const contents = await readArchive(store, staged);
    const plan = await planImport(deps, name, staged, contents);
    const tagged = plan.manifests.filter((m) => m.root);
    if (requestTag !== undefined) {
      if (tagged.length !== 1) {
        throw new BerthError(
          'TAG_INVALID',
          `the archive holds ${tagged.length} images, so the tag "${requestTag}" in the request is ambiguous; ` +
            'upload without a tag to apply the tags written in the archive',
        );
      }
      if (!tagged[0]!.tags.includes(requestTag)) tagged[0]!.tags.push(requestTag);
    }
    for (const m of plan.manifests) m.tags.forEach((t) => parseTag(t));

    const missing = await missingFromRepository(db, name, plan.fromRepository);
    if (missing.length > 0) throw missingError(name, missing);

    // What this upload moves into place is claimed first, so cleanup cannot take it before the commit. Should
    // the commit fail (a layer it reuses left the repository meanwhile), files that no row names stay: harmless,
    // and left to cleanup; deleting them here could pull them from under a concurrent upload of the same bytes.
    const claimed = [...plan.upload.keys(), ...plan.manifests.map((m) => m.digest)];
    return await withClaims(db, claimed, async () => {
      await moveIntoPlace(store, staged, plan);
      const diffIds = new Map<Digest, Digest[] | undefined>();
      for (const m of plan.manifests) diffIds.set(m.digest, await storedDiffIds(store, m.parsed.config));
      const version = await commitVersion(db, name, { create: true }, async ({ trx, repositoryId }) => {
        // Re-checked under the repository's lock: a layer left out must still be in the latest version.
        const still = await presentInRepository(trx, repositoryId, [...plan.fromRepository]);
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
      const reused = [...plan.fromRepository].filter((d) => !contents.absentManifests.has(d)).length;
      return {
        repository: name,
        version: version.number,
        format: contents.format,
        manifests: plan.manifests.map((m) => ({
          digest: m.digest,
          mediaType: m.parsed.mediaType,
          tags: m.tags,
        })),
        blobs: { uploaded: plan.upload.size, reused, foreign: plan.foreign.size },
      };
    });
  } finally {
    await discardStaged(store, staged);
  }
}

function missingError(name: string, missing: string[]): BerthError {
  return new BerthError(
    'BLOB_UNKNOWN',
    `${missing.length} blob(s) are neither in the archive nor in repository ${name}: ${missing.join(', ')}`,
    { repository: name, missing },
  );
}

async function planImport(
  deps: ImportDeps,
  name: string,
  staged: StagedArchive,
  contents: ArchiveContents,
): Promise<Plan> {
  const plan: Plan = { manifests: [], upload: new Map(), fromRepository: new Set(), foreign: new Set() };
  for (const d of contents.absentManifests) plan.fromRepository.add(d);
  const rootTags = new Map(contents.roots.map((r) => [r.digest, r.tags]));
  // Children first, so that an index never lands before what it names.
  const ordered = [...contents.manifests.values()].sort((a, b) =>
    a.parsed.kind === b.parsed.kind ? 0 : a.parsed.kind === 'image' ? -1 : 1,
  );
  for (const m of ordered) {
    for (const l of m.parsed.layers) if (isForeignLayer(l.mediaType)) plan.foreign.add(l.digest);
    for (const d of requiredBlobs(m.parsed)) {
      const f = contents.blob(d.digest);
      if (!f) {
        plan.fromRepository.add(d.digest);
        continue;
      }
      if (f.size !== d.size) {
        throw new BerthError(
          'SIZE_INVALID',
          `blob ${d.digest} is ${f.size} bytes in the archive, but manifest ${m.digest} says ${d.size}`,
        );
      }
      plan.upload.set(d.digest, f);
    }
    const tags = rootTags.get(m.digest);
    plan.manifests.push({
      digest: m.digest,
      size: m.size,
      parsed: m.parsed,
      source: m.file,
      tags: tags ? [...tags] : [],
      root: tags !== undefined,
    });
  }
  for (const img of contents.docker) plan.manifests.push(await planDockerImage(deps, name, img, plan));
  return plan;
}

const OCI_LAYER_TYPE: Record<string, string> = {
  [MediaTypes.dockerLayer]: MediaTypes.ociLayerGzip,
  'application/vnd.docker.image.rootfs.diff.tar': MediaTypes.ociLayer,
};

/**
 * docker-archive carries no registry manifest, so berth writes an OCI one: the layers as they are in the archive
 * (uncompressed tars), and for a layer left out, the compressed blob of the repository with that diff ID.
 */
async function planDockerImage(
  deps: ImportDeps,
  name: string,
  img: DockerImage,
  plan: Plan,
): Promise<PlannedManifest> {
  const wanted = img.layers.filter((l) => !l.file && !l.foreign).map((l) => l.diffId);
  const known = await layersByDiffId(deps.db, name, wanted);
  const missing = wanted.filter((d) => !known.has(d));
  if (missing.length > 0) {
    throw new BerthError(
      'BLOB_UNKNOWN',
      `${missing.length} layer(s) are neither in the archive nor in repository ${name} (by diff ID): ${missing.join(', ')}`,
      { repository: name, missing },
    );
  }
  plan.upload.set(img.config.digest, img.config);
  const layers: Descriptor[] = img.layers.map((l) => {
    if (l.foreign) {
      plan.foreign.add(l.foreign.digest);
      return {
        mediaType: 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
        digest: l.foreign.digest,
        size: l.foreign.size,
        ...(l.foreign.urls ? { urls: l.foreign.urls } : {}),
      };
    }
    if (l.file) {
      plan.upload.set(l.file.digest, l.file);
      return { mediaType: MediaTypes.ociLayer, digest: l.file.digest, size: l.file.size };
    }
    const k = known.get(l.diffId)!;
    plan.fromRepository.add(k.digest);
    return { mediaType: OCI_LAYER_TYPE[k.mediaType] ?? k.mediaType, digest: k.digest, size: k.size };
  });
  const manifest = {
    schemaVersion: 2,
    mediaType: MediaTypes.ociManifest,
    config: { mediaType: MediaTypes.ociConfig, digest: img.config.digest, size: img.config.size },
    layers,
  };
  const bytes = Buffer.from(JSON.stringify(manifest));
  return {
    digest: sha256(bytes),
    size: bytes.length,
    parsed: parseManifest(bytes),
    source: bytes,
    tags: [...img.tags],
    root: true,
  };
}

/** For each diff ID, a layer blob of the repository's latest version with that diff ID. */
async function layersByDiffId(
  db: Kysely<Database>,
  name: string,
  diffIds: Digest[],
): Promise<Map<Digest, { digest: Digest; mediaType: string; size: number }>> {
  const out = new Map<Digest, { digest: Digest; mediaType: string; size: number }>();
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

async function presentInRepository(
  db: Kysely<Database>,
  repositoryId: number,
  digests: string[],
): Promise<Set<string>> {
  const found = new Set<string>();
  for (let i = 0; i < digests.length; i += 500) {
    const rows = await db
      .selectFrom('repository_content')
      .select('key')
      .where('repository_id', '=', repositoryId)
      .where('kind', 'in', ['blob', 'manifest'])
      .where('key', 'in', digests.slice(i, i + 500))
      .where('version_removed', 'is', null)
      .execute();
    rows.forEach((r) => found.add(r.key));
  }
  return found;
}

async function missingFromRepository(
  db: Kysely<Database>,
  name: string,
  need: Set<Digest>,
): Promise<Digest[]> {
  if (need.size === 0) return [];
  const repo = await db.selectFrom('repositories').select('id').where('name', '=', name).executeTakeFirst();
  if (!repo) return [...need];
  const have = await presentInRepository(db, repo.id, [...need]);
  return [...need].filter((d) => !have.has(d));
}

/** Moves the archive's blobs and manifests to their content addresses. */
async function moveIntoPlace(store: BlobStore, staged: StagedArchive, plan: Plan): Promise<void> {
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
