// Lists the layer files of an image archive the CLI reads (a tar file, a folder) and the digests they stand for.
import { posix } from 'node:path';
import type { Digest } from '../core/digest.js';
import { configDiffIds, parseManifest, type Descriptor } from '../core/manifests.js';
import { isForeignLayer } from '../core/media-types.js';
import {
  archiveInvalid as invalid,
  detectLayout,
  dirBlobPaths,
  dirManifestPath,
  dockerEntries,
  ociBlobPath,
  type ArchiveFormat,
} from './layout.js';

/** Small JSON files (manifests, indexes, configs) are read whole; nothing larger is. */
export const MAX_JSON_BYTES = 4 * 1024 * 1024;

export interface ArchiveEntry {
  /** normalized: no leading "./" or "/", no trailing "/" */
  name: string;
  type: 'file' | 'symlink' | 'other';
  size: number;
  linkname?: string;
}

/** What finding layers needs of an archive or directory: its entries, and the bytes of its small JSON files. */
export interface ArchiveView {
  entries: ReadonlyMap<string, ArchiveEntry>;
  /** The bytes of a regular file of at most MAX_JSON_BYTES that looks like JSON; otherwise undefined. */
  readJson(name: string): Promise<Buffer | undefined>;
}

export interface LayerRef {
  /** the digest the destination repository knows the layer by: its blob digest, or its diff ID (docker-archive) */
  digest: Digest;
  /** the entries that hold the layer: its file, and for docker-archive a symlink and its target */
  paths: string[];
  foreign: boolean;
}

export interface ArchiveLayers {
  format: ArchiveFormat;
  layers: LayerRef[];
  /** manifests, indexes and configs: never left out, even when a layer shares their digest */
  metadata: Set<string>;
}

export function normalizeName(name: string): string {
  const n = posix
    .normalize(name)
    .replace(/^(?:\.\/|\/)+/, '')
    .replace(/\/+$/, '');
  return n === '.' ? '' : n;
}

/** The target of a symlink entry as an entry name ("a/layer.tar" → "../b.tar" gives "b.tar"). */
export function symlinkTarget(entry: ArchiveEntry): string | undefined {
  if (entry.type !== 'symlink' || !entry.linkname) return undefined;
  return normalizeName(posix.join(posix.dirname(entry.name), entry.linkname));
}

/** True for bytes whose first non-blank character opens a JSON object or array. */
export function looksLikeJson(bytes: Buffer): boolean {
  const first = bytes.toString('latin1', 0, Math.min(bytes.length, 64)).trimStart()[0];
  return first === '{' || first === '[';
}

/** Detects the format as the server does (archive/layout.ts) and lists every layer its manifests refer to. */
export async function findLayers(view: ArchiveView): Promise<ArchiveLayers> {
  const layout = await detectLayout({
    has: (name) => view.entries.has(name),
    manifestJson: async () =>
      (await view.readJson('manifest.json')) ?? invalid('manifest.json is not a JSON file of at most 4 MiB'),
    names: () => view.entries.keys(),
  });
  switch (layout.format) {
    case 'docker-archive':
      return dockerLayers(view, layout.list);
    case 'dir':
      return dirLayers(view, layout.manifestJson);
    case 'oci-archive':
      return ociLayers(view);
  }
}

interface Layout {
  /** where a child manifest of an index is stored */
  manifestPath(d: Digest): string;
  /** where a config or layer blob is stored */
  blobPath(d: Digest): string;
}

/** Walks a manifest and the manifests it reaches (skopeo dir and OCI layout share this). */
async function walkManifests(
  view: ArchiveView,
  layout: Layout,
  root: Buffer,
  rootName: string,
  out: ArchiveLayers,
) {
  const seen = new Set<string>();
  const visit = async (bytes: Buffer, what: string, declaredType?: string): Promise<void> => {
    const m = parseManifest(bytes, declaredType, what);
    if (m.config) out.metadata.add(layout.blobPath(m.config.digest));
    for (const l of m.layers) {
      out.layers.push({
        digest: l.digest,
        paths: [layout.blobPath(l.digest)],
        foreign: isForeignLayer(l.mediaType),
      });
    }
    for (const child of m.manifests) await visitChild(child);
  };
  const visitChild = async (d: Descriptor): Promise<void> => {
    if (seen.has(d.digest)) return;
    seen.add(d.digest);
    const path = layout.manifestPath(d.digest);
    out.metadata.add(path);
    const bytes = await view.readJson(path);
    if (bytes) await visit(bytes, path, d.mediaType); // a missing manifest is the server's to report
  };
  await visit(root, rootName);
}

/** `skopeo copy … dir:`: manifest.json, blobs named by hex (`<hex>.tar` in version 1.0), `<hex>.manifest.json`. */
async function dirLayers(view: ArchiveView, manifest: Buffer): Promise<ArchiveLayers> {
  const out: ArchiveLayers = { format: 'dir', layers: [], metadata: new Set(['manifest.json', 'version']) };
  const layout: Layout = {
    manifestPath: dirManifestPath,
    blobPath: (d) => {
      const [bare, tar] = dirBlobPaths(d);
      return view.entries.has(bare) ? bare : tar;
    },
  };
  await walkManifests(view, layout, manifest, 'manifest.json', out);
  return out;
}

/** OCI layout (oci-archive): index.json, blobs/sha256/<hex>. */
async function ociLayers(view: ArchiveView): Promise<ArchiveLayers> {
  const out: ArchiveLayers = {
    format: 'oci-archive',
    layers: [],
    metadata: new Set(['index.json', 'oci-layout']),
  };
  const index =
    (await view.readJson('index.json')) ?? invalid('index.json is not a JSON file of at most 4 MiB');
  const layout = { manifestPath: ociBlobPath, blobPath: ociBlobPath };
  await walkManifests(view, layout, index, 'index.json', out);
  return out;
}

/** docker-archive (`docker save`): manifest.json lists Config and Layers paths; a layer's digest is its diff ID. */
async function dockerLayers(view: ArchiveView, items: unknown[]): Promise<ArchiveLayers> {
  const out: ArchiveLayers = { format: 'docker-archive', layers: [], metadata: new Set(['manifest.json']) };
  for (const [i, { Config, Layers, LayerSources }] of dockerEntries(items).entries()) {
    const what = `manifest.json[${i}]`;
    const configPath = normalizeName(Config);
    out.metadata.add(configPath);
    const config =
      (await view.readJson(configPath)) ??
      invalid(`${what}.Config "${Config}" is not a JSON file in the archive`);
    const diffIds = configDiffIds(config, configPath);
    if (diffIds.length !== Layers.length) {
      invalid(
        `${what} lists ${Layers.length} layers but its config ${configPath} has ${diffIds.length} diff IDs`,
      );
    }
    const sources: Record<string, { mediaType?: unknown }> = LayerSources ?? {};
    for (const [j, layer] of Layers.entries()) {
      const digest = diffIds[j] as Digest;
      const path = normalizeName(layer);
      const entry = view.entries.get(path);
      const target = entry && symlinkTarget(entry);
      const mediaType = sources[digest]?.mediaType;
      out.layers.push({
        digest,
        paths: target ? [path, target] : [path],
        foreign: typeof mediaType === 'string' && isForeignLayer(mediaType),
      });
    }
  }
  return out;
}

/** The digests worth asking the server about: layers the archive holds bytes for, foreign ones excepted. */
export function layerDigestsHeld(view: ArchiveView, found: ArchiveLayers): Digest[] {
  const held = found.layers.filter(
    (l) => !l.foreign && l.paths.some((p) => view.entries.get(p)?.type === 'file'),
  );
  return [...new Set(held.map((l) => l.digest))];
}
