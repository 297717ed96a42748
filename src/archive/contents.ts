// What an archive holds, whatever its format: manifests with their bytes, docker-archive images, blob files.
import { algorithmOf, DigestCounter, hashOf, type Digest } from '../core/digest.js';
import type { Descriptor, ParsedManifest } from '../core/manifests.js';
import { parseManifest, MAX_MANIFEST_BYTES } from '../core/manifests.js';
import { BerthError } from '../core/errors.js';
import type { BlobStore } from '../storage/blob-store.js';
import { readStagedFile, resolveFile, stopIfGone, type StagedArchive, type StagedFile } from './staging.js';
import { archiveInvalid, type ArchiveFormat } from './layout.js';

/** A manifest carried by the archive, with its exact bytes. */
export interface ArchiveManifest {
  digest: Digest;
  size: number;
  parsed: ParsedManifest;
  file: StagedFile;
}

/** A docker-archive image: a config and layers, for which berth writes the manifest. */
export interface DockerImage {
  config: StagedFile;
  configBytes: Buffer;
  layers: { diffId: Digest; file?: StagedFile; foreign?: Descriptor }[];
  tags: string[];
}

export interface ArchiveContents {
  format: ArchiveFormat;
  /** the archive's top-level manifests (dir, oci-archive) and the tags it gives them */
  roots: { digest: Digest; tags: string[] }[];
  /** every manifest the archive carries, children of indexes included */
  manifests: Map<Digest, ArchiveManifest>;
  /** child manifests an index names that the archive leaves out */
  absentManifests: Set<Digest>;
  docker: DockerImage[];
  /** the archive's file holding a blob, if it has one */
  blob(digest: Digest): StagedFile | undefined;
}

/**
 * Checks that every file or link named like a blob (by its digest) holds exactly those bytes. Staging hashed each
 * file with sha256; a file named by a sha512 digest is read once more and hashed with sha512.
 */
export async function checkBlobNames(
  store: BlobStore,
  staged: StagedArchive,
  digestOfName: (name: string) => Digest | undefined,
): Promise<void> {
  for (const name of [...staged.files.keys(), ...staged.links.keys()]) {
    stopIfGone(staged.signal);
    const named = digestOfName(name);
    if (named === undefined) continue;
    const f = resolveFile(staged, name);
    if (!f)
      archiveInvalid(
        `the archive's link "${name}" points to "${staged.links.get(name)}", which it does not hold`,
      );
    const actual =
      algorithmOf(named) === 'sha256' ? f.digest : await hashFile(store, f, named, staged.signal);
    if (actual !== named) {
      throw new BerthError(
        'DIGEST_INVALID',
        `the archive's file "${name}" does not match its name: its content has digest ${actual}`,
      );
    }
  }
}

async function hashFile(
  store: BlobStore,
  f: StagedFile,
  like: Digest,
  signal: AbortSignal | undefined,
): Promise<Digest> {
  const counter = new DigestCounter(algorithmOf(like));
  for await (const c of await store.reader(f.key)) {
    stopIfGone(signal);
    counter.update(c as Buffer);
  }
  return counter.digest();
}

/**
 * Loads a manifest and, for an index, its children, recursively. `fileOf` finds the file that holds a digest
 * in this archive's layout.
 */
export async function loadManifestTree(
  store: BlobStore,
  file: StagedFile,
  declaredType: string | undefined,
  fileOf: (d: Digest) => StagedFile | undefined,
  into: Map<Digest, ArchiveManifest>,
  absent: Set<Digest>,
  depth = 0,
  /** the digest the manifest is named by (in index.json or its parent index): its algorithm is the one used */
  named?: Digest,
): Promise<ArchiveManifest> {
  if (depth > 8) archiveInvalid('manifest indexes are nested more than 8 deep');
  const bytes = await readStagedFile(store, file, MAX_MANIFEST_BYTES, 'a manifest');
  const parsed = parseManifest(bytes, declaredType, `manifest ${file.name}`);
  const algorithm = named ? algorithmOf(named) : 'sha256';
  const digest = algorithm === 'sha256' ? file.digest : hashOf(algorithm, bytes);
  // Every file is verified against the digest that names it, whatever the layout calls the file.
  if (named !== undefined && digest !== named) {
    throw new BerthError(
      'DIGEST_INVALID',
      `the archive's file "${file.name}" does not match the digest ${named} that names it: its content has digest ${digest}`,
    );
  }
  const m: ArchiveManifest = { digest, size: file.size, parsed, file };
  into.set(m.digest, m);
  for (const child of parsed.manifests) {
    if (into.has(child.digest)) continue;
    const f = fileOf(child.digest);
    if (!f) {
      absent.add(child.digest);
      continue;
    }
    if (f.size !== child.size) {
      throw new BerthError(
        'SIZE_INVALID',
        `manifest ${child.digest} is ${f.size} bytes in the archive but ${child.size} in the index that names it`,
      );
    }
    await loadManifestTree(store, f, child.mediaType, fileOf, into, absent, depth + 1, child.digest);
  }
  return m;
}
