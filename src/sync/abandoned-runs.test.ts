// A process killed mid-sync leaves its run 'running' and its uploads/sync-<run>/ folder: on every backend, on a fake clock, the next run, the start-up sweep and cleanup make it failed and remove the folder.
import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openBerth, type Berth } from '../app.js';
import { syncDownloadDir } from '../gc/leftovers.js';
import { Jobs } from '../jobs.js';
import { backends, removeTestDatabase, testDatabaseUrl } from '../../test/helpers/backend.js';
import { FakeClock } from '../../test/helpers/fake-clock.js';
import type { Remote } from './remote.js';
import { syncLease } from './syncs.js';
import { createUpstream } from './upstream-http.js';

const HOUR = 3600_000;
const LEASE_MS = 60_000;

const quietLog = () => {
  const lines: string[] = [];
  const log = {
    lines,
    info: (_: object, msg: string) => void lines.push(msg),
    error: (_: object, msg: string) => void lines.push(`error: ${msg}`),
    debug: () => undefined,
    child: () => log,
  };
  return log;
};

describe.each(backends())('abandoned sync runs on %s', (backend) => {
  let data: string;
  let database: string;
  let berth: Berth;
  let clock: FakeClock;
  const T0 = Date.now();

  // nothing answers there: a run fails at once, which is all the next run needs to show
  const remote: Remote = {
    connection: { name: 'gone', url: 'http://127.0.0.1:9', tlsVerify: true, concurrency: 1 },
    include: [],
    exclude: [],
    platforms: [],
    referrers: 'none',
    policy: 'immediate',
  };

  beforeEach(async () => {
    data = mkdtempSync(join(tmpdir(), 'abandoned-runs-'));
    database = await testDatabaseUrl(`abandoned-runs-${backend}`, backend);
    clock = new FakeClock(T0);
    berth = await openBerth({
      data,
      database,
      clock,
      syncPorts: { remote: async () => remote, connect: (c) => createUpstream(c) },
    });
  });
  afterEach(async () => {
    await berth.close();
    await removeTestDatabase(database);
    rmSync(data, { recursive: true, force: true });
  });

  /** What `kill -9` of a process syncing `repository` leaves: a running row, its lease, its download folder. */
  async function killedRun(id: string, repository: string, folderAgeMs: number): Promise<string> {
    await berth.syncs.runs.create({
      id,
      repository,
      remote: 'gone',
      upstream: repository,
      mirror: 0,
      trigger: 'api',
      actor: null,
      started_at: T0,
    });
    expect(await berth.leases.acquire(syncLease(repository), id, T0 + LEASE_MS, T0)).toBe(true);
    const file = join(data, 'store', ...`${syncDownloadDir(id)}0`.split('/'));
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, 'half a layer');
    const t = new Date(Date.now() - folderAgeMs);
    utimesSync(file, t, t);
    return syncDownloadDir(id);
  }
  const stateOf = async (id: string) => (await berth.syncs.runs.get(id)).state;
  const exists = async (dir: string) => (await berth.store.stat(`${dir}0`)) !== null;

  it('failAbandoned: a run whose lease lives is left alone; once the lease has run out (or is gone) it fails', async () => {
    await killedRun('run-a', 'team/a', 0);
    await killedRun('run-b', 'team/b', 0);
    await berth.leases.release(syncLease('team/b'), 'run-b'); // released, row not finished
    expect(await berth.syncs.runs.failAbandoned(T0 + LEASE_MS - 1)).toBe(1);
    expect(await stateOf('run-a')).toBe('running');
    const b = await berth.syncs.runs.get('run-b');
    expect(b.state).toBe('failed');
    expect(b.error).toMatch(/stopped before it ended; nothing was changed/);
    expect(b.finishedAt).toBe(new Date(T0 + LEASE_MS - 1).toISOString());
    expect(await berth.syncs.runs.failAbandoned(T0 + LEASE_MS)).toBe(1);
    expect(await stateOf('run-a')).toBe('failed');
    expect(await berth.syncs.runs.failAbandoned(T0 + LEASE_MS)).toBe(0);
  });

  it('the next run of the repository fails the killed run once its lease is gone, and is refused while it lives', async () => {
    await killedRun('run-k', 'team/app', 0);
    const req = { repository: 'team/app', remote: 'gone', trigger: 'api' as const };
    await expect(berth.syncs.start(req)).rejects.toMatchObject({ code: 'SYNC_BUSY' });
    expect(await stateOf('run-k')).toBe('running');
    clock.advanceTo(T0 + LEASE_MS);
    const next = await berth.syncs.run(req);
    expect(next.state).toBe('failed'); // nothing answers at the remote
    const killed = await berth.syncs.runs.get('run-k');
    expect(killed.state).toBe('failed');
    expect(killed.error).toMatch(/stopped before it ended/);
  });

  it('at start, the jobs fail abandoned runs and remove their download folders older than the protection time', async () => {
    const old = await killedRun('run-old', 'team/old', 2 * HOUR);
    const young = await killedRun('run-young', 'team/young', 0);
    const alive = await killedRun('run-alive', 'team/alive', 2 * HOUR);
    clock.advanceTo(T0 + LEASE_MS); // every lease ran out ...
    expect(await berth.leases.renew(syncLease('team/alive'), 'run-alive', T0 + 2 * LEASE_MS)).toBe(true); // ... but one
    const log = quietLog();
    const jobs = new Jobs(berth, { log, clock });
    jobs.start();
    await jobs.stop();
    expect(log.lines).toContain('abandoned sync runs failed, their downloads removed');
    expect(log.lines.filter((l) => l.startsWith('error'))).toEqual([]);
    expect(await stateOf('run-old')).toBe('failed');
    expect(await stateOf('run-young')).toBe('failed');
    expect(await stateOf('run-alive')).toBe('running');
    expect(await exists(old)).toBe(false);
    expect(await exists(young)).toBe(true); // too young: left to a later sweep
    expect(await exists(alive)).toBe(true); // its run goes on
  });

  it('cleanup fails abandoned runs and removes their download folders older than its protection time', async () => {
    const old = await killedRun('run-old', 'team/old', 2 * HOUR);
    const young = await killedRun('run-young', 'team/young', 0);
    const alive = await killedRun('run-alive', 'team/alive', 2 * HOUR);
    clock.advanceTo(T0 + LEASE_MS);
    await berth.leases.renew(syncLease('team/alive'), 'run-alive', T0 + 2 * LEASE_MS);
    await berth.cleanup.run({ dryRun: true });
    expect(await stateOf('run-old')).toBe('running'); // a dry run changes nothing
    expect(await exists(old)).toBe(true);
    await berth.cleanup.run({ protectionSeconds: 3600 });
    expect(await stateOf('run-old')).toBe('failed');
    expect(await stateOf('run-alive')).toBe('running');
    expect(await exists(old)).toBe(false);
    expect(await exists(young)).toBe(true);
    expect(await exists(alive)).toBe(true);
  });
});
