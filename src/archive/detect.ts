// The server's archive reader: tells the staged archive's layout (layout.ts) and hands it to the matching reader.
import { MAX_MANIFEST_BYTES } from '../core/manifests.js';
import type { BlobStore } from '../storage/blob-store.js';
import { readStagedFile, type StagedArchive } from './staging.js';
import type { ArchiveContents } from './contents.js';
import { detectLayout } from './layout.js';
import { readDirArchive } from './dir-archive.js';
import { readDockerArchive } from './docker-archive.js';
import { readOciArchive } from './oci-archive.js';

export async function readArchive(store: BlobStore, staged: StagedArchive): Promise<ArchiveContents> {
  const layout = await detectLayout({
    has: (name) => staged.files.has(name),
    manifestJson: () =>
      readStagedFile(store, staged.files.get('manifest.json')!, MAX_MANIFEST_BYTES, 'manifest.json'),
    names: () => staged.files.keys(),
  });
  switch (layout.format) {
    case 'docker-archive':
      return readDockerArchive(store, staged, layout.list);
    case 'dir':
      return readDirArchive(store, staged);
    case 'oci-archive':
      return readOciArchive(store, staged);
  }
}
