// Images and tars built in code for tests: a skopeo-dir-style image, a docker-archive image, and a tar packer.
import { createHash, randomBytes } from 'node:crypto';
import tar from 'tar-stream';

export interface Entry {
  name: string;
  data?: Buffer | string;
  type?: 'file' | 'symlink' | 'link' | 'directory' | 'character-device' | 'fifo';
  linkname?: string;
}

export const sha = (b: Buffer | string): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;
export const hex = (d: string): string => d.slice('sha256:'.length);

/** Packs entries into a tar in memory (test inputs are small). */
export async function tarOf(entries: Entry[]): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  const done = new Promise<void>((resolve, reject) => {
    pack.on('data', (c: unknown) => {
      chunks.push(c as Buffer);
    });
    pack.on('end', () => resolve());
    pack.on('error', reject);
  });
  for (const e of entries) {
    const type = e.type ?? 'file';
    const data = e.data === undefined ? undefined : Buffer.from(e.data);
    await new Promise<void>((resolve, reject) =>
      pack.entry(
        {
          name: e.name,
          type,
          linkname: e.linkname,
          size: data?.length ?? 0,
          mode: 0o644,
          mtime: new Date(0),
        },
        type === 'file' ? (data ?? Buffer.alloc(0)) : Buffer.alloc(0),
        (err) => (err ? reject(err) : resolve()),
      ),
    );
  }
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

export interface DirImage {
  entries: Entry[];
  manifest: Record<string, unknown>;
  manifestBytes: Buffer;
  digest: string;
  config: Buffer;
  layers: Buffer[];
  layerDigests: string[];
}

/** A skopeo `dir:`-style image (version 1.1) with `n` random layers, or the layers given. */
export function dirImage(
  opts: { layers?: Buffer[]; n?: number; mediaType?: string; label?: string } = {},
): DirImage {
  const layers =
    opts.layers ??
    Array.from({ length: opts.n ?? 2 }, () => randomBytes(1024 + Math.floor(Math.random() * 4096)));
  const layerDigests = layers.map((l) => sha(l));
  const config = Buffer.from(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      config: { Labels: { label: opts.label ?? randomBytes(4).toString('hex') } },
      rootfs: { type: 'layers', diff_ids: layerDigests },
    }),
  );
  const manifest = {
    schemaVersion: 2,
    mediaType: opts.mediaType ?? 'application/vnd.oci.image.manifest.v1+json',
    config: {
      mediaType: 'application/vnd.oci.image.config.v1+json',
      digest: sha(config),
      size: config.length,
    },
    layers: layers.map((l, i) => ({
      mediaType: 'application/vnd.oci.image.layer.v1.tar',
      digest: layerDigests[i],
      size: l.length,
    })),
  };
  const manifestBytes = Buffer.from(JSON.stringify(manifest));
  return {
    entries: [
      { name: 'version', data: 'Directory Transport Version: 1.1\n' },
      { name: hex(sha(config)), data: config },
      ...layers.map((l, i) => ({ name: hex(layerDigests[i]!), data: l })),
      { name: 'manifest.json', data: manifestBytes },
    ],
    manifest,
    manifestBytes,
    digest: sha(manifestBytes),
    config,
    layers,
    layerDigests,
  };
}

/** A docker-archive (older layout, `<diffid>.tar` layers) of the given uncompressed layers. */
export function dockerImage(opts: { layers?: Buffer[]; n?: number; repoTags?: string[] } = {}): {
  entries: Entry[];
  config: Buffer;
  layerDigests: string[];
} {
  const layers = opts.layers ?? Array.from({ length: opts.n ?? 2 }, () => randomBytes(2048));
  const layerDigests = layers.map((l) => sha(l));
  const config = Buffer.from(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      rootfs: { type: 'layers', diff_ids: layerDigests },
    }),
  );
  const configName = `${hex(sha(config))}.json`;
  const manifest = [
    {
      Config: configName,
      RepoTags: opts.repoTags ?? ['example/app:latest'],
      Layers: layerDigests.map((d) => `${hex(d)}.tar`),
    },
  ];
  return {
    entries: [
      { name: configName, data: config },
      ...layers.map((l, i) => ({ name: `${hex(layerDigests[i]!)}.tar`, data: l })),
      { name: 'manifest.json', data: JSON.stringify(manifest) },
    ],
    config,
    layerDigests,
  };
}
