// The quota metrics: each quota's limit and usage, counted on a scrape and reused for a while; no repository names.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ServerMetrics } from '../../src/http/metrics.js';
import { http, startTestServer, type TestServer } from '../helpers/in-process.js';
import { Registry } from '../registry/oci.js';
import { parseMetrics, valueOf } from './prometheus.js';

let s: TestServer;
let reg: Registry;
beforeAll(async () => {
  s = await startTestServer('usage-metrics');
  reg = new Registry(s.url);
});
afterAll(async () => s?.close());

const scrape = async (m: ServerMetrics) => parseMetrics(await m.registry.metrics());

describe('quota metrics', () => {
  it('berth_quota_limit_bytes and berth_quota_usage_bytes per quota; a removed quota leaves them', async () => {
    await reg.pushBlob('um/a', randomBytes(1000));
    await reg.pushBlob('um/b', randomBytes(300));
    await s.berth.quotas.set('um/*', 5000);
    await s.berth.quotas.set('um/a', 2000);
    const m = new ServerMetrics(s.berth, { processMetrics: false, usageMaxAgeMs: 0 });
    let samples = await scrape(m);
    expect(valueOf(samples, 'berth_quota_limit_bytes', { quota: 'um/*' })).toBe(5000);
    expect(valueOf(samples, 'berth_quota_usage_bytes', { quota: 'um/*' })).toBe(1300);
    expect(valueOf(samples, 'berth_quota_limit_bytes', { quota: 'um/a' })).toBe(2000);
    expect(valueOf(samples, 'berth_quota_usage_bytes', { quota: 'um/a' })).toBe(1000);
    await s.berth.quotas.remove('um/a');
    await reg.pushBlob('um/b', randomBytes(24));
    samples = await scrape(m);
    expect(valueOf(samples, 'berth_quota_usage_bytes', { quota: 'um/*' })).toBe(1324);
    expect(valueOf(samples, 'berth_quota_limit_bytes', { quota: 'um/a' })).toBeUndefined();
  });

  it('a scrape within the reuse time shows the figures of the scrape that counted them', async () => {
    const m = new ServerMetrics(s.berth, { processMetrics: false, usageMaxAgeMs: 3_600_000 });
    const first = valueOf(await scrape(m), 'berth_quota_usage_bytes', { quota: 'um/*' });
    await reg.pushBlob('um/c', randomBytes(10));
    expect(valueOf(await scrape(m), 'berth_quota_usage_bytes', { quota: 'um/*' })).toBe(first);
    const fresh = new ServerMetrics(s.berth, { processMetrics: false, usageMaxAgeMs: 3_600_000 });
    expect(valueOf(await scrape(fresh), 'berth_quota_usage_bytes', { quota: 'um/*' })).toBe(first! + 10);
  });

  it('GET /metrics (no credentials) serves them, and names no repository', async () => {
    const r = await http('GET', `${s.url}/metrics`, undefined, { authorization: '' });
    expect(r.status).toBe(200);
    const text = r.body.toString();
    expect(valueOf(parseMetrics(text), 'berth_quota_limit_bytes', { quota: 'um/*' })).toBe(5000);
    for (const repo of ['um/a', 'um/b', 'um/c']) expect(text).not.toContain(repo);
  });
});
