// Real clients pulling through the cache of a real `berth serve` from a real Distribution (Basic auth) behind a faulty proxy: skopeo and crane, by tag and by digest, upstream failing mid-way and down.
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect } from 'vitest';
import { spawnSync } from 'node:child_process';
import { hasCommand, removeTestDatabase, skipUnless, testDatabaseUrl } from '../helpers/backend.js';
import { FaultyProxy } from '../helpers/faulty-proxy.js';
import { http } from '../helpers/in-process.js';
import { BIN, skopeo, startRealServer, type RealServer } from '../helpers/real-server.js';
import { clientHome, itWithTools, runTool } from '../helpers/tools.js';
import {
  hasDistribution,
  NO_DISTRIBUTION,
  pushImage,
  startDistribution,
  type UpstreamRegistry,
} from '../helpers/upstreams.js';

const it = skipUnless(hasCommand('skopeo') && hasDistribution(), `skopeo or ${NO_DISTRIBUTION}`);
const itCrane = itWithTools('bin/crane');
const CREDS = { user: 'cacher', password: 'cache-e2e-password' };
const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

describe('pulling through the cache with real clients', () => {
  let reg: UpstreamRegistry;
  let proxy: FaultyProxy;
  let s: RealServer;
  let work: string;
  let data: string;
  let database: string;

  beforeAll(async () => {
    if (!hasCommand('skopeo') || !hasDistribution()) return;
    reg = await startDistribution({ creds: CREDS });
    proxy = await FaultyProxy.start(reg.url);
    work = mkdtempSync(join(tmpdir(), 'pull-through-e2e-'));
    data = join(work, 'data');
    database = await testDatabaseUrl('pull-through-e2e');
    s = await startRealServer('pull-through-e2e', { data, database });
    const json = { 'content-type': 'application/json' };
    const remote = { name: 'dist', url: proxy.url, username: CREDS.user, password: CREDS.password };
    expect((await http('POST', `${s.url}/api/v1/remotes`, JSON.stringify(remote), json)).status).toBe(201);
    const cache = { name: 'dist', remote: 'dist', prefix: 'cache/dist', checkSeconds: 0, staleSeconds: 3600 };
    expect((await http('POST', `${s.url}/api/v1/caches`, JSON.stringify(cache), json)).status).toBe(201);
  });
  afterAll(async () => {
    await s?.stop();
    await proxy?.stop();
    await reg?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
    if (database) await removeTestDatabase(database);
  });

  const pull = (ref: string, dir: string) =>
    skopeo(
      'copy',
      '--quiet',
      '--src-tls-verify=false',
      `docker://${s.hostPort}/cache/dist/${ref}`,
      `dir:${join(work, dir)}`,
    );
  const file = (dir: string, digest: string) => readFileSync(join(work, dir, digest.replace('sha256:', '')));

  it('skopeo pulls by tag and by digest; the layers come byte for byte; pulls go on while upstream is down', async () => {
    const img = await pushImage(reg, 'library/tool', 'v1', { layers: 3, layerSize: 256 * 1024 });
    await pull('library/tool:v1', 'by-tag');
    expect(file('by-tag', 'manifest.json').equals(img.manifest)).toBe(true);
    for (const l of img.layers) expect(sha(file('by-tag', l.digest))).toBe(l.digest);
    await pull(`library/tool@${img.digest}`, 'by-digest');
    expect(sha(file('by-digest', 'manifest.json'))).toBe(img.digest);

    // upstream down (every request answered 502 by its gateway): the tag, checked within the stale window, is
    // still served (the cache checks on every pull: checkSeconds 0)
    proxy.inject({ path: /./ }, { kind: 'status', status: 502 }, 1000);
    await pull('library/tool:v1', 'while-down');
    expect(file('while-down', 'manifest.json').equals(img.manifest)).toBe(true);
    proxy.reset();
  });

  it('upstream failing mid-way (blobs cut off after the manifest): the pull fails; the next one succeeds and fsck is clean', async () => {
    const img = await pushImage(reg, 'library/midway', 'v1', { layers: 2, layerSize: 512 * 1024 });
    proxy.inject({ method: 'GET', path: /\/blobs\// }, { kind: 'truncate', bytes: 1000 }, 1000);
    await expect(pull('library/midway:v1', 'failed')).rejects.toThrow();
    proxy.reset();
    await pull('library/midway:v1', 'retried');
    for (const l of img.layers) expect(sha(file('retried', l.digest))).toBe(l.digest);
    // fsck of the running instance: the blobs fetched are in place, those never fetched are at their remote
    const fsck = spawnSync(process.execPath, [BIN, 'fsck', '--data', data, '--database', database], {
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(fsck.status, `${fsck.stdout}${fsck.stderr}`).toBe(0);
  });

  itCrane('crane pulls by tag and by digest through the cache', async () => {
    const img = await pushImage(reg, 'library/crane', 'v1', { layers: 2 });
    const home = clientHome('pull-through-crane');
    const crane = (...args: string[]) => runTool('crane', home.env, [...args, '--insecure']);
    await crane(
      'auth',
      'login',
      s.hostPort,
      '-u',
      'admin',
      '-p',
      process.env.BERTH_ADMIN_PASSWORD ?? 'test-admin-password',
    );
    const ref = `${s.hostPort}/cache/dist/library/crane`;
    expect((await crane('digest', `${ref}:v1`)).trim()).toBe(img.digest);
    expect(Buffer.from(await crane('manifest', `${ref}@${img.digest}`)).equals(img.manifest)).toBe(true);
    await crane('pull', '--format', 'oci', `${ref}:v1`, join(home.dir, 'oci'));
    rmSync(home.dir, { recursive: true, force: true });
  });
});
