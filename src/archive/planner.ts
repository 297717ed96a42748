// The import plan: DESIGN.md's table applied to each blob an archive names (in the tar, held, foreign or missing).
import { BerthError } from '../core/errors.js';
import { sha256, type Digest } from '../core/digest.js';
import { requiredBlobs, parseManifest, type Descriptor, type ParsedManifest } from '../core/manifests.js';
import { isForeignLayer, MediaTypes } from '../core/media-types.js';
import { parseTag } from '../core/references.js';
import type { StagedFile } from './staging.js';
import type { ArchiveContents, DockerImage } from './contents.js';
import type { ArchiveFormat } from './layout.js';

/** A layer blob the destination repository holds. */
export interface HeldLayer {
  digest: Digest;
  mediaType: string;
  size: number;
}

/**
 * The planner's read port: what the destination repository's latest version holds. Holding the bytes is the
 * proof of ownership, so it answers for that one repository only, never for what berth stores for others.
 */
export interface HeldContent {
  /** For each diff ID, a layer blob of the latest version with that diff ID (a compressed one preferred). */
  layersByDiffId(diffIds: Digest[]): Promise<Map<Digest, HeldLayer>>;
  /** Of `digests`, those the latest version holds as blobs. */
  holds(digests: Digest[]): Promise<ReadonlySet<string>>;
  /**
   * Checks the child manifests an index names and the archive leaves out exactly as a registry push of the index
   * checks its children (one validation for both paths, in repo/); throws if one may not be named.
   */
  checkChildren(children: Digest[]): Promise<void>;
}

/** A manifest of the new version, with where its bytes are now. */
export interface PlannedManifest {
  digest: Digest;
  size: number;
  parsed: ParsedManifest;
  /** a staged file of the archive, or the bytes berth wrote (the manifest of a docker-archive image) */
  source: StagedFile | Buffer;
  tags: string[];
  /** an image of the archive's top level (the one a tag in the request applies to) */
  root: boolean;
}

export interface ImportPlan {
  format: ArchiveFormat;
  /** children before the indexes that name them */
  manifests: PlannedManifest[];
  /** blobs whose bytes come from the archive */
  upload: Map<Digest, StagedFile>;
  /** blobs the archive leaves out, which the repository holds (to re-check at commit) */
  fromRepository: Set<Digest>;
  /** child manifests the archive leaves out: checked as a registry push checks an index's (again at commit) */
  absentChildren: Set<Digest>;
  /** foreign layers: kept in manifests, never stored */
  foreign: Set<Digest>;
  /** blobs reused from the repository */
  reused: number;
}

export function missingError(repository: string, missing: string[]): BerthError {
  return new BerthError(
    'BLOB_UNKNOWN',
    `${missing.length} blob(s) are neither in the archive nor in repository ${repository}: ${missing.join(', ')}`,
    { repository, missing },
  );
}

/**
 * Plans the import of `contents` into `repository`: every manifest with its tags (and `requestTag`, which must
 * then name one image), the blobs to take from the archive, and those left out, which `held` must hold as blobs.
 * Throws when a blob is in neither, naming every missing digest, or when a child manifest left out may not be
 * named (as a registry push of the index would be refused); imports nothing.
 */
export async function planImport(
  held: HeldContent,
  repository: string,
  contents: ArchiveContents,
  requestTag?: string,
): Promise<ImportPlan> {
  const plan: ImportPlan = {
    format: contents.format,
    manifests: [],
    upload: new Map(),
    fromRepository: new Set(),
    absentChildren: new Set(contents.absentManifests),
    foreign: new Set(),
    reused: 0,
  };
  planManifests(contents, plan);
  for (const img of contents.docker) plan.manifests.push(await planDockerImage(held, repository, img, plan));
  applyTags(plan, requestTag);
  if (plan.fromRepository.size > 0) {
    const have = await held.holds([...plan.fromRepository]);
    const missing = [...plan.fromRepository].filter((d) => !have.has(d));
    if (missing.length > 0) throw missingError(repository, missing);
  }
  if (plan.absentChildren.size > 0) await held.checkChildren([...plan.absentChildren]);
  plan.reused = plan.fromRepository.size;
  return plan;
}

/** The archive's own manifests (dir, oci-archive): each blob they require is in the tar, or left out. */
function planManifests(contents: ArchiveContents, plan: ImportPlan): void {
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
}

/** A tag in the request goes to the archive's one image; every tag must be valid. */
function applyTags(plan: ImportPlan, requestTag: string | undefined): void {
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
  held: HeldContent,
  repository: string,
  img: DockerImage,
  plan: ImportPlan,
): Promise<PlannedManifest> {
  const wanted = img.layers.filter((l) => !l.file && !l.foreign).map((l) => l.diffId);
  const known = wanted.length > 0 ? await held.layersByDiffId(wanted) : new Map<Digest, HeldLayer>();
  const missing = wanted.filter((d) => !known.has(d));
  if (missing.length > 0) {
    throw new BerthError(
      'BLOB_UNKNOWN',
      `${missing.length} layer(s) are neither in the archive nor in repository ${repository} (by diff ID): ${missing.join(', ')}`,
      { repository, missing },
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
