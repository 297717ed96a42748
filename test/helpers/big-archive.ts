// A large skopeo-dir-style archive generated as a stream (never whole in memory): one layer of `size` bytes.
import { createHash, randomBytes } from 'node:crypto';
import tar from 'tar-stream';
import type { Readable } from 'node:stream';

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
