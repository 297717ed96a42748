// Reads a docker-archive (`docker save`, `skopeo copy … docker-archive:`): manifest.json's Config, Layers, RepoTags.
import { BerthError } from '../core/errors.js';
import { configDiffIds } from '../core/manifests.js';
import { isForeignLayer } from '../core/media-types.js';
import { tagOfArchiveReference } from '../core/references.js';
import type { BlobStore } from '../storage/blob-store.js';
import { readStagedFile, resolveFile, type StagedArchive } from './staging.js';
import { checkBlobNames, type ArchiveContents, type DockerImage } from './contents.js';
import { archiveInvalid, dockerBlobDigest, dockerEntries } from './layout.js';

const MAX_CONFIG_BYTES = 8 * 1024 * 1024;

export async function readDockerArchive(
  store: BlobStore,
  staged: StagedArchive,
  /** manifest.json, a list */
  list: unknown[],
): Promise<ArchiveContents> {
  await checkBlobNames(store, staged, dockerBlobDigest);
  const images: DockerImage[] = [];
  for (const [i, e] of dockerEntries(list).entries()) {
    const config = resolveFile(staged, e.Config);
    if (!config)
      archiveInvalid(`manifest.json[${i}].Config names "${e.Config}", which the archive does not hold`);
    const configBytes = await readStagedFile(store, config, MAX_CONFIG_BYTES, 'an image config');
    const diffIds = configDiffIds(configBytes, `image config ${e.Config}`);
    if (diffIds.length !== e.Layers.length) {
      archiveInvalid(
        `manifest.json[${i}] lists ${e.Layers.length} layers but its config has ${diffIds.length} diff IDs`,
      );
    }
    const layers = e.Layers.map((path, j) => {
      const diffId = diffIds[j]!;
      const source = e.LayerSources?.[diffId];
      if (source && isForeignLayer(source.mediaType)) return { diffId, foreign: source };
      const file = resolveFile(staged, path);
      if (file && file.digest !== diffId) {
        throw new BerthError(
          'DIGEST_INVALID',
          `layer "${path}" has digest ${file.digest}, but the config gives its diff ID as ${diffId}`,
        );
      }
      return { diffId, file };
    });
    const tags = (e.RepoTags ?? [])
      .map((t) => tagOfArchiveReference(t))
      .filter((t): t is string => t !== undefined);
    images.push({ config, configBytes, layers, tags });
  }
  return {
    format: 'docker-archive',
    roots: [],
    manifests: new Map(),
    absentManifests: new Set(),
    docker: images,
    blob: () => undefined,
  };
}
