// Reads an oci-archive: oci-layout, index.json, blobs/<sha256|sha512>/<hex>; tags from org.opencontainers.image.ref.name.
import type { Digest } from '../core/digest.js';
import { parseManifest, MAX_MANIFEST_BYTES } from '../core/manifests.js';
import { tagOfArchiveReference } from '../core/references.js';
import type { BlobStore } from '../storage/blob-store.js';
import { readStagedFile, resolveFile, type StagedArchive } from './staging.js';
import { checkBlobNames, loadManifestTree, type ArchiveContents, type ArchiveManifest } from './contents.js';
import { archiveInvalid, ociBlobDigest, ociBlobPath } from './layout.js';

export const REF_NAME = 'org.opencontainers.image.ref.name';

export async function readOciArchive(store: BlobStore, staged: StagedArchive): Promise<ArchiveContents> {
  if (!staged.files.has('oci-layout')) archiveInvalid('the archive has index.json but no oci-layout file');
  await checkBlobNames(store, staged, ociBlobDigest);
  const blob = (d: Digest) => resolveFile(staged, ociBlobPath(d));
  const indexFile = staged.files.get('index.json')!;
  const indexBytes = await readStagedFile(store, indexFile, MAX_MANIFEST_BYTES, 'index.json');
  const index = parseManifest(indexBytes, 'application/vnd.oci.image.index.v1+json', 'index.json');
  if (index.kind !== 'index') archiveInvalid('index.json is not an image index');
  const manifests = new Map<Digest, ArchiveManifest>();
  const absent = new Set<Digest>();
  const roots = new Map<Digest, string[]>();
  for (const [i, d] of index.manifests.entries()) {
    const f = blob(d.digest);
    if (!f)
      archiveInvalid(`index.json names manifest ${d.digest} (entry ${i}), which the archive does not hold`);
    if (f.size !== d.size)
      archiveInvalid(`index.json gives manifest ${d.digest} the size ${d.size}, but it is ${f.size} bytes`);
    await loadManifestTree(store, f, d.mediaType, blob, manifests, absent, 0, d.digest);
    const tags = roots.get(d.digest) ?? [];
    const ref = d.annotations?.[REF_NAME];
    const tag = ref === undefined ? undefined : tagOfArchiveReference(ref);
    if (tag !== undefined) tags.push(tag);
    roots.set(d.digest, tags);
  }
  if (roots.size === 0) archiveInvalid('index.json lists no manifests');
  return {
    format: 'oci-archive',
    roots: [...roots].map(([digest, tags]) => ({ digest, tags })),
    manifests,
    absentManifests: absent,
    docker: [],
    blob,
  };
}
