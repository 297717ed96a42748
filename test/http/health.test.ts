// GET /healthz and GET /readyz over HTTP: ready when the database and the blob store answer, 503 saying which did not.
import { existsSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { http, startTestServer, type TestServer } from '../helpers/in-process.js';
import { FakeClock } from '../helpers/fake-clock.js';
import { STORE_CHECK_CACHE_MS } from '../../src/http/health.js';

let s: TestServer;
const clock = new FakeClock(Date.parse('2026-01-01T00:00:00Z'));
const advance = (ms: number): void => clock.advanceTo(clock.now() + ms);
beforeAll(async () => {
  s = await startTestServer('health', { clock });
});
afterAll(async () => s?.close());

describe('GET /healthz', () => {
  it('answers 200 {"status":"ok"} (HEAD too)', async () => {
    const r = await http('GET', `${s.url}/healthz`);
    expect(r.status).toBe(200);
    expect(r.json()).toEqual({ status: 'ok' });
    expect((await http('HEAD', `${s.url}/healthz`)).status).toBe(200);
  });
});

describe('GET /readyz', () => {
  it('answers 200 when the database and the store answer, and leaves no probe behind', async () => {
    const r = await http('GET', `${s.url}/readyz`);
    expect(r.status, r.body.toString()).toBe(200);
    expect(r.json()).toEqual({ status: 'ok', checks: { database: 'ok', store: 'ok' } });
    const probes = join(s.data, 'store', 'probes');
    expect(existsSync(probes) ? readdirSync(probes) : []).toEqual([]);
  });

  it('answers 503 naming the store once its root cannot be written (checked every few seconds), 200 again once it can', async () => {
    advance(STORE_CHECK_CACHE_MS);
    expect((await http('GET', `${s.url}/readyz`)).status).toBe(200);
    const root = join(s.data, 'store');
    rmSync(root, { recursive: true, force: true });
    // a file where the folder should be (chmod would not stop root, whom tests may run as)
    writeFileSync(root, 'not a folder');
    try {
      // the last check's outcome stands for STORE_CHECK_CACHE_MS: probes do not write on every request
      advance(STORE_CHECK_CACHE_MS - 1);
      expect((await http('GET', `${s.url}/readyz`)).json().checks.store).toBe('ok');
      advance(1);
      const r = await http('GET', `${s.url}/readyz`);
      expect(r.status).toBe(503);
      expect(r.json().status).toBe('unavailable');
      expect(r.json().checks.database).toBe('ok');
      expect(r.json().checks.store).toMatch(/^failed: (ENOTDIR|EEXIST)$/);
    } finally {
      rmSync(root, { force: true });
    }
    expect((await http('GET', `${s.url}/readyz`)).status).toBe(503);
    advance(STORE_CHECK_CACHE_MS);
    expect((await http('GET', `${s.url}/readyz`)).status).toBe(200);
  });

  it('answers 503 naming the database when it is closed', async () => {
    const t = await startTestServer('health-db');
    try {
      await t.berth.db.close();
      const r = await http('GET', `${t.url}/readyz`);
      expect(r.status).toBe(503);
      expect(r.json().checks.store).toBe('ok');
      expect(r.json().checks.database).toMatch(/^failed: /);
      // the process itself still answers
      expect((await http('GET', `${t.url}/healthz`)).status).toBe(200);
    } finally {
      await t.close();
    }
  });
});
