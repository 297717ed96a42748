// Sync from a real CNCF Distribution (Basic auth) behind a counting proxy: one version per run, the cost of an unchanged sync, mirror, platforms, on demand, failures, proof of ownership.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect } from 'vitest';
import { openBerth, type Berth } from '../../src/app.js';
import { sha256 } from '../../src/core/digest.js';
import { Keys } from '../../src/storage/cas.js';
import type { Remote } from '../../src/sync/remote.js';
import { createUpstream } from '../../src/sync/upstream-http.js';
import type { SyncRequest } from '../../src/sync/syncs.js';
import { backends, removeTestDatabase, skipUnless, testDatabaseUrl } from '../helpers/backend.js';
import { startCountingProxy, type CountingProxy } from '../helpers/counting-proxy.js';
import { snapshot } from '../helpers/state.js';
import {
  connectionTo,
  hasDistribution,
  NO_DISTRIBUTION,
  pushImage,
  pushIndex,
  startDistribution,
  type UpstreamRegistry,
} from '../helpers/upstreams.js';

const it = skipUnless(hasDistribution(), NO_DISTRIBUTION);
const CREDS = { user: 'syncer', password: 'sync-test-password' };

describe.each(backends())('sync from Distribution on %s', (backend) => {
  let reg: UpstreamRegistry;
  let proxy: CountingProxy;
  let data: string;
  let database: string;
  let berth: Berth;
  const remotes = new Map<string, Remote>();
  let n = 0;
  /** a fresh upstream repository name per test */
  let up: string;

  beforeAll(async () => {
    if (!hasDistribution()) return;
    reg = await startDistribution({ creds: CREDS });
    proxy = await startCountingProxy(reg.url);
  });
  afterAll(async () => {
    await proxy?.close();
    await reg?.stop();
  });
  beforeEach(async () => {
    data = mkdtempSync(join(tmpdir(), 'sync-'));
    database = await testDatabaseUrl(`sync-${backend}`, backend);
    remotes.clear();
    berth = await openBerth({
      data,
      database,
      syncPorts: {
        remote: async (name) => {
          const r = remotes.get(name);
          if (!r) throw new Error(`no remote ${name} in this test`);
          return r;
        },
        connect: (conn) => createUpstream(conn),
      },
    });
    up = `lib/app${n++}-${backend}`;
    addRemote('dist');
    proxy.intercept = undefined;
    proxy.reset();
  });
  afterEach(async () => {
    await berth.close();
    await removeTestDatabase(database);
    rmSync(data, { recursive: true, force: true });
  });

  function addRemote(name: string, over: Partial<Remote> = {}): void {
    remotes.set(name, {
      connection: { ...connectionTo({ url: proxy.url, creds: CREDS }, name), concurrency: 4 },
      include: [],
      exclude: [],
      platforms: [],
      referrers: 'none',
      policy: 'immediate',
      ...over,
    });
  }
  const sync = (repository: string, more: Partial<SyncRequest> = {}) =>
    berth.syncs.run({ repository, remote: 'dist', upstream: up, trigger: 'api', ...more });
  const latest = async (name: string) =>
    (
      await berth.db.kysely
        .selectFrom('repositories')
        .select('latest_version')
        .where('name', '=', name)
        .executeTakeFirst()
    )?.latest_version;
  const tagsOf = async (name: string) => (await berth.tags.list(name)).sort();

  it('brings tags in as one version, manifests byte for byte; an unchanged repository costs 1 tags/list page and a HEAD per tag, no GET', async () => {
    const a = await pushImage(reg, up, 'v1', { seed: `${up}-1` });
    const b = await pushImage(reg, up, 'v2', { seed: `${up}-2` });
    await pushImage(reg, up, 'latest', { seed: `${up}-2` });
    const run = await sync('mirror/app');
    expect(run.state, run.error ?? '').toBe('succeeded');
    expect(run.version).toBe(1);
    expect(await latest('mirror/app')).toBe(1);
    expect(await tagsOf('mirror/app')).toEqual(['latest', 'v1', 'v2']);
    const got = await berth.manifests.get('mirror/app', { kind: 'tag', tag: 'v1' });
    expect(got.bytes!.equals(a.manifest)).toBe(true);
    expect(got.digest).toBe(a.digest);
    const layer = b.layers[1]!;
    const blob = await berth.blobs.stat('mirror/app', layer.digest);
    expect(await buffer(await berth.blobs.open(blob))).toEqual(layer.bytes);
    // 2 images, 3 blobs each (config and 2 layers): 6 blobs fetched, 2 manifests
    expect(run.stats).toMatchObject({
      tagsSeen: 3,
      tagsChanged: 3,
      manifests: 2,
      blobsFetched: 6,
      blobsReused: 0,
    });
    expect(proxy.count('GET blob')).toBe(6);
    const versions = await berth.history.versions('mirror/app');
    expect(versions.find((v) => v.number === 1)?.message).toBe(`sync run ${run.id} from dist`);

    proxy.reset();
    const again = await sync('mirror/app');
    expect(again.state).toBe('succeeded');
    expect(again.version).toBeNull();
    expect(await latest('mirror/app')).toBe(1);
    // a new client's first request meets the Basic challenge (401) once; then it sends its credentials
    expect(proxy.served('GET tags')).toBe(1);
    expect(proxy.served('HEAD manifest')).toBe(3);
    expect(proxy.count('GET tags 401') + proxy.count('HEAD manifest 401')).toBeLessThanOrEqual(1);
    expect(proxy.count('GET manifest') + proxy.count('GET blob')).toBe(0);
  });

  it('a moved tag and a new one make exactly one new version; blobs the repository holds are not fetched again', async () => {
    await pushImage(reg, up, 'v1', { seed: `${up}-1` });
    expect((await sync('mv/app')).version).toBe(1);
    const moved = await pushImage(reg, up, 'v1', { seed: `${up}-1b` });
    await pushImage(reg, up, 'v2', { seed: `${up}-1` }); // the old image under a new tag: nothing to fetch but a tag
    proxy.reset();
    const run = await sync('mv/app');
    expect(run.version).toBe(2);
    expect(await latest('mv/app')).toBe(2);
    expect((await berth.manifests.get('mv/app', { kind: 'tag', tag: 'v1' })).digest).toBe(moved.digest);
    expect(run.stats).toMatchObject({ tagsChanged: 2, manifests: 1, blobsFetched: 3 });
    expect(proxy.count('GET blob')).toBe(3);
  });

  it('include and exclude select tags; only literal includes skip tags/list; mirror removes tags upstream lacks, within the include set', async () => {
    for (const t of ['v1', 'v2', 'beta']) await pushImage(reg, up, t, { seed: `${up}-${t}` });
    addRemote('dist', { include: ['v*'], exclude: ['v2'] });
    const run = await sync('sel/app');
    expect(await tagsOf('sel/app')).toEqual(['v1']);
    expect(run.stats.tagsSeen).toBe(1);

    addRemote('dist', { include: ['v1', 'v2', 'v3'] });
    proxy.reset();
    const literal = await sync('sel/app');
    expect(proxy.count('GET tags')).toBe(0);
    expect(proxy.served('HEAD manifest')).toBe(3);
    expect(await tagsOf('sel/app')).toEqual(['v1', 'v2']);
    expect(literal.version).toBe(2);

    // a tag pushed to berth itself: v9 is in the include set (v*), keep is not
    addRemote('dist', { include: ['v*'] });
    const img = await pushImage(reg, up, undefined, { seed: `${up}-v1` });
    await berth.manifests.put('sel/app', { kind: 'tag', tag: 'v9' }, img.manifest, img.mediaType);
    await berth.manifests.put('sel/app', { kind: 'tag', tag: 'keep' }, img.manifest, img.mediaType);
    const additive = await sync('sel/app');
    expect(additive.version).toBeNull();
    expect(await tagsOf('sel/app')).toEqual(['keep', 'v1', 'v2', 'v9']);
    const mirror = await sync('sel/app', { mirror: true });
    expect(mirror.stats.tagsRemoved).toBe(1);
    expect(await tagsOf('sel/app')).toEqual(['keep', 'v1', 'v2']);
  });

  it('an index keeps its bytes while only the chosen platform is fetched (a sparse index)', async () => {
    const idx = await pushIndex(reg, up, 'multi', [
      { os: 'linux', architecture: 'amd64' },
      { os: 'linux', architecture: 'arm64' },
    ]);
    addRemote('dist', { platforms: ['linux/amd64'] });
    const run = await sync('idx/app');
    expect(run.state, run.error ?? '').toBe('succeeded');
    const got = await berth.manifests.get('idx/app', { kind: 'tag', tag: 'multi' });
    expect(got.bytes!.equals(idx.bytes)).toBe(true);
    const [amd, arm] = idx.children;
    expect((await berth.manifests.get('idx/app', { kind: 'digest', digest: amd!.digest })).digest).toBe(
      amd!.digest,
    );
    await expect(
      berth.manifests.get('idx/app', { kind: 'digest', digest: arm!.digest }),
    ).rejects.toMatchObject({
      code: 'MANIFEST_UNKNOWN',
    });
    expect(proxy.log.some((l) => l.includes(arm!.config.digest))).toBe(false);
    expect(run.stats.manifests).toBe(2);
  });

  it('policy on_demand records manifests and blob rows without bytes, and GETs no blob', async () => {
    const img = await pushImage(reg, up, 'v1', { seed: `${up}-od` });
    addRemote('dist', { policy: 'on_demand' });
    // on-demand rows name the remote: it must exist as a row (lockRemote), whatever the port answers
    await berth.remotes.add({ name: 'dist', url: proxy.url, policy: 'on_demand' });
    const run = await sync('od/app');
    expect(run.state, run.error ?? '').toBe('succeeded');
    expect(proxy.count('GET blob')).toBe(0);
    expect(run.stats.blobsOnDemand).toBe(3);
    const rows = await berth.db.kysely
      .selectFrom('on_demand_blobs')
      .select(['digest', 'remote', 'upstream'])
      .where('repository', '=', 'od/app')
      .execute();
    expect(rows.map((r) => r.digest).sort()).toEqual(
      [img.config.digest, ...img.layers.map((l) => l.digest)].sort(),
    );
    expect(rows.every((r) => r.remote === 'dist' && r.upstream === up)).toBe(true);
    expect(await berth.store.stat(Keys.blob(img.layers[0]!.digest))).toBeNull();
  });

  it('proof of ownership: a blob berth stores for another repository is downloaded from the remote all the same; when the remote cannot serve it, the run fails', async () => {
    const img = await pushImage(reg, up, 'v1', { seed: `${up}-secret` });
    const secret = img.layers[0]!;
    await berth.uploads.monolithic('team/private', secret.digest, Readable.from([secret.bytes]));
    const run = await sync('thief/app');
    expect(run.state, run.error ?? '').toBe('succeeded');
    expect(proxy.log.some((l) => l.startsWith('GET') && l.includes(`/blobs/${secret.digest}`))).toBe(true);
    expect(run.stats.blobsFetched).toBe(3);

    // a remote naming a digest it cannot serve: the sync fails, and the layer stays the other team's
    const other = await pushImage(reg, up, 'v2', { seed: `${up}-secret2` });
    const theirs = other.layers[0]!;
    await berth.uploads.monolithic('team/private', theirs.digest, Readable.from([theirs.bytes]));
    proxy.intercept = (req, res) => {
      if (!req.url?.includes(`/blobs/${theirs.digest}`)) return false;
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"errors":[{"code":"BLOB_UNKNOWN"}]}');
      return true;
    };
    const before = await snapshot(berth, data);
    const failed = await sync('thief/app');
    expect(failed.state).toBe('failed');
    expect(failed.version).toBeNull();
    await expect(berth.blobs.stat('thief/app', theirs.digest)).rejects.toMatchObject({
      code: 'BLOB_UNKNOWN',
    });
    const after = await snapshot(berth, data);
    expect(after.rows.sync_runs).not.toEqual(before.rows.sync_runs);
    expect({ ...after.rows, sync_runs: [] }).toEqual({ ...before.rows, sync_runs: [] });
  });

  it('upstream failing mid-way (a truncated blob) fails the run: no version, no rows, no file left', async () => {
    const img = await pushImage(reg, up, 'v1', { seed: `${up}-cut`, layerSize: 256 * 1024 });
    const cut = img.layers[1]!;
    proxy.intercept = (req, res) => {
      if (!req.url?.includes(`/blobs/${cut.digest}`)) return false;
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(cut.size) });
      res.write(cut.bytes.subarray(0, 1000));
      setTimeout(() => res.destroy(), 20);
      return true;
    };
    const before = await snapshot(berth, data);
    const run = await sync('cut/app');
    expect(run.state).toBe('failed');
    expect(run.error).toBeTruthy();
    expect(await latest('cut/app')).toBeUndefined();
    const after = await snapshot(berth, data);
    expect({ ...after.rows, sync_runs: [] }).toEqual({ ...before.rows, sync_runs: [] });
    expect(after.files).toEqual(before.files);
    expect(sha256(cut.bytes)).toBe(cut.digest);
  });

  it('a second run of a repository while one goes on is refused (SYNC_BUSY); runs are listed newest first', async () => {
    await pushImage(reg, up, 'v1', { seed: `${up}-busy` });
    const first = await berth.syncs.start({
      repository: 'busy/app',
      remote: 'dist',
      upstream: up,
      trigger: 'api',
    });
    await expect(sync('busy/app')).rejects.toMatchObject({ code: 'SYNC_BUSY' });
    const done = await first.done;
    expect(done.state).toBe('succeeded');
    const second = await sync('busy/app');
    const runs = await berth.syncs.runs.list('busy/app');
    expect(runs.map((r) => r.id)).toEqual([second.id, first.run.id]);
  });
});
