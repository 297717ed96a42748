// The pull-through cache against a real CNCF Distribution (Basic auth) behind a fault-injecting proxy: first pull, checks, moved tags, stale serving, digests, indexes, refusals.
import { afterAll, beforeAll, beforeEach, describe, expect } from 'vitest';
import { sha256 } from '../../src/core/digest.js';
import { createUpstream } from '../../src/sync/upstream-http.js';
import { skipUnless } from '../helpers/backend.js';
import { FakeClock } from '../helpers/fake-clock.js';
import { FaultyProxy } from '../helpers/faulty-proxy.js';
import { ANONYMOUS, basic, http, startTestServer, type TestServer } from '../helpers/in-process.js';
import {
  hasDistribution,
  NO_DISTRIBUTION,
  pushImage,
  pushIndex,
  startDistribution,
  type UpstreamRegistry,
} from '../helpers/upstreams.js';

const it = skipUnless(hasDistribution(), NO_DISTRIBUTION);
const CREDS = { user: 'cacher', password: 'cache-test-password' };
const ACCEPT = {
  accept: [
    'application/vnd.oci.image.manifest.v1+json',
    'application/vnd.oci.image.index.v1+json',
    'application/vnd.docker.distribution.manifest.v2+json',
  ].join(', '),
};
const CHECK = 60;
const STALE = 600;

describe('pull-through cache from Distribution', () => {
  let reg: UpstreamRegistry;
  let proxy: FaultyProxy;
  let s: TestServer;
  const clock = new FakeClock(Date.UTC(2026, 0, 1));
  let n = 0;
  /** a fresh upstream repository per test, and its name under the cache */
  let up: string;
  let local: string;

  beforeAll(async () => {
    if (!hasDistribution()) return;
    reg = await startDistribution({ creds: CREDS });
    proxy = await FaultyProxy.start(reg.url);
    s = await startTestServer('pull-through', {
      clock,
      // the real client, with backoff that does not sleep (429 and 503 are retried at once)
      upstreamFor: async (name) =>
        createUpstream((await s.berth.remotes.get(name)).connection, { sleep: async () => {} }),
    });
    await s.berth.remotes.add({
      name: 'dist',
      url: proxy.url,
      username: CREDS.user,
      password: CREDS.password,
    });
    await s.berth.caches.add({
      name: 'dist',
      remote: 'dist',
      prefix: 'cache/dist',
      checkSeconds: CHECK,
      staleSeconds: STALE,
    });
  });
  afterAll(async () => {
    await s?.close();
    await proxy?.stop();
    await reg?.stop();
  });
  beforeEach(() => {
    n++;
    up = `library/app${n}`;
    local = `cache/dist/${up}`;
    proxy?.reset();
  });

  const get = (ref: string, method = 'GET', headers: Record<string, string> = {}) =>
    http(method, `${s.url}/v2/${local}/manifests/${ref}`, undefined, { ...ACCEPT, ...headers });
  const blob = (digest: string) => http('GET', `${s.url}/v2/${local}/blobs/${digest}`);
  const versions = async () => (await s.berth.repositories.find(local))?.info.latestVersion ?? 0;
  /** manifest requests sent upstream with credentials (a client's first, anonymous, try at a remote is not counted) */
  const upstreamManifestRequests = (method: string) =>
    proxy.requests.filter((r) => r.method === method && /\/manifests\//.test(r.url) && r.authorization)
      .length;
  const cacheTag = (reference: string) =>
    s.berth.db.kysely
      .selectFrom('cache_tags')
      .selectAll()
      .where('repository', '=', local)
      .where('reference', '=', reference)
      .executeTakeFirst();

  it('first pull by tag: one GET upstream, one version holding the manifest byte for byte and its blobs on demand; blobs stream through', async () => {
    const img = await pushImage(reg, up, '3.20', { layers: 2 });
    proxy.reset();
    const r = await get('3.20');
    expect(r.status, r.body.toString()).toBe(200);
    expect(r.body.equals(img.manifest)).toBe(true);
    expect(r.headers['docker-content-digest']).toBe(img.digest);
    expect([
      upstreamManifestRequests('GET'),
      upstreamManifestRequests('HEAD'),
      proxy.count('GET', /\/blobs\//),
    ]).toEqual([1, 0, 0]);
    expect(await versions()).toBe(1);
    const repo = await s.berth.db.kysely
      .selectFrom('repositories')
      .select(['cache', 'last_pulled_at'])
      .where('name', '=', local)
      .executeTakeFirstOrThrow();
    expect(repo).toEqual({ cache: 'dist', last_pulled_at: clock.now() });
    const onDemand = await s.berth.db.kysely
      .selectFrom('on_demand_blobs')
      .select(['digest', 'remote', 'upstream'])
      .where('repository', '=', local)
      .orderBy('digest')
      .execute();
    const blobs = [img.config, ...img.layers].map((b) => b.digest).sort();
    expect(onDemand).toEqual(blobs.map((digest) => ({ digest, remote: 'dist', upstream: up })));
    expect(await cacheTag('3.20')).toMatchObject({ digest: img.digest, checked_at: clock.now() });

    for (const b of [img.config, ...img.layers]) {
      const got = await blob(b.digest);
      expect(got.status).toBe(200);
      expect(sha256(got.body)).toBe(b.digest);
    }
    expect(proxy.count('GET', /\/blobs\//)).toBe(3);
    // pulled again within check_seconds: nothing asked upstream, no new version
    proxy.reset();
    expect((await get('3.20', 'HEAD')).status).toBe(200);
    expect((await get('3.20')).body.equals(img.manifest)).toBe(true);
    expect(proxy.requests).toEqual([]);
    expect(await versions()).toBe(1);
  });

  it('after check_seconds: one HEAD upstream; unchanged makes no version, a moved tag exactly one', async () => {
    await pushImage(reg, up, 'v1', { seed: 'one' });
    expect((await get('v1')).status).toBe(200);
    expect(await versions()).toBe(1);

    clock.advanceTo(clock.now() + CHECK * 1000 + 1);
    proxy.reset();
    expect((await get('v1')).status).toBe(200);
    expect([upstreamManifestRequests('HEAD'), upstreamManifestRequests('GET')]).toEqual([1, 0]);
    expect(await versions()).toBe(1);
    expect((await cacheTag('v1'))?.checked_at).toBe(clock.now());

    const moved = await pushImage(reg, up, 'v1', { seed: 'two' });
    clock.advanceTo(clock.now() + CHECK * 1000 + 1);
    proxy.reset();
    const r = await get('v1');
    expect(r.body.equals(moved.manifest)).toBe(true);
    expect([upstreamManifestRequests('HEAD'), upstreamManifestRequests('GET')]).toEqual([1, 1]);
    // the GET was by digest: the bytes are checked against what HEAD said
    expect(
      proxy.requests.some((q) => q.method === 'GET' && q.url.endsWith(`/manifests/${moved.digest}`)),
    ).toBe(true);
    expect(await versions()).toBe(2);
    expect((await cacheTag('v1'))?.digest).toBe(moved.digest);
  });

  it('upstream failing or throttling: a tag checked within stale_seconds is served (Warning), older ones are 503 naming the remote', async () => {
    const img = await pushImage(reg, up, 'v1');
    expect((await get('v1')).status).toBe(200);
    clock.advanceTo(clock.now() + CHECK * 1000 + 1);
    proxy.inject({ path: /\/manifests\// }, { kind: 'status', status: 503 }, 100);
    const stale = await get('v1');
    expect(stale.status).toBe(200);
    expect(stale.body.equals(img.manifest)).toBe(true);
    expect(stale.headers.warning).toMatch(/^110 /);
    proxy.reset();
    proxy.inject(
      { path: /\/manifests\// },
      { kind: 'status', status: 429, headers: { 'retry-after': '0' } },
      100,
    );
    expect((await get('v1')).status).toBe(200);
    expect(proxy.count('HEAD', /\/manifests\//)).toBeGreaterThan(1); // retried, then gave up
    expect(await versions()).toBe(1);

    clock.advanceTo(clock.now() + STALE * 1000);
    const gone = await get('v1');
    expect(gone.status).toBe(503);
    const e = gone.json().errors[0];
    expect(e.code).toBe('UNAVAILABLE');
    expect(e.message).toMatch(new RegExp(`cache dist could not get ${up}:v1 from remote dist`));
    // a tag never pulled has nothing to fall back on
    const never = await get('other');
    expect([never.status, never.json().errors[0].code]).toEqual([503, 'UNAVAILABLE']);
    proxy.reset();
    // upstream back: the tag is checked again and served fresh
    expect((await get('v1')).headers.warning).toBeUndefined();
  });

  it('a tag upstream does not have: 404 MANIFEST_UNKNOWN naming upstream, and nothing is made', async () => {
    const r = await get('nope');
    expect(r.status).toBe(404);
    expect(r.json().errors[0].code).toBe('MANIFEST_UNKNOWN');
    expect(r.json().errors[0].message).toMatch(
      new RegExp(`upstream ${up} at remote dist \\(cache dist\\) has none`),
    );
    expect(await s.berth.repositories.find(local)).toBeUndefined();
  });

  it('pulls by digest: fetched once and kept without a tag; a pull by digest keeps the tags that resolved to it', async () => {
    const pinned = await pushImage(reg, up, undefined, { seed: 'pinned' });
    const r = await get(pinned.digest);
    expect(r.status).toBe(200);
    expect(r.body.equals(pinned.manifest)).toBe(true);
    expect(await versions()).toBe(1);
    proxy.reset();
    expect((await get(pinned.digest)).status).toBe(200);
    expect(proxy.requests).toEqual([]); // digests never change: never asked again
    expect(await cacheTag(pinned.digest)).toMatchObject({ digest: pinned.digest });

    const tagged = await pushImage(reg, up, 'v2', { seed: 'tagged' });
    expect((await get('v2')).status).toBe(200);
    const pulledAt = (await cacheTag('v2'))!.pulled_at;
    clock.advanceTo(clock.now() + 3600_000);
    expect((await get(tagged.digest)).status).toBe(200);
    expect((await cacheTag('v2'))!.pulled_at).toBe(clock.now());
    expect((await cacheTag('v2'))!.pulled_at).toBeGreaterThan(pulledAt);
  });

  it('an index: committed alone (sparse); a platform pulled by digest adds that child only', async () => {
    const idx = await pushIndex(reg, up, 'multi', [
      { os: 'linux', architecture: 'amd64' },
      { os: 'linux', architecture: 'arm64' },
    ]);
    proxy.reset();
    const r = await get('multi');
    expect(r.body.equals(idx.bytes)).toBe(true);
    expect(upstreamManifestRequests('GET')).toBe(1);
    const arm = idx.children[1]!;
    const child = await get(arm.digest);
    expect(child.body.equals(arm.manifest)).toBe(true);
    expect(await versions()).toBe(2);
    const manifests = await s.berth.db.kysely
      .selectFrom('repository_content as c')
      .innerJoin('repositories as r', 'r.id', 'c.repository_id')
      .select('c.key')
      .where('r.name', '=', local)
      .where('c.kind', '=', 'manifest')
      .where('c.version_removed', 'is', null)
      .execute();
    expect(manifests.map((m) => m.key).sort()).toEqual([idx.digest, arm.digest].sort());
    // pulling the platform by digest kept the tag of the index that names it
    clock.advanceTo(clock.now() + 3600_000);
    expect((await get(arm.digest)).status).toBe(200);
    expect((await cacheTag('multi'))!.pulled_at).toBe(clock.now());
  });

  it('concurrent first pulls of one tag make one version', async () => {
    const img = await pushImage(reg, up, 'v1');
    const all = await Promise.all(Array.from({ length: 5 }, () => get('v1')));
    for (const r of all) expect(r.body.equals(img.manifest)).toBe(true);
    expect(await versions()).toBe(1);
  });

  it('cache repositories refuse pushes (DENIED naming the cache), after the usual access check', async () => {
    await pushImage(reg, up, 'v1');
    expect((await get('v1')).status).toBe(200);
    for (const [method, path] of [
      ['POST', `/v2/${local}/blobs/uploads/`],
      ['PUT', `/v2/${local}/manifests/v2`],
      ['POST', '/v2/cache/dist/not/yet/blobs/uploads/'],
      ['POST', `/api/v1/repositories/${local}/-/archives`],
    ] as const) {
      const r = await http(method, `${s.url}${path}`, Buffer.from('{}'), {
        'content-type': 'application/json',
      });
      expect(r.status, `${method} ${path}`).toBe(403);
      expect(r.json().errors[0]).toMatchObject({ code: 'DENIED', detail: { cache: 'dist' } });
      expect(r.json().errors[0].message).toMatch(/belongs to the pull-through cache dist/);
    }
    // anonymous: the usual challenge, the cache not named
    const anon = await http('POST', `${s.url}/v2/${local}/blobs/uploads/`, undefined, ANONYMOUS);
    expect(anon.status).toBe(401);
  });

  it('creating a cache repository needs pull rights on the namespace; anonymous only when it is public', async () => {
    await pushImage(reg, up, 'v1');
    await s.berth.auth.users.create(`other${n}`, 'other-password-123');
    await s.berth.auth.users.grant(`other${n}`, 'elsewhere/*', ['pull']);
    proxy.reset();
    const denied = await get('v1', 'GET', { authorization: basic(`other${n}`, 'other-password-123') });
    expect(denied.status).toBe(403);
    const anon = await get('v1', 'GET', ANONYMOUS);
    expect(anon.status).toBe(401);
    expect(proxy.requests).toEqual([]);
    expect(await s.berth.repositories.find(local)).toBeUndefined();

    await s.berth.auth.users.addPublic(`cache/dist/library/app${n}`);
    const pub = await get('v1', 'GET', ANONYMOUS);
    expect(pub.status).toBe(200);
    expect(await versions()).toBe(1);
  });

  it("containerd's ?ns= mirror requests: the cache whose remote is that host serves them", async () => {
    const img = await pushImage(reg, up, 'v1');
    const ns = `ns=${encodeURIComponent(proxy.hostPort)}`;
    const r = await http('GET', `${s.url}/v2/${up}/manifests/v1?${ns}`, undefined, ACCEPT);
    expect(r.status, r.body.toString()).toBe(200);
    expect(r.body.equals(img.manifest)).toBe(true);
    expect(await versions()).toBe(1);
    const layer = img.layers[0]!;
    const b = await http('GET', `${s.url}/v2/${up}/blobs/${layer.digest}?${ns}`);
    expect([b.status, sha256(b.body)]).toEqual([200, layer.digest]);
    // a host no cache serves: the path as it is (no such repository here)
    const other = await http('GET', `${s.url}/v2/${up}/manifests/v1?ns=quay.io`, undefined, ACCEPT);
    expect([other.status, other.json().errors[0].code]).toEqual([404, 'NAME_UNKNOWN']);
  });
});
