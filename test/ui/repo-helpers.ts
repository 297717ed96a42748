// Content for the repository pages' tests, pushed through the registry (/v2) as a client would: blobs, images, indexes.
import type { FastifyInstance } from 'fastify';
import { randomBytes } from 'node:crypto';
import { ADMIN, basic } from '../helpers/in-process.js';
import { sha } from '../helpers/images.js';

const auth = { authorization: basic(ADMIN.user, ADMIN.password) };

export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
export const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
export const OCI_LAYER = 'application/vnd.oci.image.layer.v1.tar+gzip';
export const FOREIGN_LAYER = 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip';

/** A blob pushed in one request (POST …/blobs/uploads/?digest=). */
export async function putBlob(app: FastifyInstance, name: string, bytes: Buffer): Promise<string> {
  const digest = sha(bytes);
  const r = await app.inject({
    method: 'POST',
    url: `/v2/${name}/blobs/uploads/?digest=${digest}`,
    payload: bytes,
    headers: { ...auth, 'content-type': 'application/octet-stream' },
  });
  if (r.statusCode !== 201) throw new Error(`blob push answered ${r.statusCode}: ${r.body}`);
  return digest;
}

/** A manifest pushed by tag or digest; its digest. */
export async function putManifest(
  app: FastifyInstance,
  name: string,
  ref: string | undefined,
  manifest: Record<string, unknown>,
): Promise<string> {
  const bytes = Buffer.from(JSON.stringify(manifest));
  const digest = sha(bytes);
  const r = await app.inject({
    method: 'PUT',
    url: `/v2/${name}/manifests/${ref ?? digest}`,
    payload: bytes,
    headers: { ...auth, 'content-type': String(manifest.mediaType) },
  });
  if (r.statusCode !== 201) throw new Error(`manifest push answered ${r.statusCode}: ${r.body}`);
  return digest;
}

export interface PushedImage {
  digest: string;
  size: number;
  configDigest: string;
  layerDigests: string[];
}

/**
 * An image with the given config (architecture/os default to linux/amd64) and `layers` random layers, plus the
 * descriptors in `extraLayers` (foreign ones), pushed under `ref`.
 */
export async function pushImage(
  app: FastifyInstance,
  name: string,
  ref: string | undefined,
  opts: {
    config?: Record<string, unknown>;
    layers?: number;
    extraLayers?: Record<string, unknown>[];
    annotations?: Record<string, string>;
  } = {},
): Promise<PushedImage> {
  const layers = Array.from({ length: opts.layers ?? 1 }, () =>
    randomBytes(100 + Math.floor(Math.random() * 400)),
  );
  const layerDigests: string[] = [];
  for (const l of layers) layerDigests.push(await putBlob(app, name, l));
  const config = Buffer.from(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      rootfs: { type: 'layers', diff_ids: layerDigests },
      ...opts.config,
    }),
  );
  const configDigest = await putBlob(app, name, config);
  const manifest = {
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: { mediaType: OCI_CONFIG, digest: configDigest, size: config.length },
    layers: [
      ...layers.map((l, i) => ({ mediaType: OCI_LAYER, digest: layerDigests[i], size: l.length })),
      ...(opts.extraLayers ?? []),
    ],
    ...(opts.annotations ? { annotations: opts.annotations } : {}),
  };
  const digest = await putManifest(app, name, ref, manifest);
  const size = config.length + layers.reduce((n, l) => n + l.length, 0);
  return { digest, size, configDigest, layerDigests };
}
