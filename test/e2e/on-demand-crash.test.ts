// A real server killed with SIGKILL during an on-demand fetch: restarted, the next pull gets the blob, and fsck is clean.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openBerth } from '../../src/app.js';
import { sha256 } from '../../src/core/digest.js';
import { removeTestDatabase, testDatabaseUrl } from '../helpers/backend.js';
import { startBlobServer } from '../helpers/blob-server.js';
import { ADMIN, basic, http } from '../helpers/in-process.js';
import { seedOnDemand } from '../helpers/on-demand.js';
import { BIN, startRealServer } from '../helpers/real-server.js';

const cleanups: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

/** Runs `berth fsck` as a child process on the instance; its exit code and output. */
function fsck(data: string, database: string, ...args: string[]): { code: number | null; out: string } {
  const r = spawnSync(process.execPath, [BIN, 'fsck', '--data', data, '--database', database, ...args], {
    encoding: 'utf8',
    timeout: 30_000,
  });
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

describe('on-demand fetch and SIGKILL', () => {
  it('berth killed while it streams an on-demand blob: after a restart the next pull succeeds, fsck is clean', async () => {
    const data = mkdtempSync(join(tmpdir(), 'on-demand-crash-'));
    const database = await testDatabaseUrl('on-demand-crash');
    cleanups.push(async () => {
      rmSync(data, { recursive: true, force: true });
      await removeTestDatabase(database);
    });
    const upstream = await startBlobServer();
    cleanups.push(() => upstream.close());
    const blob = randomBytes(4 * 1024 * 1024);
    const digest = sha256(blob);
    upstream.blobs.set(`library/big/${digest}`, blob);

    // the remote and an image held on demand, as a sync with policy on_demand leaves them
    const setup = await openBerth({ data, database });
    await setup.remotes.add({ name: 'hub', url: upstream.url, policy: 'on_demand' });
    await seedOnDemand(setup, 'cache/big', [{ digest, size: blob.length }], 'hub', 'library/big');
    await setup.close();

    const first = await startRealServer('on-demand-crash', { data, database });
    cleanups.push(() => first.stop('SIGKILL'));
    upstream.mode = 'hold';
    let received = 0;
    const cut = new Promise<void>((resolve) => {
      const req = request(`${first.url}/v2/cache/big/blobs/${digest}`, {
        headers: { authorization: basic(ADMIN.user, ADMIN.password) },
      });
      req.on('response', (res) => {
        res.on('data', (c: Buffer) => (received += c.length));
        res.on('error', () => resolve());
        res.on('aborted', () => resolve());
        res.on('end', () => resolve());
      });
      req.on('error', () => resolve());
      req.end();
    });
    await upstream.holding(1);
    await first.stop('SIGKILL');
    await cut;
    expect(received).toBeLessThan(blob.length);

    upstream.mode = 'ok';
    upstream.release();
    const second = await startRealServer('on-demand-crash', { data, database });
    cleanups.push(() => second.stop());
    // the dead process's lease runs out (15 s), then this GET fetches the blob
    const r = await http('GET', `${second.url}/v2/cache/big/blobs/${digest}`);
    expect(r.status).toBe(200);
    expect(sha256(r.body)).toBe(digest);
    expect(upstream.gets.get(`library/big/${digest}`)).toBe(2);
    await second.stop();

    const plain = fsck(data, database);
    expect(plain.code, plain.out).toBe(0);
    expect(plain.out).toContain('no problems found');
    const verify = fsck(data, database, '--verify');
    expect(verify.code, verify.out).toBe(0);
    expect(verify.out).toContain('no problems found');
  }, 90_000);
});
