// GET /metrics over HTTP: request counts, durations and bytes by route, upload sessions, cleanup, database pool, process.
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { http, startTestServer, type TestServer } from '../helpers/in-process.js';
import { selectedBackend } from '../helpers/backend.js';
import { sha } from '../helpers/images.js';
import { Registry, ociImage } from '../registry/oci.js';
import { startServer } from '../../src/server.js';
import { removeTestDatabase, testDatabaseUrl } from '../helpers/backend.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseMetrics, valueOf, type Sample } from './prometheus.js';

let s: TestServer;
let reg: Registry;
beforeAll(async () => {
  s = await startTestServer('metrics');
  reg = new Registry(s.url);
});
afterAll(async () => s?.close());

async function scrape(url: string): Promise<Sample[]> {
  const r = await http('GET', `${url}/metrics`);
  expect(r.status).toBe(200);
  expect(r.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
  return parseMetrics(r.body.toString());
}

const REPO = 'metrics/app';

describe('GET /metrics', () => {
  it('counts requests by route name, method and status, never by repository or digest', async () => {
    const img = ociImage({ n: 2 });
    await reg.pushImage(REPO, img, '1.0');
    expect((await reg.req('GET', `/v2/${REPO}/tags/list`)).status).toBe(200);
    expect((await reg.req('GET', `/v2/_catalog`)).status).toBe(200);
    expect((await reg.req('GET', `/v2/${REPO}/manifests/nope`)).status).toBe(404);
    expect((await reg.req('GET', `/api/v1/repositories`)).status).toBe(200);
    // a repository called like a route still counts under the route its path matches
    expect((await reg.req('GET', `/v2/a/blobs/b/manifests/latest`)).status).toBe(404);
    // no route: one fixed label, whatever the path
    expect((await reg.req('GET', `/v2/${REPO}/nothing-here`)).status).toBe(404);
    expect((await http('GET', `${s.url}/favicon.ico`)).status).toBe(404);
    expect((await reg.req('DELETE', `/v2/_catalog`)).status).toBe(405);
    const m = await scrape(s.url);
    const count = (route: string, method: string, status: string) =>
      valueOf(m, 'berth_http_requests_total', { route, method, status });
    expect(count('manifest.put', 'PUT', '201')).toBe(1);
    expect(count('manifest.get', 'GET', '404')).toBe(2);
    expect(count('upload.start', 'POST', '202')).toBe(img.blobs.length);
    expect(count('upload.finish', 'PUT', '201')).toBe(img.blobs.length);
    expect(count('tags.list', 'GET', '200')).toBe(1);
    expect(count('catalog', 'GET', '200')).toBe(1);
    expect(count('repository.list', 'GET', '200')).toBe(1);
    expect(count('unmatched', 'GET', '404')).toBe(2);
    expect(count('unmatched', 'DELETE', '405')).toBe(1);
    expect(
      valueOf(m, 'berth_http_request_duration_seconds_count', { route: 'manifest.put', method: 'PUT' }),
    ).toBe(1);
    expect(
      valueOf(m, 'berth_http_request_duration_seconds_bucket', {
        route: 'manifest.put',
        method: 'PUT',
        le: '+Inf',
      }),
    ).toBe(1);
    const routes = new Set(
      m.filter((x) => x.name === 'berth_http_requests_total').map((x) => x.labels.route),
    );
    expect([...routes].sort()).toEqual([
      'catalog',
      'manifest.get',
      'manifest.put',
      'repository.list',
      'tags.list',
      'unmatched',
      'upload.finish',
      'upload.start',
    ]);
    const text = (await http('GET', `${s.url}/metrics`)).body.toString();
    expect(text).not.toContain(REPO);
    expect(text).not.toContain(img.digest);
  });

  it('counts bytes received and sent, streamed bodies without a length included', async () => {
    const before = await scrape(s.url);
    const chunk = randomBytes(200_000);
    const start = await reg.startSession(REPO);
    expect(start.status).toBe(202);
    // a chunked (no Content-Length) PATCH, then the PUT that finishes it
    const patch = await http(
      'PATCH',
      reg.url(start.headers.location),
      Readable.from([chunk.subarray(0, 100_000), chunk.subarray(100_000)]),
      {
        'content-type': 'application/octet-stream',
      },
    );
    expect(patch.status, patch.body.toString()).toBe(202);
    expect(patch.headers['content-length']).toBe('0');
    const put = await http('PUT', `${reg.url(patch.headers.location)}?digest=${sha(chunk)}`);
    expect(put.status, put.body.toString()).toBe(201);
    const get = await reg.req('GET', `/v2/${REPO}/blobs/${sha(chunk)}`); // pushed blobs are the repository's
    expect(get.status).toBe(200);
    expect(get.body.equals(chunk)).toBe(true);
    let after = await scrape(s.url);
    const delta = (name: string, route: string) =>
      (valueOf(after, name, { route }) ?? 0) - (valueOf(before, name, { route }) ?? 0);
    // a streamed answer counts once its source has ended, which may be just after the client has read it all
    for (let i = 0; i < 20 && delta('berth_http_sent_bytes_total', 'blob.get') < chunk.length; i++) {
      await new Promise((r) => setTimeout(r, 50));
      after = await scrape(s.url);
    }
    expect(delta('berth_http_received_bytes_total', 'upload.patch')).toBeGreaterThanOrEqual(chunk.length);
    expect(delta('berth_http_received_bytes_total', 'upload.patch')).toBeLessThan(chunk.length + 5000);
    expect(delta('berth_http_sent_bytes_total', 'blob.get')).toBeGreaterThanOrEqual(chunk.length);
    expect(delta('berth_http_sent_bytes_total', 'blob.get')).toBeLessThan(chunk.length + 5000);
  });

  it('reports open upload sessions from the database', async () => {
    const before = valueOf(await scrape(s.url), 'berth_upload_sessions_open');
    expect(before).toBe(0);
    const a = await reg.startSession(REPO);
    const b = await reg.startSession(REPO);
    expect(valueOf(await scrape(s.url), 'berth_upload_sessions_open')).toBe(2);
    expect((await http('DELETE', reg.url(a.headers.location))).status).toBe(204);
    expect((await http('DELETE', reg.url(b.headers.location))).status).toBe(204);
    expect(valueOf(await scrape(s.url), 'berth_upload_sessions_open')).toBe(0);
  });

  it('counts cleanup runs and what they removed', async () => {
    const orphan = randomBytes(3000);
    await reg.pushBlob('metrics/orphan', orphan);
    await s.berth.db.kysely.deleteFrom('pending_blobs').where('digest', '=', sha(orphan)).execute();
    // and an image whose manifest is deleted: its two blobs leave the repository's latest version
    const img = ociImage({ n: 1 });
    await reg.pushImage('metrics/deleted', img, 'v1');
    expect((await reg.req('DELETE', `/v2/metrics/deleted/manifests/${img.digest}`)).status).toBe(202);
    const body = (dryRun: boolean) => JSON.stringify({ dryRun, protectionSeconds: 0 });
    const json = { 'content-type': 'application/json' };
    expect((await http('POST', `${s.url}/api/v1/cleanup`, body(true), json)).status).toBe(200);
    const run = await http('POST', `${s.url}/api/v1/cleanup`, body(false), json);
    expect(run.status).toBe(200);
    expect(run.json().digests).toContain(sha(orphan));
    const m = await scrape(s.url);
    expect(valueOf(m, 'berth_cleanup_runs_total', { dry_run: 'true' })).toBe(1);
    expect(valueOf(m, 'berth_cleanup_runs_total', { dry_run: 'false' })).toBe(1);
    expect(valueOf(m, 'berth_cleanup_removed_blobs_total')).toBe(run.json().removed.blobs);
    expect(valueOf(m, 'berth_cleanup_removed_bytes_total')).toBe(run.json().removed.bytes);
    expect(run.json().removed.bytes).toBeGreaterThanOrEqual(orphan.length);
    expect(valueOf(m, 'berth_cleanup_unreferenced_blobs_total')).toBe(2);
    expect(valueOf(m, 'berth_cleanup_unreferenced_bytes_total')).toBe(
      img.config!.length + img.layers[0]!.length,
    );
    expect(valueOf(m, 'berth_cleanup_untagged_manifests_total')).toBe(0);
  });

  it('reports the database connection pool and the process', async () => {
    const m = await scrape(s.url);
    if (selectedBackend() === 'postgres') {
      expect(valueOf(m, 'berth_database_connections', { dialect: 'postgres' })).toBeGreaterThanOrEqual(1);
      expect(valueOf(m, 'berth_database_connections_idle', { dialect: 'postgres' })).toBeGreaterThanOrEqual(
        0,
      );
      // (the sessions gauge's own query may be waiting for a connection being opened)
      expect(valueOf(m, 'berth_database_waiting_queries', { dialect: 'postgres' })).toBeGreaterThanOrEqual(0);
    } else {
      expect(valueOf(m, 'berth_database_connections', { dialect: 'sqlite' })).toBe(1);
      expect(valueOf(m, 'berth_database_connections_idle')).toBeUndefined();
      expect(valueOf(m, 'berth_database_waiting_queries')).toBeUndefined();
    }
    expect(valueOf(m, 'process_cpu_user_seconds_total')).toBeGreaterThan(0);
    expect(valueOf(m, 'nodejs_heap_size_used_bytes')).toBeGreaterThan(0);
    expect(valueOf(m, 'process_start_time_seconds')).toBeGreaterThan(0);
  });

  it('keeps one registry per server: another server in this process counts only its own requests', async () => {
    const other = await startTestServer('metrics-other');
    try {
      expect((await http('GET', `${other.url}/v2/`)).status).toBe(200);
      const m = await scrape(other.url);
      expect(valueOf(m, 'berth_http_requests_total', { route: 'base', method: 'GET', status: '200' })).toBe(
        1,
      );
      expect(
        valueOf(m, 'berth_http_requests_total', { route: 'manifest.put', method: 'PUT', status: '201' }),
      ).toBeUndefined();
      const mine = await scrape(s.url);
      expect(
        valueOf(mine, 'berth_http_requests_total', { route: 'base', method: 'GET', status: '200' }),
      ).toBeUndefined();
    } finally {
      await other.close();
    }
  });
});

describe('GET /metrics with a scheduled cleanup', () => {
  it('counts the rounds this server ran, and what they removed', async () => {
    const t = await startTestServer('metrics-schedule', {
      cleanupIntervalSeconds: 1,
      cleanupProtectionSeconds: 0,
    });
    try {
      const orphan = randomBytes(2000);
      await new Registry(t.url).pushBlob('metrics/orphan', orphan);
      await t.berth.db.kysely.deleteFrom('pending_blobs').where('digest', '=', sha(orphan)).execute();
      let m: Sample[] = [];
      for (let i = 0; i < 50; i++) {
        m = await scrape(t.url);
        if ((valueOf(m, 'berth_cleanup_removed_blobs_total') ?? 0) >= 1) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(valueOf(m, 'berth_cleanup_scheduled_rounds_total', { outcome: 'ran' })).toBeGreaterThanOrEqual(
        1,
      );
      expect(valueOf(m, 'berth_cleanup_scheduled_rounds_total', { outcome: 'failed' })).toBeUndefined();
      expect(valueOf(m, 'berth_cleanup_removed_blobs_total')).toBeGreaterThanOrEqual(1);
      const gone = await t.berth.db.kysely
        .selectFrom('blobs')
        .select('digest')
        .where('digest', '=', sha(orphan))
        .execute();
      expect(gone).toEqual([]);
    } finally {
      await t.close();
    }
  });
});

describe('berth serve (startServer): the scheduled cleanup is on by default', () => {
  it.each([
    ['no interval given: hourly', undefined, 3600],
    ['--cleanup-interval 0: off', 0, 0],
    ['--cleanup-interval 600', 600, 600],
  ])('%s', async (_what, interval, expected) => {
    const data = mkdtempSync(join(tmpdir(), 'metrics-default-'));
    const database = await testDatabaseUrl('metrics-default');
    const server = await startServer({
      listen: '127.0.0.1:0',
      data,
      database,
      logLevel: 'silent',
      ...(interval === undefined ? {} : { cleanupIntervalSeconds: interval }),
    });
    try {
      expect(valueOf(await scrape(server.url), 'berth_cleanup_interval_seconds')).toBe(expected);
    } finally {
      await server.close();
      await removeTestDatabase(database);
      rmSync(data, { recursive: true, force: true });
    }
  });
});
