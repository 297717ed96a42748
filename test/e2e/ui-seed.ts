// What the browser tests browse: images like real ones (entrypoint, env, ports, labels, `created_by` history with empty layers, a foreign layer, a two-platform index, a signature and an SBOM), pushed over /v2 and the API of a running berth.
import { randomBytes } from 'node:crypto';
import { http } from '../helpers/in-process.js';
import { pushBlob, pushManifest, pushReferrer, type UpstreamRegistry } from '../helpers/upstreams.js';
import { sha256 as sha, type Digest } from '../../src/core/digest.js';

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
const GZIP_LAYER = 'application/vnd.oci.image.layer.v1.tar+gzip';
export const FOREIGN_URL = 'https://example.invalid/windows/servercore-base-layer';

/** A berth as the helpers of upstreams.ts push to it (admin's credentials). */
export const registryOf = (url: string): UpstreamRegistry => ({
  kind: 'berth',
  url,
  hostPort: url.replace(/^https?:\/\//, ''),
  creds: { user: 'admin', password: 'test-admin-password' },
  stop: async () => {},
});

export interface SeededImage {
  digest: Digest;
  size: number;
  layers: { digest: Digest; size: number; createdBy: string }[];
  history: { created_by: string; empty_layer?: boolean }[];
}

/** The history of a small web server image: four layers and three empty steps. */
export function webHistory(
  version: string,
): { created: string; created_by: string; empty_layer?: boolean }[] {
  const steps = [
    { created_by: '/bin/sh -c #(nop) ADD file:6b3a1d9e0c0f in / ' },
    { created_by: '/bin/sh -c #(nop)  CMD ["sh"]', empty_layer: true },
    { created_by: `RUN /bin/sh -c apk add --no-cache nginx=${version} tini # buildkit` },
    { created_by: 'ENV NGINX_PORT=8080', empty_layer: true },
    { created_by: 'COPY site/ /usr/share/nginx/html # buildkit' },
    { created_by: 'EXPOSE map[8080/tcp:{}]', empty_layer: true },
    { created_by: 'USER nginx', empty_layer: true },
    { created_by: 'COPY docker-entrypoint.sh / # buildkit' },
  ];
  // the base image's two steps a month before the rest
  return steps.map((s, i) => ({
    created: i < 2 ? `2026-10-28T14:0${i}:00Z` : `2026-11-30T09:1${i}:00Z`,
    ...s,
  }));
}

/**
 * Pushes an image (by tag, or by digest when `tag` is undefined) whose config has an entrypoint, cmd, env, user,
 * ports, labels and the given history; one layer of random bytes per history step that is not empty.
 */
export async function pushWebImage(
  reg: UpstreamRegistry,
  repo: string,
  tag: string | undefined,
  opts: { version?: string; platform?: { os: string; architecture: string }; foreign?: boolean } = {},
): Promise<SeededImage> {
  const version = opts.version ?? '1.26.1';
  const history = webHistory(version);
  const steps = history.filter((h) => !h.empty_layer);
  const layers = [];
  for (const [i, step] of steps.entries()) {
    const bytes = randomBytes(2048 * (i + 1));
    const foreign = opts.foreign === true && i === 0;
    if (!foreign) await pushBlob(reg, repo, bytes);
    layers.push({ digest: sha(bytes), size: bytes.length, createdBy: step.created_by, foreign });
  }
  const platform = opts.platform ?? { os: 'linux', architecture: 'amd64' };
  const config = Buffer.from(
    JSON.stringify({
      created: '2026-11-30T09:15:00Z',
      ...platform,
      config: {
        User: 'nginx',
        Entrypoint: ['/sbin/tini', '--', '/docker-entrypoint.sh'],
        Cmd: ['nginx', '-g', 'daemon off;'],
        Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'NGINX_PORT=8080'],
        ExposedPorts: { '8080/tcp': {} },
        Labels: {
          'org.opencontainers.image.title': 'web',
          'org.opencontainers.image.version': version,
          'org.opencontainers.image.source': 'https://git.example.invalid/acme/web',
        },
      },
      rootfs: { type: 'layers', diff_ids: layers.map((l) => l.digest) },
      history,
    }),
  );
  await pushBlob(reg, repo, config);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: OCI_CONFIG, digest: sha(config), size: config.length },
      layers: layers.map((l) =>
        l.foreign
          ? {
              mediaType: 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
              digest: l.digest,
              size: l.size,
              urls: [FOREIGN_URL],
            }
          : { mediaType: GZIP_LAYER, digest: l.digest, size: l.size },
      ),
    }),
  );
  const digest = await pushManifest(reg, repo, tag ?? sha(manifest), manifest, OCI_MANIFEST);
  return { digest, size: manifest.length, layers, history };
}

/** Pushes a two-platform index (linux/amd64, linux/arm64) under `tag`; answers it and its children. */
export async function pushWebIndex(
  reg: UpstreamRegistry,
  repo: string,
  tag: string,
  version: string,
): Promise<{ digest: Digest; children: SeededImage[] }> {
  const platforms = [
    { os: 'linux', architecture: 'amd64' },
    { os: 'linux', architecture: 'arm64' },
  ];
  const children = [];
  for (const p of platforms)
    children.push(await pushWebImage(reg, repo, undefined, { version, platform: p }));
  const index = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_INDEX,
      manifests: children.map((c, i) => ({
        mediaType: OCI_MANIFEST,
        digest: c.digest,
        size: c.size,
        platform: platforms[i],
      })),
    }),
  );
  return { digest: await pushManifest(reg, repo, tag, index, OCI_INDEX), children };
}

/** A cosign-like signature and an SPDX SBOM referring to `subject`. */
export async function pushReferrers(
  reg: UpstreamRegistry,
  repo: string,
  subject: SeededImage,
): Promise<void> {
  const s = { digest: subject.digest, size: subject.size, mediaType: OCI_MANIFEST };
  await pushReferrer(reg, repo, s, 'application/vnd.dev.cosign.artifact.sig.v1+json');
  await pushReferrer(reg, repo, s, 'application/spdx+json');
}

/** Calls /api/v1 as the administrator with a JSON body; throws unless the answer is 2xx. */
export async function api(base: string, method: string, path: string, body?: unknown): Promise<unknown> {
  const r = await http(
    method,
    `${base}/api/v1${path}`,
    body === undefined ? undefined : JSON.stringify(body),
    body === undefined ? {} : { 'content-type': 'application/json' },
  );
  if (r.status >= 300) throw new Error(`${method} ${path}: ${r.status} ${r.body.toString()}`);
  return r.body.length ? r.json() : undefined;
}
