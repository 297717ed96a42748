// Reads a tar of `skopeo copy … dir:` output: manifest.json, version, blobs named <hex> (1.1) or <hex>.tar (1.0).
import type { Digest } from '../core/digest.js';
import { digestOfHex } from '../core/digest.js';
import type { BlobStore } from '../storage/blob-store.js';
import { readStagedFile, resolveFile, type StagedArchive, type StagedFile } from './staging.js';
import { checkBlobNames, loadManifestTree, type ArchiveContents, type ArchiveManifest } from './contents.js';
import { archiveInvalid, dirBlobPaths, dirManifestPath } from './layout.js';

export async function readDirArchive(store: BlobStore, staged: StagedArchive): Promise<ArchiveContents> {
  const versionFile = staged.files.get('version');
  let suffix: '' | '.tar' | undefined;
  if (versionFile) {
    const text = (await readStagedFile(store, versionFile, 1024, 'the version file')).toString('utf8').trim();
    const m = /^Directory Transport Version: (\d+\.\d+)$/.exec(text);
    if (!m)
      archiveInvalid(
        `the version file says "${text.slice(0, 80)}"; expected "Directory Transport Version: 1.1"`,
      );
    if (m[1] === '1.0') suffix = '.tar';
    else if (m[1] === '1.1') suffix = '';
    else archiveInvalid(`directory transport version ${m[1]} is not supported (1.0 and 1.1 are)`);
  }
  const blobDigest = (name: string) => {
    // an instance manifest of a multi-image dir, <hex>.manifest.json, is named by its digest too
    const instance = /^([a-f0-9]+)\.manifest\.json$/.exec(name);
    if (instance) return digestOfHex(instance[1]!);
    const bare = suffix === '.tar' || suffix === undefined ? name.replace(/\.tar$/, '') : name;
    if (suffix === '' && name.endsWith('.tar')) return undefined;
    return digestOfHex(bare);
  };
  await checkBlobNames(store, staged, blobDigest);
  const blob = (d: Digest): StagedFile | undefined => {
    const [bare, tar] = dirBlobPaths(d);
    if (suffix === '') return resolveFile(staged, bare);
    if (suffix === '.tar') return resolveFile(staged, tar);
    return resolveFile(staged, bare) ?? resolveFile(staged, tar);
  };
  const manifestFile = resolveFile(staged, 'manifest.json');
  if (!manifestFile) archiveInvalid('the archive has no manifest.json');
  const manifests = new Map<Digest, ArchiveManifest>();
  const absent = new Set<Digest>();
  // Instances of a multi-image dir are stored as <hex>.manifest.json.
  const manifestOf = (d: Digest) => resolveFile(staged, dirManifestPath(d)) ?? blob(d);
  const root = await loadManifestTree(store, manifestFile, undefined, manifestOf, manifests, absent);
  return {
    format: 'dir',
    roots: [{ digest: root.digest, tags: [] }],
    manifests,
    absentManifests: absent,
    docker: [],
    blob,
  };
}
