// A server stopping while a sync runs: the run fails at its next step, gives its lease back, and the database closes after it.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openBerth, type Berth } from '../app.js';
import { backends, removeTestDatabase, testDatabaseUrl } from '../../test/helpers/backend.js';
import type { Remote } from './remote.js';
import { syncLease } from './syncs.js';
import { createUpstream } from './upstream-http.js';

/** An upstream registry holding every request until `release()`, then answering an empty repository. */
async function heldUpstream() {
  const held: { req: IncomingMessage; res: ServerResponse }[] = [];
  let arrived: () => void = () => undefined;
  const firstRequest = new Promise<void>((r) => (arrived = r));
  let released = false;
  const answer = ({ req, res }: { req: IncomingMessage; res: ServerResponse }) => {
    const tags = /\/tags\/list/.test(req.url ?? '');
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(tags ? JSON.stringify({ name: 'team/app', tags: [] }) : '{}');
  };
  const server = createServer((req, res) => {
    if (released) return answer({ req, res });
    held.push({ req, res });
    arrived();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    firstRequest,
    release: () => {
      released = true;
      for (const h of held.splice(0)) answer(h);
    },
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

describe.each(backends())('a sync run when its server stops, on %s', (backend) => {
  let data: string;
  let database: string;
  let upstream: Awaited<ReturnType<typeof heldUpstream>>;
  let berth: Berth;

  const open = () => {
    const remote: Remote = {
      connection: { name: 'up', url: upstream.url, tlsVerify: true, concurrency: 1 },
      include: [],
      exclude: [],
      platforms: [],
      referrers: 'none',
      policy: 'immediate',
    };
    return openBerth({
      data,
      database,
      syncPorts: { remote: async () => remote, connect: (c) => createUpstream(c) },
    });
  };

  beforeEach(async () => {
    data = mkdtempSync(join(tmpdir(), 'sync-stopping-'));
    database = await testDatabaseUrl(`sync-stopping-${backend}`, backend);
    upstream = await heldUpstream();
    berth = await open();
  });
  afterEach(async () => {
    upstream.release();
    await upstream.close();
    await removeTestDatabase(database);
    rmSync(data, { recursive: true, force: true });
  });

  it('fails at its next step, gives its lease back, and the database closes only after it ended', async () => {
    const { run, done } = await berth.syncs.start({ repository: 'team/app', remote: 'up', trigger: 'api' });
    await upstream.firstRequest; // the run waits on upstream
    let closed = false;
    const closing = berth.close().then(() => (closed = true));
    await new Promise((r) => setImmediate(r));
    expect(closed).toBe(false); // close waits for the run
    await expect(
      berth.syncs.start({ repository: 'team/other', remote: 'up', trigger: 'api' }),
    ).rejects.toMatchObject({
      code: 'UNAVAILABLE',
    });
    upstream.release();
    const end = await done;
    await closing;
    expect(end.state).toBe('failed');
    expect(end.error).toMatch(/the server stopped during the run: start it again/);

    // what the database holds once it is opened again: the run failed, its lease free for the next run
    berth = await open();
    try {
      const stored = await berth.syncs.runs.get(run.id);
      expect(stored.state).toBe('failed');
      expect(stored.error).toMatch(/server stopped/);
      const now = Date.now();
      expect(await berth.leases.acquire(syncLease('team/app'), 'next', now + 60_000, now)).toBe(true);
    } finally {
      await berth.close();
    }
  });

  it('a run that ended before the stop is left as it ended', async () => {
    upstream.release();
    const end = await berth.syncs.run({ repository: 'team/app', remote: 'up', trigger: 'api' });
    expect(end.state).toBe('succeeded');
    await berth.close();
    berth = await open();
    try {
      expect((await berth.syncs.runs.get(end.id)).state).toBe('succeeded');
    } finally {
      await berth.close();
    }
  });
});
