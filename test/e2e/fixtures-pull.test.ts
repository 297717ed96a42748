// Every sample archive uploads through the real server as DESIGN.md's table says, and pulls back with real skopeo.
import { afterAll, beforeAll, describe, expect } from 'vitest';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, existsSync, readdirSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hasCommand, skipUnless } from '../helpers/backend.js';
import { startRealServer, skopeo, run, type RealServer } from '../helpers/real-server.js';
import { fixture, http } from '../helpers/in-process.js';

const it = skipUnless(hasCommand('skopeo'), 'skopeo is not installed (apt-get install skopeo)');
const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

let s: RealServer;
let work: string;
beforeAll(async () => {
  s = await startRealServer('fixtures');
  work = mkdtempSync(join(tmpdir(), 'pull-'));
});
afterAll(async () => {
  await s?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

const upload = async (repo: string, file: string, tag?: string) => {
  const r = await http('POST', `${s.url}/api/v1/repositories/${repo}/-/archives${tag ? `?tag=${tag}` : ''}`, {
    file: fixture(file),
  });
  return { status: r.status, body: r.status < 300 ? r.json() : r.json() };
};

/** Pulls REPO:TAG into an OCI layout and returns the manifest digest and the layers' diff IDs. */
async function pull(ref: string, all = false) {
  const dir = join(work, ref.replace(/[/:]/g, '_'));
  await skopeo(
    'copy',
    '--src-tls-verify=false',
    ...(all ? ['--all'] : []),
    `docker://${s.hostPort}/${ref}`,
    `oci:${dir}:x`,
  );
  const index = JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8'));
  const digest: string = index.manifests[0].digest;
  const blob = (d: string) => readFileSync(join(dir, 'blobs', 'sha256', d.slice(7)));
  const manifest = JSON.parse(blob(digest).toString());
  let diffIds: string[] = [];
  if (manifest.layers) {
    diffIds = manifest.layers.map((l: { digest: string }) => {
      const b = blob(l.digest);
      return sha(b[0] === 0x1f && b[1] === 0x8b ? gunzipSync(b) : b);
    });
    const config = JSON.parse(blob(manifest.config.digest).toString());
    expect(config.rootfs.diff_ids).toEqual(diffIds);
  }
  return { digest, manifest, diffIds };
}

/** The digest of a dir tar's manifest.json, as skopeo wrote it. */
async function originalDirDigest(file: string): Promise<string> {
  const out = await run(
    'tar',
    ['-xOf', fixture(file), file.includes('partial') ? 'manifest.json' : './manifest.json'],
    {
      encoding: 'buffer',
    },
  );
  return sha(out as Buffer);
}

describe('fixtures pulled back with skopeo', () => {
  it('dir tars: same manifest digest after the round trip; partial one completes from the repository', async () => {
    const base = await upload('library/app', 'base.dir.tar', 'base');
    expect(base.status).toBe(201);
    const app = await upload('library/app', 'app.dir.partial.tar', '1.0');
    expect(app.status).toBe(201);
    expect(app.body.blobs).toEqual({ uploaded: 2, reused: 2, foreign: 0 });
    const pulledBase = await pull('library/app:base');
    expect(pulledBase.digest).toBe(await originalDirDigest('base.dir.tar'));
    const pulledApp = await pull('library/app:1.0');
    expect(pulledApp.digest).toBe(await originalDirDigest('app.dir.tar'));
    expect(app.body.manifests[0].digest).toBe(pulledApp.digest);
    expect(pulledApp.diffIds).toHaveLength(3);
    // and skopeo agrees on the tags
    const tags = JSON.parse(
      await skopeo('list-tags', '--tls-verify=false', `docker://${s.hostPort}/library/app`),
    );
    expect(tags.Tags.sort()).toEqual(['1.0', 'base']);
  });

  it('the partial dir tar is refused by a repository without its layers, though berth stores them', async () => {
    const r = await upload('other/app', 'app.dir.partial.tar', '1.0');
    expect(r.status).toBe(404);
    expect(r.body.errors[0].code).toBe('BLOB_UNKNOWN');
    expect(r.body.errors[0].detail.missing).toHaveLength(2);
    const v = await http('GET', `${s.url}/api/v1/repositories/other/app`);
    expect(v.status).toBe(404);
  });

  it('oci-archives: same manifest digest, tag from ref.name', async () => {
    const r = await upload('oci/app', 'app.oci.tar');
    expect(r.status).toBe(201);
    expect(r.body.manifests[0].tags).toEqual(['1.0']);
    const p = await pull('oci/app:1.0');
    expect(p.digest).toBe(r.body.manifests[0].digest);
    const orig = JSON.parse(await skopeo('inspect', '--raw', `oci-archive:${fixture('app.oci.tar')}`));
    expect(p.manifest).toEqual(orig);
  });

  it('docker-archives: same layer content (diff IDs); tag from RepoTags; partial one matched by diff ID', async () => {
    const base = await upload('dock/app', 'base.docker.tar');
    expect(base.status).toBe(201);
    expect(base.body.manifests[0].tags).toEqual(['1.0']);
    const full = await upload('dock/full', 'app.docker.tar');
    expect(full.status).toBe(201);
    const p = await pull('dock/full:1.0');
    const origConfig = JSON.parse(
      await skopeo('inspect', '--config', `docker-archive:${fixture('app.docker.tar')}`),
    );
    expect(p.diffIds).toEqual(origConfig.rootfs.diff_ids);
    // the partial docker archive leaves out base's two layers: found in dock/app by diff ID
    const partial = await upload('dock/app', 'app.docker.partial.tar', 'app');
    expect(partial.status, JSON.stringify(partial.body)).toBe(201);
    expect(partial.body.blobs.reused).toBe(2);
    const q = await pull('dock/app:app');
    expect(q.diffIds).toEqual(origConfig.rootfs.diff_ids);
  });

  it('a docker-archive partial completes an image first pushed with gzip layers (diff ID match)', async () => {
    const oci = await upload('mixed/app', 'base.oci.tar');
    expect(oci.status).toBe(201);
    const partial = await upload('mixed/app', 'app.docker.partial.tar', 'app');
    expect(partial.status, JSON.stringify(partial.body)).toBe(201);
    const p = await pull('mixed/app:app');
    // the reused layers are base's gzip blobs, not uncompressed copies
    const baseManifest = JSON.parse(
      await skopeo('inspect', '--raw', `oci-archive:${fixture('base.oci.tar')}`),
    );
    expect(p.manifest.layers.slice(0, 2).map((l: { digest: string }) => l.digest)).toEqual(
      baseManifest.layers.map((l: { digest: string }) => l.digest),
    );
  });

  it('multi-platform index: every child manifest, pulled with --all', async () => {
    const r = await upload('multi/app', 'multi.oci.tar');
    expect(r.status).toBe(201);
    expect(r.body.manifests).toHaveLength(3);
    const p = await pull('multi/app:1.0', true);
    const root = r.body.manifests.find((m: { tags: string[] }) => m.tags.includes('1.0'));
    expect(p.digest).toBe(root.digest);
  });

  for (const file of ['foreign.dir.tar', 'foreign.dir.without-foreign.tar']) {
    it(`foreign layer (${file}): never stored, manifest served, blob 404`, async () => {
      const repo = file.includes('without') ? 'win/without' : 'win/with';
      const r = await upload(repo, file, '1.0');
      expect(r.status, JSON.stringify(r.body)).toBe(201);
      expect(r.body.blobs.foreign).toBe(1);
      const raw = await skopeo(
        'inspect',
        '--raw',
        '--tls-verify=false',
        `docker://${s.hostPort}/${repo}:1.0`,
      );
      const manifest = JSON.parse(raw);
      const foreign = manifest.layers[0];
      expect(foreign.urls).toEqual(['https://example.invalid/windows/base-layer']);
      expect(sha(Buffer.from(raw))).toBe(r.body.manifests[0].digest);
      const blob = await http('GET', `${s.url}/v2/${repo}/blobs/${foreign.digest}`);
      expect(blob.status).toBe(404);
      expect(blob.json().errors[0].code).toBe('BLOB_UNKNOWN');
      const stored = join(
        s.data,
        'store',
        'blobs',
        'sha256',
        foreign.digest.slice(7, 9),
        foreign.digest.slice(7),
      );
      expect(existsSync(stored)).toBe(false);
      expect(readdirSync(join(s.data, 'store', 'staging')).length).toBe(0);
    });
  }
});
