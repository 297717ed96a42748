// Large test content generated as streams (never whole in memory): random MiBs stamped apart, a skopeo-dir-style
// archive of one big layer, and a docker-archive (`docker load` input) of images sharing layers.
import { createHash, randomBytes } from 'node:crypto';
import tar from 'tar-stream';
import type { Readable } from 'node:stream';

const MIB = 1024 * 1024;

/**
 * `bytes` bytes as MiB chunks of `block` (one random MiB), each stamped apart with `seed` and its number in its
 * first 8 bytes: content that does not compress, made as it is read.
 */
export function* stampedMiBs(block: Buffer, seed: number, bytes: number): Generator<Buffer> {
  for (let n = 0, left = bytes; left > 0; n++, left -= MIB) {
    const b = Buffer.from(block.subarray(0, Math.min(left, MIB)));
    if (b.length >= 8) {
      b.writeUInt32BE(seed, 0);
      b.writeUInt32BE(n, 4);
    }
    yield b;
  }
}

/** Returns the tar stream; `done` resolves with the manifest digest once the stream has been produced. */
export function bigDirArchive(size: number): { stream: Readable; done: Promise<string> } {
  const pack = tar.pack();
  const done = (async () => {
    const hash = createHash('sha256');
    const block = randomBytes(1024 * 1024);
    const entry = pack.entry({ name: 'layer', size });
    let left = size;
    let n = 0;
    while (left > 0) {
      const chunk = Buffer.from(block.subarray(0, Math.min(left, block.length)));
      chunk.writeUInt32BE(n++, 0); // every MiB differs
      hash.update(chunk);
      left -= chunk.length;
      if (!entry.write(chunk)) await new Promise<void>((r) => entry.once('drain', () => r()));
    }
    const finished = new Promise<void>((r) => entry.once('finish', () => r()));
    entry.end(undefined);
    await finished;
    const layerDigest = `sha256:${hash.digest('hex')}`;
    // the layer went in under a temporary name; a dir archive names it by digest, so the manifest says so and
    // the file is renamed through a hard link entry
    const config = Buffer.from(
      JSON.stringify({
        architecture: 'amd64',
        os: 'linux',
        rootfs: { type: 'layers', diff_ids: [layerDigest] },
      }),
    );
    const configDigest = `sha256:${createHash('sha256').update(config).digest('hex')}`;
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: {
          mediaType: 'application/vnd.oci.image.config.v1+json',
          digest: configDigest,
          size: config.length,
        },
        layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: layerDigest, size }],
      }),
    );
    pack.entry({ name: layerDigest.slice(7), type: 'link', linkname: 'layer' });
    pack.entry({ name: configDigest.slice(7) }, config);
    pack.entry({ name: 'version' }, 'Directory Transport Version: 1.1\n');
    pack.entry({ name: 'manifest.json' }, manifest);
    pack.finalize();
    return `sha256:${createHash('sha256').update(manifest).digest('hex')}`;
  })();
  return { stream: pack as unknown as Readable, done };
}

/** Writes `chunk` to a tar-stream entry (or pack), waiting while it is full. */
async function put(
  to: { write(c: Buffer): boolean; once(e: 'drain', f: () => void): unknown },
  chunk: Buffer,
) {
  if (!to.write(chunk)) await new Promise<void>((r) => to.once('drain', () => r()));
}

/** A layer of a docker-archive: a tar of the one file `file` holding `bytes` random bytes. */
export interface ArchiveLayer {
  file: string;
  bytes: number;
}

/** An image of a docker-archive: its RepoTag and its layers (indexes into the archive's layers, base first). */
export interface ArchiveImage {
  tag: string;
  layers: number[];
}

/**
 * A docker-archive of `images` (one manifest.json entry each; a layer two images name is in the archive once),
 * generated as a stream. `done` resolves once the stream has been produced with each layer's diff ID (the sha256
 * of its tar) and each image's ID (the sha256 of its config).
 */
export function bigDockerArchive(
  layers: ArchiveLayer[],
  images: ArchiveImage[],
): { stream: Readable; done: Promise<{ diffIds: string[]; ids: string[] }> } {
  const pack = tar.pack();
  const done = (async () => {
    const block = randomBytes(MIB);
    const diffIds: string[] = [];
    for (const [i, layer] of layers.entries()) {
      // the layer's own tar (header, the file padded to 512 bytes, the 1024-byte end), streamed into its entry
      const inner = tar.pack();
      const size = 512 + Math.ceil(layer.bytes / 512) * 512 + 1024;
      const entry = pack.entry({ name: `layers/${i}.tar`, size });
      const hash = createHash('sha256');
      const produce = (async () => {
        const file = inner.entry({ name: layer.file, size: layer.bytes, mode: 0o644, mtime: new Date(0) });
        for (const b of stampedMiBs(block, i, layer.bytes)) await put(file, b);
        file.end(undefined);
        inner.finalize();
      })();
      const consume = (async () => {
        for await (const c of inner as unknown as AsyncIterable<Buffer>) {
          hash.update(c);
          await put(entry, c);
        }
        const finished = new Promise<void>((r) => entry.once('finish', () => r()));
        entry.end(undefined);
        await finished;
      })();
      await Promise.all([produce, consume]);
      diffIds.push(`sha256:${hash.digest('hex')}`);
    }
    const ids: string[] = [];
    const manifest = images.map((image) => {
      const config = Buffer.from(
        JSON.stringify({
          architecture: 'amd64',
          os: 'linux',
          config: { Labels: { 'org.example.tag': image.tag } },
          rootfs: { type: 'layers', diff_ids: image.layers.map((l) => diffIds[l]) },
        }),
      );
      const id = `sha256:${createHash('sha256').update(config).digest('hex')}`;
      ids.push(id);
      pack.entry({ name: `${id.slice(7)}.json` }, config);
      return {
        Config: `${id.slice(7)}.json`,
        RepoTags: [image.tag],
        Layers: image.layers.map((l) => `layers/${l}.tar`),
      };
    });
    pack.entry({ name: 'manifest.json' }, JSON.stringify(manifest));
    pack.finalize();
    return { diffIds, ids };
  })();
  return { stream: pack as unknown as Readable, done };
}
