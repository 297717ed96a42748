// Test images made in code: random incompressible layers (an AES-CTR keystream, so that a layer can be made
// twice from its seed: once to hash it, once to write it), written as OCI layouts for skopeo, and as tars of a
// skopeo dir or a docker-archive for berth's archive upload.
import { createCipheriv, createHash, randomBytes } from 'node:crypto';
import { createWriteStream, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { once } from 'node:events';
import { join } from 'node:path';
import type { Writable } from 'node:stream';
import { MIB } from './stats.js';

export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
/** uncompressed: what skopeo detects random bytes as, so that --preserve-digests pushes them unchanged */
export const OCI_LAYER = 'application/vnd.oci.image.layer.v1.tar';

const ZEROS = Buffer.alloc(MIB);

/** A random layer: `size` bytes of the AES-128-CTR keystream of `seed` (16 bytes). */
export interface Layer {
  seed: Buffer;
  size: number;
  digest: string;
}

/** The bytes of a layer, in chunks of at most 1 MiB. */
export function* layerBytes(seed: Buffer, size: number): Generator<Buffer> {
  const cipher = createCipheriv('aes-128-ctr', seed, Buffer.alloc(16));
  for (let left = size; left > 0; left -= MIB) {
    yield cipher.update(left >= MIB ? ZEROS : ZEROS.subarray(0, left));
  }
}

/** A new random layer of `size` bytes (hashed once here; its bytes are made again when written). */
export function randomLayer(size: number): Layer {
  const seed = randomBytes(16);
  const h = createHash('sha256');
  for (const b of layerBytes(seed, size)) h.update(b);
  return { seed, size, digest: `sha256:${h.digest('hex')}` };
}

export const hex = (digest: string): string => digest.slice('sha256:'.length);
const sha = (b: Buffer | string) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

export interface ImageJson {
  config: Buffer;
  configDigest: string;
  manifest: Buffer;
  digest: string;
}

/** The config and OCI manifest of an image with these (uncompressed) layers. */
export function imageJson(layers: { digest: string; size: number }[], label = ''): ImageJson {
  const config = Buffer.from(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      config: { Labels: { 'berth.bench': label || randomBytes(6).toString('hex') } },
      rootfs: { type: 'layers', diff_ids: layers.map((l) => l.digest) },
    }),
  );
  const configDigest = sha(config);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: OCI_CONFIG, digest: configDigest, size: config.length },
      layers: layers.map((l) => ({ mediaType: OCI_LAYER, digest: l.digest, size: l.size })),
    }),
  );
  return { config, configDigest, manifest, digest: sha(manifest) };
}

async function write(out: Writable, chunk: Buffer): Promise<void> {
  if (!out.write(chunk)) await once(out, 'drain');
}

async function finish(out: Writable): Promise<void> {
  out.end();
  await once(out, 'finish');
}

async function writeLayerFile(path: string, layer: Layer): Promise<void> {
  const out = createWriteStream(path);
  for (const b of layerBytes(layer.seed, layer.size)) await write(out, b);
  await finish(out);
}

export interface LayoutImage {
  tag: string;
  layers: Layer[];
  json: ImageJson;
}

/**
 * Writes an OCI layout at `dir` holding one image per entry of `images` (each a list of layer sizes), tagged
 * t0, t1, …; returns the images (skopeo reference: oci:DIR:TAG).
 */
export async function writeLayout(dir: string, images: number[][]): Promise<LayoutImage[]> {
  const blobs = join(dir, 'blobs', 'sha256');
  mkdirSync(blobs, { recursive: true });
  writeFileSync(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  const out: LayoutImage[] = [];
  for (const [i, sizes] of images.entries()) {
    const layers = sizes.map((s) => randomLayer(s));
    for (const l of layers) {
      const tmp = join(blobs, `.tmp-${hex(l.digest)}`);
      await writeLayerFile(tmp, l);
      renameSync(tmp, join(blobs, hex(l.digest)));
    }
    const json = imageJson(layers);
    writeFileSync(join(blobs, hex(json.configDigest)), json.config);
    writeFileSync(join(blobs, hex(json.digest)), json.manifest);
    out.push({ tag: `t${i}`, layers, json });
  }
  writeFileSync(
    join(dir, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: out.map((img) => ({
        mediaType: OCI_MANIFEST,
        digest: img.json.digest,
        size: img.json.manifest.length,
        annotations: { 'org.opencontainers.image.ref.name': img.tag },
      })),
    }),
  );
  return out;
}

// --- tar -------------------------------------------------------------------------------------------------

/** A ustar header for a regular file (names here are short: no prefix field needed). */
function tarHeader(name: string, size: number): Buffer {
  if (Buffer.byteLength(name) > 100) throw new Error(`tar entry name too long: ${name}`);
  const h = Buffer.alloc(512);
  const field = (off: number, len: number, value: string) => h.write(value, off, len, 'utf8');
  const octal = (off: number, len: number, n: number) =>
    field(off, len, n.toString(8).padStart(len - 1, '0') + '\0');
  field(0, 100, name);
  octal(100, 8, 0o644);
  octal(108, 8, 0);
  octal(116, 8, 0);
  octal(124, 12, size);
  octal(136, 12, 0);
  field(148, 8, '        ');
  field(156, 1, '0');
  field(257, 6, 'ustar\0');
  field(263, 2, '00');
  let sum = 0;
  for (const b of h) sum += b;
  field(148, 8, sum.toString(8).padStart(6, '0') + '\0 ');
  return h;
}

export interface TarEntry {
  name: string;
  size: number;
  bytes: () => Iterable<Buffer>;
}

export const bufferEntry = (name: string, data: Buffer | string): TarEntry => {
  const b = Buffer.from(data);
  return { name, size: b.length, bytes: () => [b] };
};

export const layerEntry = (name: string, l: Layer): TarEntry => ({
  name,
  size: l.size,
  bytes: () => layerBytes(l.seed, l.size),
});

/** Writes a plain tar of `entries` to `path`. */
export async function writeTar(path: string, entries: TarEntry[]): Promise<void> {
  const out = createWriteStream(path, { highWaterMark: 4 * MIB });
  for (const e of entries) {
    await write(out, tarHeader(e.name, e.size));
    let n = 0;
    for (const b of e.bytes()) {
      n += b.length;
      await write(out, b);
    }
    if (n !== e.size) throw new Error(`tar entry ${e.name}: ${n} bytes, header says ${e.size}`);
    if (n % 512) await write(out, Buffer.alloc(512 - (n % 512)));
  }
  await write(out, Buffer.alloc(1024));
  await finish(out);
}

/** A tar of `skopeo copy … dir:` output (version 1.1) of one image with these layers. */
export function dirArchiveEntries(layers: Layer[]): { entries: TarEntry[]; json: ImageJson } {
  const json = imageJson(layers);
  return {
    json,
    entries: [
      bufferEntry('version', 'Directory Transport Version: 1.1\n'),
      bufferEntry(hex(json.configDigest), json.config),
      ...layers.map((l) => layerEntry(hex(l.digest), l)),
      bufferEntry('manifest.json', json.manifest),
    ],
  };
}

/** A docker-archive (older layout: <diffid>.tar layers, <hex>.json config) of one image with these layers. */
export function dockerArchiveEntries(layers: Layer[], repoTag: string): TarEntry[] {
  const config = Buffer.from(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      config: { Labels: { 'berth.bench': randomBytes(6).toString('hex') } },
      rootfs: { type: 'layers', diff_ids: layers.map((l) => l.digest) },
    }),
  );
  const configName = `${hex(sha(config))}.json`;
  const manifest = JSON.stringify([
    { Config: configName, RepoTags: [repoTag], Layers: layers.map((l) => `${hex(l.digest)}.tar`) },
  ]);
  return [
    bufferEntry(configName, config),
    ...layers.map((l) => layerEntry(`${hex(l.digest)}.tar`, l)),
    bufferEntry('manifest.json', manifest),
  ];
}

/** Small random blobs held in memory (orphans for the cleanup case). */
export function smallBlobs(n: number, size: number): { digest: string; bytes: Buffer }[] {
  return Array.from({ length: n }, () => {
    const bytes = randomBytes(size);
    return { digest: sha(bytes), bytes };
  });
}
