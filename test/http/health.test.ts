// GET /healthz and GET /readyz over HTTP: ready when the database and the blob store answer, 503 saying which did not.
import { existsSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { http, startTestServer, type TestServer } from '../helpers/in-process.js';

let s: TestServer;
beforeAll(async () => {
  s = await startTestServer('health');
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

  it('answers 503 naming the store when its root cannot be written or read, and 200 again once it can', async () => {
    const root = join(s.data, 'store');
    rmSync(root, { recursive: true, force: true });
    // a file where the folder should be (chmod would not stop root, whom tests may run as)
    writeFileSync(root, 'not a folder');
    try {
      const r = await http('GET', `${s.url}/readyz`);
      expect(r.status).toBe(503);
      expect(r.json().status).toBe('unavailable');
      expect(r.json().checks.database).toBe('ok');
      expect(r.json().checks.store).toMatch(/^failed: (ENOTDIR|EEXIST)$/);
    } finally {
      rmSync(root, { force: true });
    }
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
