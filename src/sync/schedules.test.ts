// Scheduled syncs on every backend: two processes sharing a database start each due run once, and the next one an interval later.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openBerth, type Berth } from '../app.js';
import { backends, removeTestDatabase, testDatabaseUrl } from '../../test/helpers/backend.js';
import { FakeClock } from '../../test/helpers/fake-clock.js';
import type { Remote } from './remote.js';
import { createUpstream } from './upstream-http.js';

const T0 = Date.UTC(2026, 0, 1);
const HOUR = 3600_000;

describe.each(backends())('sync schedules on %s', (backend) => {
  let data: string;
  let database: string;
  let a: Berth;
  let b: Berth;
  let clock: FakeClock;

  // a remote no one answers at: each run fails at once, which is all a schedule needs to show
  const remote: Remote = {
    connection: { name: 'gone', url: 'http://127.0.0.1:9', tlsVerify: true, concurrency: 1 },
    include: [],
    exclude: [],
    platforms: [],
    referrers: 'none',
    policy: 'immediate',
  };
  const open = () =>
    openBerth({
      data,
      database,
      clock,
      syncPorts: { remote: async () => remote, connect: (c) => createUpstream(c) },
    });

  beforeEach(async () => {
    data = mkdtempSync(join(tmpdir(), 'sync-schedules-'));
    database = await testDatabaseUrl(`sync-schedules-${backend}`, backend);
    clock = new FakeClock(T0);
    a = await open();
    b = await open();
    await a.remotes.add({ name: 'gone', url: 'http://127.0.0.1:9' });
  });
  afterEach(async () => {
    await a.close();
    await b.close();
    await removeTestDatabase(database);
    rmSync(data, { recursive: true, force: true });
  });

  const runs = () => a.db.kysely.selectFrom('sync_runs').selectAll().execute();

  it('a due schedule starts one run across two processes, and the next one an interval later', async () => {
    const s = await a.syncSchedules.set({
      repository: 'team/app',
      remote: 'gone',
      mirror: false,
      everySeconds: 3600,
    });
    expect(s).toMatchObject({ upstream: 'team/app', everySeconds: 3600, nextAt: new Date(T0).toISOString() });
    const [ra, rb] = await Promise.all([a.syncSchedules.runDue(), b.syncSchedules.runDue()]);
    expect(ra.started.length + rb.started.length).toBe(1);
    await Promise.all([...ra.done, ...rb.done]);
    expect((await runs()).map((r) => [r.repository, r.trigger, r.state])).toEqual([
      ['team/app', 'schedule', 'failed'],
    ]);

    // not due again until the interval has passed
    const early = await Promise.all([a.syncSchedules.runDue(), b.syncSchedules.runDue()]);
    expect(early.flatMap((r) => r.started)).toEqual([]);
    clock.advanceTo(T0 + HOUR);
    const later = await Promise.all([b.syncSchedules.runDue(), a.syncSchedules.runDue()]);
    expect(later.flatMap((r) => r.started).length).toBe(1);
    await Promise.all(later.flatMap((r) => r.done));
    expect((await runs()).length).toBe(2);
    expect((await a.syncSchedules.get('team/app')).nextAt).toBe(new Date(T0 + 2 * HOUR).toISOString());
  });

  it('a schedule naming a removed remote is refused (REMOTE_UNKNOWN); a removal racing a schedule leaves no orphan', async () => {
    await a.remotes.add({ name: 'brief', url: 'http://127.0.0.1:9' });
    await a.remotes.remove('brief');
    const set = (remote: string, repository = 'team/app') =>
      a.syncSchedules.set({ repository, remote, mirror: false, everySeconds: 3600 });
    await expect(set('brief')).rejects.toMatchObject({ code: 'REMOTE_UNKNOWN' });
    expect(await a.syncSchedules.list()).toEqual([]);

    // at the same moment: one wins, and a schedule exists exactly when its remote does
    for (let i = 0; i < 5; i++) {
      const name = `racy${i}`;
      await a.remotes.add({ name, url: 'http://127.0.0.1:9' });
      const [removed, scheduled] = await Promise.allSettled([
        a.remotes.remove(name),
        set(name, `team/r${i}`),
      ]);
      expect([removed.status, scheduled.status].sort()).toEqual(['fulfilled', 'rejected']);
      const failed = (removed.status === 'rejected' ? removed : scheduled) as PromiseRejectedResult;
      expect((failed.reason as { code: string }).code).toBe(
        removed.status === 'rejected' ? 'REMOTE_IN_USE' : 'REMOTE_UNKNOWN',
      );
      const remote = await a.db.kysely
        .selectFrom('remotes')
        .select('name')
        .where('name', '=', name)
        .execute();
      const schedules = await a.db.kysely
        .selectFrom('sync_schedules')
        .select('repository')
        .where('remote', '=', name)
        .execute();
      expect(schedules.length).toBe(remote.length);
    }
  });

  it('a removed schedule starts nothing', async () => {
    await a.syncSchedules.set({ repository: 'team/app', remote: 'gone', mirror: false, everySeconds: 60 });
    await a.syncSchedules.remove('team/app');
    expect((await b.syncSchedules.runDue()).started).toEqual([]);
    await expect(a.syncSchedules.remove('team/app')).rejects.toMatchObject({ code: 'SYNC_RUN_UNKNOWN' });
  });
});
