// The image layouts an archive may hold (skopeo dir, docker-archive, OCI layout): which one it is, where its files are.
import { algorithmOf, digestOfHex, hexOf, type Digest } from '../core/digest.js';
import { BerthError } from '../core/errors.js';
import { parseJson, type Descriptor } from '../core/manifests.js';

/** The three layouts, as the server answers them and the CLI reads them. */
export type ArchiveFormat = 'dir' | 'docker-archive' | 'oci-archive';

/** What telling the layouts apart needs of an archive (a staged upload, a tar file, a folder). */
export interface LayoutProbe {
  /** whether the archive holds a top-level entry of this name */
  has(name: string): boolean;
  /** manifest.json's bytes; asked only when `has('manifest.json')` */
  manifestJson(): Promise<Buffer>;
  /** every entry's name, to tell where a manifest is when none is at the top level */
  names(): Iterable<string>;
}

export type DetectedLayout =
  | { format: 'docker-archive'; manifestJson: Buffer; list: unknown[] }
  | { format: 'dir'; manifestJson: Buffer }
  | { format: 'oci-archive' };

export function archiveInvalid(message: string): never {
  throw new BerthError('ARCHIVE_INVALID', message);
}

/**
 * The one detection order, for server and CLI. manifest.json first: a list is a docker-archive (both the older
 * layout and Docker 25+'s, which also has index.json and oci-layout), an object is a skopeo dir; index.json
 * without manifest.json is an OCI layout (oci-archive).
 */
export async function detectLayout(probe: LayoutProbe): Promise<DetectedLayout> {
  if (probe.has('manifest.json')) {
    const manifestJson = await probe.manifestJson();
    const json = parseJson(manifestJson, 'manifest.json');
    if (Array.isArray(json)) return { format: 'docker-archive', manifestJson, list: json };
    return { format: 'dir', manifestJson };
  }
  if (probe.has('index.json')) return { format: 'oci-archive' };
  const nested = nestedManifest(probe.names());
  if (nested !== undefined) {
    const folder = nested.slice(0, nested.lastIndexOf('/'));
    archiveInvalid(
      `the archive holds no manifest at its top level, but it has ${nested}: it was made of the folder ` +
        `${folder} rather than of what is in it; make it again with: tar -C ${folder} -cf image.tar .`,
    );
  }
  archiveInvalid(
    'the archive holds no manifest: found neither index.json (an OCI layout, oci-archive) nor manifest.json ' +
      '(a skopeo dir or a docker-archive) at its top level',
  );
}

/** The least deep manifest.json (else index.json) below the top level, if any. */
function nestedManifest(names: Iterable<string>): string | undefined {
  let best: string | undefined;
  const depth = (n: string): number => n.split('/').length;
  const rank = (n: string): number => depth(n) * 2 + (n.endsWith('/manifest.json') ? 0 : 1);
  for (const n of names) {
    if (!/\/(manifest|index)\.json$/.test(n)) continue;
    if (best === undefined || rank(n) < rank(best)) best = n;
  }
  return best;
}

/** An image of a docker-archive's manifest.json. */
export interface DockerEntry {
  Config: string;
  RepoTags?: string[] | null;
  Layers: string[];
  LayerSources?: Record<string, Descriptor>;
}

/** The images a docker-archive's manifest.json lists, checked for the fields berth reads. */
export function dockerEntries(json: unknown): DockerEntry[] {
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
    return o as unknown as DockerEntry;
  });
}

/** Where an OCI layout keeps a blob or manifest: blobs/<algorithm>/<hex> (sha256 or sha512). */
export const ociBlobPath = (d: Digest): string => `blobs/${algorithmOf(d)}/${hexOf(d)}`;

/** The digest an OCI layout's blob path names, if it is one. */
export function ociBlobDigest(name: string): Digest | undefined {
  const m = /^blobs\/(sha256|sha512)\/([a-f0-9]+)$/.exec(name);
  const d = m ? digestOfHex(m[2]!) : undefined;
  return d && algorithmOf(d) === m![1] ? d : undefined;
}

/** Where a skopeo dir keeps an instance manifest of a multi-image dir. */
export const dirManifestPath = (d: Digest): string => `${hexOf(d)}.manifest.json`;

/** Where a skopeo dir keeps a blob: `<hex>` (version 1.1) or `<hex>.tar` (version 1.0). */
export const dirBlobPaths = (d: Digest): [string, string] => [hexOf(d), `${hexOf(d)}.tar`];

/** docker-archive files whose names say their digest: `<hex>.tar`, `<hex>.json` (older layout), OCI blob paths. */
export function dockerBlobDigest(name: string): Digest | undefined {
  const m = /^([a-f0-9]{64})\.(tar|json)$/.exec(name);
  if (m) return digestOfHex(m[1]!);
  return ociBlobDigest(name);
}
