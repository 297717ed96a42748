// Real upstream registries for the sync tests: Debian's docker-registry (Basic auth) and another berth (token flow), and pushes into them.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import bcrypt from 'bcryptjs';
import { hasCommand } from './backend.js';
import { ADMIN, basic, http, startTestServer, type TestServer } from './in-process.js';
import { freePort } from './nginx.js';
import { sha256 as sha, type Digest } from '../../src/core/digest.js';

/** Debian's CNCF Distribution binary (BERTH_TEST_REGISTRY overrides). */
export const DISTRIBUTION = process.env.BERTH_TEST_REGISTRY ?? 'docker-registry';
/** Whether the Distribution binary is there (tests skip with this reason locally, fail under CI=true). */
export const hasDistribution = (): boolean => hasCommand(DISTRIBUTION);
export const NO_DISTRIBUTION = `${DISTRIBUTION} missing (Debian: apt-get install docker-registry)`;

export interface Credentials {
  user: string;
  password: string;
}

/** A registry to sync from: its URL, the credentials pushes and remotes use, and how to stop it. */
export interface UpstreamRegistry {
  kind: 'distribution' | 'berth';
  url: string;
  /** host:port */
  hostPort: string;
  /** undefined: anonymous (a Distribution without auth) */
  creds: Credentials | undefined;
  stop(): Promise<void>;
}

const children = new Set<ChildProcess>();
process.once('exit', () => {
  for (const c of children) c.kill('SIGKILL');
});

/**
 * Starts CNCF Distribution 2.8 on a free loopback port with filesystem storage in a temp dir; with `creds`, behind
 * htpasswd Basic auth (a bcrypt htpasswd file written here); with `tls`, over HTTPS.
 */
export async function startDistribution(
  opts: { creds?: Credentials; tls?: { cert: string; key: string } } = {},
): Promise<UpstreamRegistry> {
  const dir = mkdtempSync(join(tmpdir(), 'distribution-'));
  const data = join(dir, 'data');
  mkdirSync(data);
  const port = await freePort();
  const lines = [
    'version: 0.1',
    'log:',
    '  level: warn',
    '  accesslog:',
    '    disabled: true',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${data}`,
    '  delete:',
    '    enabled: true',
    '  maintenance:',
    '    uploadpurging:',
    '      enabled: false',
    'http:',
    `  addr: 127.0.0.1:${port}`,
  ];
  // with `tls` (PEM files), HTTPS: the caller's requests must trust the certificate (https.globalAgent)
  if (opts.tls) lines.push('  tls:', `    certificate: ${opts.tls.cert}`, `    key: ${opts.tls.key}`);
  if (opts.creds) {
    const htpasswd = join(dir, 'htpasswd');
    writeFileSync(htpasswd, `${opts.creds.user}:${bcrypt.hashSync(opts.creds.password, 5)}\n`);
    lines.push('auth:', '  htpasswd:', '    realm: distribution', `    path: ${htpasswd}`);
  }
  const config = join(dir, 'config.yml');
  writeFileSync(config, `${lines.join('\n')}\n`);
  const child = spawn(DISTRIBUTION, ['serve', config], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  let out = '';
  child.stdout!.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr!.on('data', (b: Buffer) => (out += b.toString()));
  const url = `${opts.tls ? 'https' : 'http'}://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${DISTRIBUTION} exited with ${child.exitCode}:\n${out}`);
    const status = await http('GET', `${url}/v2/`, undefined, { authorization: '' }).then(
      (r) => r.status,
      () => 0,
    );
    if (status === 200 || status === 401) break;
    if (Date.now() > deadline) throw new Error(`${DISTRIBUTION} did not answer in 30 s:\n${out}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    kind: 'distribution',
    url,
    hostPort: `127.0.0.1:${port}`,
    creds: opts.creds,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await exited;
      }
      children.delete(child);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Starts another berth (in this process, on a free port) as an upstream: anonymous registry requests get a Bearer
 * challenge, so a client with its administrator's credentials goes through the full Docker token flow.
 */
export async function startBerthUpstream(
  label = 'upstream-berth',
): Promise<UpstreamRegistry & { server: TestServer }> {
  const server = await startTestServer(label);
  return {
    kind: 'berth',
    url: server.url,
    hostPort: server.url.replace(/^https?:\/\//, ''),
    creds: { user: ADMIN.user, password: ADMIN.password },
    server,
    stop: () => server.close(),
  };
}

/** What pushImage pushed: the manifest (its bytes and digest) and its blobs. */
export interface PushedImage {
  digest: Digest;
  manifest: Buffer;
  mediaType: string;
  config: { digest: Digest; size: number; bytes: Buffer };
  layers: { digest: Digest; size: number; bytes: Buffer }[];
}

const authOf = (reg: UpstreamRegistry): Record<string, string> =>
  reg.creds ? { authorization: basic(reg.creds.user, reg.creds.password) } : { authorization: '' };

/** Pushes a blob with a monolithic upload (POST, then PUT with the bytes). */
export async function pushBlob(reg: UpstreamRegistry, repo: string, bytes: Buffer): Promise<Digest> {
  const digest = sha(bytes);
  const start = await http('POST', `${reg.url}/v2/${repo}/blobs/uploads/`, undefined, authOf(reg));
  if (start.status !== 202) throw new Error(`upload start ${repo}: ${start.status} ${start.body.toString()}`);
  const location = new URL(String(start.headers.location), reg.url);
  location.searchParams.set('digest', digest);
  const put = await http('PUT', location.href, bytes, {
    ...authOf(reg),
    'content-type': 'application/octet-stream',
  });
  if (put.status !== 201)
    throw new Error(`upload ${digest} to ${repo}: ${put.status} ${put.body.toString()}`);
  return digest;
}

/** Pushes manifest bytes under a reference (a tag or its digest); answers its digest. */
export async function pushManifest(
  reg: UpstreamRegistry,
  repo: string,
  reference: string,
  bytes: Buffer,
  mediaType: string,
): Promise<Digest> {
  const r = await http('PUT', `${reg.url}/v2/${repo}/manifests/${reference}`, bytes, {
    ...authOf(reg),
    'content-type': mediaType,
  });
  if (r.status !== 201) throw new Error(`manifest ${repo}:${reference}: ${r.status} ${r.body.toString()}`);
  return sha(bytes);
}

/**
 * Pushes a small OCI image (a config and `layers` layers of distinct bytes made from `seed`) under
 * `tag` (undefined: by digest only). The same seed gives the same image; a new seed a new one (a moved tag).
 */
export async function pushImage(
  reg: UpstreamRegistry,
  repo: string,
  tag: string | undefined,
  opts: {
    seed?: string;
    layers?: number;
    layerSize?: number;
    platform?: { os: string; architecture: string };
  } = {},
): Promise<PushedImage> {
  const seed = opts.seed ?? `${repo}:${tag}`;
  const layers = Array.from({ length: opts.layers ?? 2 }, (_, i) => {
    const bytes = Buffer.alloc(opts.layerSize ?? 1024 + i, `${seed}/layer ${i}/`);
    return { digest: sha(bytes), size: bytes.length, bytes };
  });
  const platform = opts.platform ?? { os: 'linux', architecture: 'amd64' };
  const configBytes = Buffer.from(
    JSON.stringify({
      ...platform,
      config: { Labels: { seed } },
      rootfs: { type: 'layers', diff_ids: layers.map((l) => l.digest) },
    }),
  );
  const config = { digest: sha(configBytes), size: configBytes.length, bytes: configBytes };
  for (const blob of [config, ...layers]) await pushBlob(reg, repo, blob.bytes);
  const mediaType = 'application/vnd.oci.image.manifest.v1+json';
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType,
      config: {
        mediaType: 'application/vnd.oci.image.config.v1+json',
        digest: config.digest,
        size: config.size,
      },
      layers: layers.map((l) => ({
        mediaType: 'application/vnd.oci.image.layer.v1.tar',
        digest: l.digest,
        size: l.size,
      })),
    }),
  );
  const digest = await pushManifest(reg, repo, tag ?? sha(manifest), manifest, mediaType);
  return { digest, manifest, mediaType, config, layers };
}

/** Pushes an OCI index of images (one per platform, pushed by digest first) under `tag`. */
export async function pushIndex(
  reg: UpstreamRegistry,
  repo: string,
  tag: string,
  platforms: { os: string; architecture: string }[],
  seed = `${repo}:${tag}`,
): Promise<{ digest: Digest; bytes: Buffer; children: PushedImage[] }> {
  const children: PushedImage[] = [];
  for (const p of platforms) {
    const img = await pushImage(reg, repo, undefined, {
      seed: `${seed}/${p.os}/${p.architecture}`,
      platform: p,
    });
    children.push(img);
  }
  const mediaType = 'application/vnd.oci.image.index.v1+json';
  const bytes = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType,
      manifests: children.map((c, i) => ({
        mediaType: c.mediaType,
        digest: c.digest,
        size: c.manifest.length,
        platform: platforms[i],
      })),
    }),
  );
  const digest = await pushManifest(reg, repo, tag, bytes, mediaType);
  return { digest, bytes, children };
}

/**
 * Pushes an artifact (an OCI manifest of `artifactType` with one small layer) whose subject is `subject`, by
 * digest; with `tagSchema`, also the referrers tag (`sha256-<hex>`) listing it with `others`, as clients do for a
 * registry without the referrers API.
 */
export async function pushReferrer(
  reg: UpstreamRegistry,
  repo: string,
  subject: { digest: Digest; size: number; mediaType: string },
  artifactType: string,
  opts: { tagSchema?: boolean; others?: object[] } = {},
): Promise<{ digest: Digest; descriptor: object }> {
  const empty = Buffer.from('{}');
  const layer = Buffer.from(`${artifactType} of ${subject.digest}`);
  await pushBlob(reg, repo, empty);
  await pushBlob(reg, repo, layer);
  const mediaType = 'application/vnd.oci.image.manifest.v1+json';
  const bytes = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType,
      artifactType,
      config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: sha(empty), size: empty.length },
      layers: [{ mediaType: 'application/octet-stream', digest: sha(layer), size: layer.length }],
      subject,
    }),
  );
  const digest = await pushManifest(reg, repo, sha(bytes), bytes, mediaType);
  const descriptor = { mediaType, digest, size: bytes.length, artifactType };
  if (opts.tagSchema) {
    const index = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.index.v1+json',
        manifests: [...(opts.others ?? []), descriptor],
      }),
    );
    const tag = subject.digest.replace(':', '-');
    await pushManifest(reg, repo, tag, index, 'application/vnd.oci.image.index.v1+json');
  }
  return { digest, descriptor };
}

/** A RemoteConnection for an upstream (concurrency 4, no rate limit, its credentials) — tests adjust it. */
export function connectionTo(reg: { url: string; creds?: Credentials }, name = 'upstream') {
  return {
    name,
    url: reg.url,
    ...(reg.creds ? { username: reg.creds.user, password: reg.creds.password } : {}),
    tlsVerify: true,
    concurrency: 4,
  };
}
