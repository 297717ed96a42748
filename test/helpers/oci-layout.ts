// An OCI image layout written in code for skopeo to push: images sharing two gzip base layers, each with one of its own.
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { hex, sha, tarOf } from './images.js';

/** Writes a layout of `images` images (tags img0, img1, …) to `dir`; returns their manifest digests in order. */
export async function buildLayout(dir: string, images: number): Promise<string[]> {
  const blobs = join(dir, 'blobs', 'sha256');
  mkdirSync(blobs, { recursive: true });
  const put = (b: Buffer) => {
    writeFileSync(join(blobs, hex(sha(b))), b);
    return { digest: sha(b), size: b.length };
  };
  const layer = async (name: string, bytes: Buffer) => {
    const tar = await tarOf([{ name, data: bytes }]);
    return { ...put(gzipSync(tar)), diffId: sha(tar) };
  };
  const base = [await layer('base0', randomBytes(16 * 1024)), await layer('base1', randomBytes(8 * 1024))];
  const index = [];
  for (let i = 0; i < images; i++) {
    const own = await layer(`own${i}`, randomBytes(4096));
    const layers = [...base, own];
    const config = put(
      Buffer.from(
        JSON.stringify({
          architecture: 'amd64',
          os: 'linux',
          rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) },
        }),
      ),
    );
    const manifest = put(
      Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
          layers: layers.map((l) => ({
            mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
            digest: l.digest,
            size: l.size,
          })),
        }),
      ),
    );
    index.push({
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      ...manifest,
      annotations: { 'org.opencontainers.image.ref.name': `img${i}` },
    });
  }
  writeFileSync(join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  writeFileSync(join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: index }));
  return index.map((m) => m.digest);
}
