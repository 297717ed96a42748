// Tells the three archive formats apart and hands the staged archive to the matching reader.
import { MAX_MANIFEST_BYTES, parseJson } from '../core/manifests.js';
import type { BlobStore } from '../storage/blob-store.js';
import { readStagedFile, type StagedArchive } from './staging.js';
import { archiveInvalid, type ArchiveContents } from './contents.js';
import { readDirArchive } from './dir-archive.js';
import { readDockerArchive } from './docker-archive.js';
import { readOciArchive } from './oci-archive.js';

/**
 * manifest.json holding a list: docker-archive (both the older layout and Docker 25+'s, which also has an
 * index.json); manifest.json holding an object: a skopeo dir; index.json alone: an oci-archive.
 */
export async function readArchive(store: BlobStore, staged: StagedArchive): Promise<ArchiveContents> {
  const manifestFile = staged.files.get('manifest.json');
  if (manifestFile) {
    const bytes = await readStagedFile(store, manifestFile, MAX_MANIFEST_BYTES, 'manifest.json');
    const json = parseJson(bytes, 'manifest.json');
    if (Array.isArray(json)) return readDockerArchive(store, staged, bytes);
    return readDirArchive(store, staged);
  }
  if (staged.files.has('index.json')) return readOciArchive(store, staged);
  archiveInvalid(
    'the archive holds no manifest: expected manifest.json (a skopeo dir or a docker-archive) or index.json ' +
      '(an oci-archive) at its top level',
  );
}
