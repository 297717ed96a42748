// Reads a docker-archive (`docker save`, `skopeo copy … docker-archive:`): manifest.json's Config, Layers, RepoTags.
import { BerthError } from '../core/errors.js';
import { isHex64 } from '../core/digest.js';
import { configDiffIds, parseJson, type Descriptor } from '../core/manifests.js';
import { isForeignLayer } from '../core/media-types.js';
import { tagOfArchiveReference } from '../core/references.js';
import type { BlobStore } from '../storage/blob-store.js';
import { readStagedFile, resolveFile, type StagedArchive } from './staging.js';
import { archiveInvalid, checkBlobNames, type ArchiveContents, type DockerImage } from './contents.js';
import { ociBlobHex } from './oci-archive.js';

const MAX_CONFIG_BYTES = 8 * 1024 * 1024;

/** Files whose names say their digest: `<hex>.tar`, `<hex>.json` (the older layout) and `blobs/sha256/<hex>`. */
function dockerBlobHex(name: string): string | undefined {
  const m = /^([a-f0-9]{64})\.(tar|json)$/.exec(name);
  if (m && isHex64(m[1]!)) return m[1];
  return ociBlobHex(name);
}

interface ManifestEntry {
  Config: string;
  RepoTags?: string[] | null;
  Layers: string[];
  LayerSources?: Record<string, Descriptor>;
}

function entries(json: unknown): ManifestEntry[] {
  if (!Array.isArray(json)) archiveInvalid('manifest.json of a docker-archive must be a list');
  if (json.length === 0) archiveInvalid('manifest.json lists no images');
  return json.map((e, i) => {
    const o = e as Record<string, unknown>;
    if (typeof o !== 'object' || o === null) archiveInvalid(`manifest.json[${i}] must be an object`);
    if (typeof o.Config !== 'string') archiveInvalid(`manifest.json[${i}].Config is missing`);
    if (!Array.isArray(o.Layers) || !o.Layers.every((l) => typeof l === 'string')) {
      archiveInvalid(`manifest.json[${i}].Layers must be a list of file names`);
    }
    const tags = o.RepoTags;
    if (
      tags !== undefined &&
      tags !== null &&
      (!Array.isArray(tags) || !tags.every((t) => typeof t === 'string'))
    ) {
      archiveInvalid(`manifest.json[${i}].RepoTags must be a list of strings`);
    }
    return o as unknown as ManifestEntry;
  });
}

export async function readDockerArchive(
  store: BlobStore,
  staged: StagedArchive,
  manifestJson: Buffer,
): Promise<ArchiveContents> {
  checkBlobNames(staged, dockerBlobHex);
  const images: DockerImage[] = [];
  for (const [i, e] of entries(parseJson(manifestJson, 'manifest.json')).entries()) {
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
