// Upstream manners against real registries behind the faulty proxy: retries, redirects, cut and wrong bytes, tag pages, limits.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Readable } from 'node:stream';
import { BerthError } from '../../src/core/errors.js';
import { createUpstream, type UpstreamOptions } from '../../src/sync/upstream-http.js';
import type { Upstream } from '../../src/sync/upstream.js';
import { describeUnless } from '../helpers/backend.js';
import { FakeClock } from '../helpers/fake-clock.js';
import { FaultyProxy } from '../helpers/faulty-proxy.js';
import {
  connectionTo,
  hasDistribution,
  NO_DISTRIBUTION,
  pushImage,
  startBerthUpstream,
  startDistribution,
  type PushedImage,
  type UpstreamRegistry,
} from '../helpers/upstreams.js';

async function readAll(s: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of s) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

async function failure(p: Promise<unknown>): Promise<BerthError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(BerthError);
  return e as BerthError;
}

const CREDS = { user: 'syncer', password: 'sync-pass' };
const MANIFEST = /\/manifests\//;
const BLOB = /\/blobs\//;

/** Options with a fake clock and a sleep that only records (no real waiting in these tests). */
function fakeTime(): { slept: number[]; opts: UpstreamOptions } {
  const clock = new FakeClock(Date.parse('2026-01-01T00:00:00Z'));
  const slept: number[] = [];
  return {
    slept,
    opts: {
      clock,
      sleep: async (ms) => {
        slept.push(ms);
        clock.advanceTo(clock.now() + ms);
      },
    },
  };
}

describeUnless(hasDistribution(), NO_DISTRIBUTION)(
  'Upstream manners (Distribution with Basic auth, behind a faulty proxy)',
  () => {
    let reg: UpstreamRegistry;
    let proxy: FaultyProxy;
    let img: PushedImage;
    const through = (opts: UpstreamOptions = {}, extra: object = {}): Upstream =>
      createUpstream({ ...connectionTo({ url: proxy.url, creds: CREDS }), ...extra }, opts);

    beforeAll(async () => {
      reg = await startDistribution({ creds: CREDS });
      img = await pushImage(reg, 'team/app', 'v1', { layers: 2, layerSize: 64 * 1024 });
      for (const t of ['v2', 'v3', 'v4', 'v5', 'v6', 'v7']) await pushImage(reg, 'team/app', t);
      proxy = await FaultyProxy.start(reg.url);
    }, 60_000);
    afterEach(() => proxy.reset());
    afterAll(async () => {
      await proxy?.stop();
      await reg?.stop();
    });

    it('waits as 429 Retry-After says, then succeeds; counts the retry and the 429', async () => {
      proxy.inject(
        { method: 'HEAD', path: MANIFEST },
        { kind: 'status', status: 429, headers: { 'retry-after': '7' } },
      );
      const { slept, opts } = fakeTime();
      const u = through(opts);
      const head = await u.headManifest('team/app', 'v1');
      expect(head?.digest).toBe(img.digest);
      expect(slept).toEqual([7000]);
      expect(u.stats).toMatchObject({ retries: 1, throttled: 1 });
      expect(proxy.requests.filter((r) => r.method === 'HEAD')[0]).toBeDefined();
    });

    it('backs off exponentially with jitter on 503 without Retry-After', async () => {
      proxy.inject({ method: 'GET', path: MANIFEST }, { kind: 'status', status: 503 }, 3);
      const { slept, opts } = fakeTime();
      const u = through({ ...opts, backoff: { baseMs: 100 } });
      expect((await u.getManifest('team/app', 'v1'))?.bytes.equals(img.manifest)).toBe(true);
      // the fake clock's random() is 0.5: each delay is 3/4 of base · 2^attempt
      expect(slept).toEqual([75, 150, 300]);
      expect(u.stats).toMatchObject({ retries: 3, throttled: 0 });
    });

    it('gives up after its retries with an error naming the remote and the status', async () => {
      proxy.inject({ method: 'HEAD', path: MANIFEST }, { kind: 'status', status: 503 }, 10);
      const { slept, opts } = fakeTime();
      const u = through({ ...opts, backoff: { retries: 2 } });
      const e = await failure(u.headManifest('team/app', 'v1'));
      expect(e.code).toBe('UPSTREAM_ERROR');
      expect(e.message).toMatch(
        /^remote upstream: HEAD \/v2\/team\/app\/manifests\/v1 answered 503 after 3 attempts/,
      );
      expect(e.detail).toMatchObject({ remote: 'upstream', kind: 'unavailable', status: 503 });
      expect(slept).toHaveLength(2);
    });

    it('does not wait when Retry-After asks for longer than the longest wait', async () => {
      proxy.inject(
        { method: 'GET', path: MANIFEST },
        { kind: 'status', status: 429, headers: { 'retry-after': '3600' } },
      );
      const { slept, opts } = fakeTime();
      const u = through(opts);
      const e = await failure(u.getManifest('team/app', 'v1'));
      expect(e.message).toMatch(/answered 429 \(Retry-After 3600 s\)/);
      expect(e.detail).toMatchObject({ kind: 'throttled', status: 429 });
      expect(slept).toEqual([]);
      expect(u.stats.throttled).toBe(1);
    });

    it('follows a redirect to another host without the Authorization header, and verifies the bytes', async () => {
      proxy.inject({ method: 'GET', path: BLOB }, { kind: 'redirect' });
      const u = through();
      const layer = img.layers[1]!;
      const bytes = await readAll(await u.getBlob('team/app', layer.digest, layer.size));
      expect(bytes.equals(layer.bytes)).toBe(true);
      const blobRequests = proxy.requests.filter((r) => BLOB.test(r.url));
      const first = blobRequests.filter((r) => !r.redirected);
      const redirected = blobRequests.filter((r) => r.redirected);
      expect(first.at(-1)?.authorization).toMatch(/^Basic /);
      expect(redirected).toHaveLength(1);
      expect(redirected[0]!.authorization).toBeUndefined();
    });

    it('fails a blob stream that breaks off, never ending it short', async () => {
      const layer = img.layers[0]!;
      proxy.inject({ method: 'GET', path: BLOB }, { kind: 'truncate', bytes: 1000 });
      const u = through();
      const stream = await u.getBlob('team/app', layer.digest, layer.size);
      const e = await failure(readAll(stream));
      expect(e.code).toBe('UPSTREAM_ERROR');
      expect(e.message).toMatch(new RegExp(`blob ${layer.digest} of team/app`));
    });

    it('fails a blob stream of wrong bytes under its digest', async () => {
      const layer = img.layers[0]!;
      proxy.inject({ method: 'GET', path: BLOB }, { kind: 'corrupt' });
      const u = through();
      const e = await failure(readAll(await u.getBlob('team/app', layer.digest, layer.size)));
      expect(e.message).toMatch(/its bytes hash to sha256:/);
      expect(e.detail).toMatchObject({ kind: 'bad-content' });
    });

    it('refuses manifest bytes that do not match the digest asked for or the one upstream sent', async () => {
      const u = through();
      proxy.inject({ method: 'GET', path: MANIFEST }, { kind: 'corrupt' });
      expect((await failure(u.getManifest('team/app', img.digest))).message).toMatch(
        /not the digest asked for/,
      );
      proxy.inject({ method: 'GET', path: MANIFEST }, { kind: 'corrupt' });
      expect((await failure(u.getManifest('team/app', 'v1'))).message).toMatch(/\(Docker-Content-Digest\)/);
    });

    it('refuses a manifest that breaks off', async () => {
      proxy.inject({ method: 'GET', path: MANIFEST }, { kind: 'truncate', bytes: 10 });
      const e = await failure(through().getManifest('team/app', 'v1'));
      expect(e.message).toMatch(/manifest team\/app:v1 broke off/);
    });

    it('a later client of the same remote sends the right credentials at once: 1 tags page and 1 HEAD per tag, no GET', async () => {
      const conn = { ...connectionTo({ url: proxy.url, creds: CREDS }), name: 'steady' };
      await createUpstream(conn).headManifest('team/app', 'v1');
      proxy.reset();
      const u = createUpstream(conn);
      const tags: string[] = [];
      for await (const page of u.tags('team/app')) tags.push(...page);
      for (const t of tags) expect(await u.headManifest('team/app', t)).toBeDefined();
      expect(tags).toHaveLength(7);
      expect(proxy.count('GET', /\/tags\/list$/)).toBe(1);
      expect(proxy.count('HEAD', MANIFEST)).toBe(7);
      expect(proxy.requests).toHaveLength(8);
      expect(proxy.requests.every((r) => r.authorization?.startsWith('Basic '))).toBe(true);
      expect(u.stats.requests).toEqual({ GET: 1, HEAD: 7 });
    });

    it('refuses a manifest larger than 4 MiB, declared or not', async () => {
      const big = Buffer.alloc(4 * 1024 * 1024 + 1, 0x20).toString();
      const ociType = { 'content-type': 'application/vnd.oci.image.manifest.v1+json' };
      proxy.inject(
        { method: 'GET', path: MANIFEST },
        { kind: 'status', status: 200, headers: ociType, body: big },
      );
      const e = await failure(through().getManifest('team/app', 'v1'));
      expect(e.message).toMatch(/manifest team\/app:v1 is 4194305 bytes, more than 4194304/);
      expect(e.detail).toMatchObject({ kind: 'bad-content' });
      // the same bytes sent chunked, with no Content-Length: cut off at the limit
      const chunked = { ...ociType, 'transfer-encoding': 'chunked' };
      proxy.inject(
        { method: 'GET', path: MANIFEST },
        { kind: 'status', status: 200, headers: chunked, body: big },
      );
      expect((await failure(through().getManifest('team/app', 'v1'))).message).toMatch(
        /larger than 4194304 bytes/,
      );
    });

    it('fails a request upstream does not answer within the idle time', async () => {
      proxy.inject({ method: 'HEAD', path: MANIFEST }, { kind: 'hold' });
      const e = await failure(through({ idleTimeoutMs: 200 }).headManifest('team/app', 'v1'));
      expect(e.message).toMatch(
        /HEAD http:\/\/127.0.0.1:\d+\/v2\/team\/app\/manifests\/v1 failed: no answer in 200 ms/,
      );
      expect(e.detail).toMatchObject({ kind: 'unreachable' });
      proxy.releaseAll();
    });

    it('fails with the remote named when nothing listens there', async () => {
      const gone = await FaultyProxy.start(reg.url);
      const url = gone.url;
      await gone.stop();
      const e = await failure(createUpstream(connectionTo({ url })).headManifest('team/app', 'v1'));
      expect(e.message).toMatch(
        /^remote upstream: HEAD http:\/\/127\.0\.0\.1:\d+\/v2\/team\/app\/manifests\/v1 failed: .*ECONNREFUSED/,
      );
      expect(e.detail).toMatchObject({ kind: 'unreachable' });
    });

    it('pages tags by Link, and a failing third page fails the listing after two pages', async () => {
      proxy.tagPaging = { pageSize: 3 };
      const pages: string[][] = [];
      for await (const p of through().tags('team/app')) pages.push(p);
      expect(pages).toEqual([['v1', 'v2', 'v3'], ['v4', 'v5', 'v6'], ['v7']]);
      proxy.reset();
      proxy.tagPaging = { pageSize: 2, failPage: 3 };
      const seen: string[][] = [];
      const e = await failure(
        (async () => {
          for await (const p of through().tags('team/app')) seen.push(p);
        })(),
      );
      expect(seen).toEqual([
        ['v1', 'v2'],
        ['v3', 'v4'],
      ]);
      expect(e.message).toMatch(/tags\/list answered 500/);
      expect(proxy.count('GET', /tags\/list/)).toBeGreaterThanOrEqual(3);
    });

    it('keeps the last ratelimit-remaining upstream sent and reports each one', async () => {
      const seen: number[] = [];
      const u = through({ onRateLimit: (n) => seen.push(n) });
      expect(u.rateLimitRemaining).toBeUndefined();
      proxy.inject(
        { method: 'HEAD', path: MANIFEST },
        { kind: 'headers', headers: { 'ratelimit-remaining': '76;w=21600' } },
      );
      proxy.inject(
        { method: 'HEAD', path: MANIFEST },
        { kind: 'headers', headers: { 'ratelimit-remaining': '75;w=21600' } },
      );
      await u.headManifest('team/app', 'v1');
      await u.headManifest('team/app', 'v2');
      expect(u.rateLimitRemaining).toBe(75);
      expect(seen.slice(-2)).toEqual([76, 75]);
    });

    /** Six HEADs held at the proxy, released one at a time once `waitFor` are held (or nothing more comes). */
    async function heldHeads(u: Upstream, waitFor: number) {
      proxy.inject({ method: 'HEAD', path: MANIFEST }, { kind: 'hold' }, 100);
      let done = false;
      const all = Promise.all(['v1', 'v2', 'v3', 'v4', 'v5', 'v6'].map((t) => u.headManifest('team/app', t)));
      all.then(
        () => (done = true),
        () => (done = true),
      );
      const tick = () => new Promise((r) => setImmediate(r));
      while (!done) {
        for (let i = 0; i < 200 && proxy.holding < waitFor && !done; i++) await tick();
        proxy.release();
        await tick();
      }
      return all;
    }

    it('keeps at most `concurrency` requests in flight', async () => {
      const heads = await heldHeads(through({}, { name: 'narrow', concurrency: 2 }), 2);
      expect(heads.every((h) => h !== undefined)).toBe(true);
      expect(proxy.maxInFlight).toBe(2);
      // the same with room for six: the proxy sees more at once (so the check above can fail)
      proxy.reset();
      await heldHeads(through({}, { name: 'wide', concurrency: 6 }), 6);
      expect(proxy.maxInFlight).toBeGreaterThan(2);
    });

    it('takes a token from the bucket before each request', async () => {
      const { slept, opts } = fakeTime();
      const u = through(opts, { name: 'paced', requestsPerSecond: 2 });
      for (const t of ['v1', 'v2', 'v3', 'v4']) await u.headManifest('team/app', t);
      const requests = u.stats.requests.HEAD!;
      // a burst of 2, then one every 500 ms: each request past the burst waited for its token
      expect(slept.filter((ms) => ms === 500)).toHaveLength(requests - 2);
    });
  },
);

describe('Upstream token flow through the faulty proxy (berth upstream)', () => {
  let reg: UpstreamRegistry;
  let proxy: FaultyProxy;
  beforeAll(async () => {
    reg = await startBerthUpstream();
    await pushImage(reg, 'team/app', 'v1');
    proxy = await FaultyProxy.start(reg.url);
  });
  afterEach(() => proxy.reset());
  afterAll(async () => {
    await proxy?.stop();
    await reg?.stop();
  });

  it('refreshes the token when upstream refuses one that worked before', async () => {
    const u = createUpstream(connectionTo({ url: proxy.url, creds: reg.creds }));
    expect(await u.headManifest('team/app', 'v1')).toBeDefined();
    const before = proxy.count('HEAD', MANIFEST);
    // upstream "forgets" the token: it answers this request with its 401 and challenge
    proxy.inject({ method: 'HEAD', path: MANIFEST }, { kind: 'drop-auth' });
    expect(await u.headManifest('team/app', 'v1')).toBeDefined();
    expect(proxy.count('HEAD', MANIFEST) - before).toBe(2);
    const tokens = proxy.requests.filter((r) => r.authorization?.startsWith('Bearer '));
    expect(new Set(tokens.map((r) => r.authorization)).size).toBe(2);
  });

  it('a later client of the same remote reuses the token: one HEAD, no challenge', async () => {
    const conn = { ...connectionTo({ url: proxy.url, creds: reg.creds }), name: 'steady-berth' };
    await createUpstream(conn).headManifest('team/app', 'v1');
    proxy.reset();
    const u = createUpstream(conn);
    expect(await u.headManifest('team/app', 'v1')).toBeDefined();
    expect(proxy.requests).toHaveLength(1);
    expect(proxy.requests[0]!.authorization).toMatch(/^Bearer /);
  });

  it('fails, not loops, when a fresh token is refused', async () => {
    const u = createUpstream(connectionTo({ url: proxy.url, creds: reg.creds }));
    proxy.inject({ method: 'HEAD', path: MANIFEST }, { kind: 'drop-auth' }, 10);
    const e = await failure(u.headManifest('team/app', 'v1'));
    expect(e.detail).toMatchObject({ kind: 'unauthorized', status: 401 });
    // the cached token refused, then a fresh one refused: no third try
    expect(proxy.count('HEAD', MANIFEST)).toBe(2);
  });
});
