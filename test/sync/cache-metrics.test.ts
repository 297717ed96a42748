// /metrics of the pull-through cache and on-demand blobs, against a real Distribution behind a fault-injecting proxy: hits, revalidations, misses, stale, absent, failed; fetches ok and failed with their bytes.
import { afterAll, beforeAll, beforeEach, describe, expect } from 'vitest';
import { createUpstream } from '../../src/sync/upstream-http.js';
import { skipUnless } from '../helpers/backend.js';
import { FakeClock } from '../helpers/fake-clock.js';
import { FaultyProxy } from '../helpers/faulty-proxy.js';
import { http, startTestServer, type TestServer } from '../helpers/in-process.js';
import {
  hasDistribution,
  NO_DISTRIBUTION,
  pushImage,
  startDistribution,
  type UpstreamRegistry,
} from '../helpers/upstreams.js';
import { parseMetrics, valueOf } from '../http/prometheus.js';

const it = skipUnless(hasDistribution(), NO_DISTRIBUTION);
const ACCEPT = { accept: 'application/vnd.oci.image.manifest.v1+json' };
const CHECK = 60;
const STALE = 600;

describe('cache and on-demand metrics', () => {
  let reg: UpstreamRegistry;
  let proxy: FaultyProxy;
  let s: TestServer;
  const clock = new FakeClock(Date.UTC(2026, 0, 1));
  let n = 0;
  let up: string;
  let local: string;

  beforeAll(async () => {
    if (!hasDistribution()) return;
    reg = await startDistribution();
    proxy = await FaultyProxy.start(reg.url);
    s = await startTestServer('cache-metrics', {
      clock,
      upstreamFor: async (name) =>
        createUpstream((await s.berth.remotes.get(name)).connection, { sleep: async () => {} }),
    });
    await s.berth.remotes.add({ name: 'dist', url: proxy.url });
    await s.berth.caches.add({
      name: 'mx',
      remote: 'dist',
      prefix: 'cache/mx',
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
    up = `library/m${n}`;
    local = `cache/mx/${up}`;
    proxy?.reset();
  });

  const get = (ref: string, method = 'GET') =>
    http(method, `${s.url}/v2/${local}/manifests/${ref}`, undefined, ACCEPT);
  const metrics = async () => parseMetrics((await http('GET', `${s.url}/metrics`)).body.toString());
  const pulls = async (outcome: string) =>
    valueOf(await metrics(), 'berth_cache_pulls_total', { cache: 'mx', outcome }) ?? 0;
  /** the change of every outcome's count over `step` */
  async function counted(step: () => Promise<void>): Promise<Record<string, number>> {
    const outcomes = ['hit', 'revalidated', 'miss', 'stale', 'absent', 'failed'];
    const before = await Promise.all(outcomes.map(pulls));
    await step();
    const after = await Promise.all(outcomes.map(pulls));
    return Object.fromEntries(outcomes.map((o, i) => [o, after[i]! - before[i]!]).filter(([, d]) => d !== 0));
  }

  it('each pull under the cache counts once, by outcome', async () => {
    await pushImage(reg, up, 'v1', { layers: 1 });
    const status = async (ref: string, want: number, method = 'GET') =>
      expect((await get(ref, method)).status).toBe(want);
    expect(await counted(() => status('v1', 200))).toEqual({ miss: 1 });
    expect(await counted(() => status('v1', 200, 'HEAD'))).toEqual({ hit: 1 });
    clock.advanceTo(clock.now() + CHECK * 1000 + 1);
    expect(await counted(() => status('v1', 200))).toEqual({ revalidated: 1 });
    expect(await counted(() => status('nope', 404))).toEqual({ absent: 1 });
    clock.advanceTo(clock.now() + CHECK * 1000 + 1);
    proxy.inject({ path: /\/manifests\// }, { kind: 'status', status: 503 }, 100);
    expect(await counted(() => status('v1', 200))).toEqual({ stale: 1 });
    expect(await counted(() => status('v2', 503))).toEqual({ failed: 1 });
    // outside every cache: nothing counted
    expect(await counted(async () => void (await http('GET', `${s.url}/v2/other/manifests/v1`)))).toEqual({});
  });

  it('on-demand fetches: ok with the blob bytes, failed when upstream sends wrong bytes; a blob in the store counts nothing', async () => {
    const img = await pushImage(reg, up, 'v1', { layers: 2 });
    expect((await get('v1')).status).toBe(200);
    const fetches = async (outcome: string) =>
      valueOf(await metrics(), 'berth_on_demand_fetches_total', { remote: 'dist', outcome }) ?? 0;
    const bytes = async () =>
      valueOf(await metrics(), 'berth_on_demand_fetched_bytes_total', { remote: 'dist' }) ?? 0;
    const [ok0, failed0, bytes0] = [await fetches('ok'), await fetches('failed'), await bytes()];
    const [a, b] = img.layers;
    const blob = (digest: string) => http('GET', `${s.url}/v2/${local}/blobs/${digest}`);
    expect((await blob(a!.digest)).status).toBe(200);
    expect([await fetches('ok'), await bytes()]).toEqual([ok0 + 1, bytes0 + a!.size]);
    // the second GET reads the store
    expect((await blob(a!.digest)).status).toBe(200);
    expect([await fetches('ok'), await bytes()]).toEqual([ok0 + 1, bytes0 + a!.size]);
    proxy.inject({ path: /\/blobs\// }, { kind: 'corrupt' });
    const wrong = await blob(b!.digest).catch(() => undefined);
    expect(wrong?.body.length ?? 0).toBeLessThan(b!.size);
    await expect.poll(() => fetches('failed')).toBe(failed0 + 1);
    expect([await fetches('ok'), await bytes()]).toEqual([ok0 + 1, bytes0 + a!.size]);
  });
});
