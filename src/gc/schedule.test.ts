// The scheduled cleanup of two instances on one database, on every backend and a fake clock: one runs each round.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openBerth, type Berth } from '../app.js';
import { CLEANUP_LEASE, CleanupSchedule, type RoundResult } from './schedule.js';
import { Leases } from '../db/leases.js';
import { backends, removeTestDatabase, testDatabaseUrl, type Backend } from '../../test/helpers/backend.js';
import { sha } from '../../test/helpers/images.js';
import { FakeClock } from '../../test/helpers/fake-clock.js';
import type { Digest } from '../core/digest.js';

describe.each(backends())('scheduled cleanup on %s', (backend: Backend) => {
  let url: string;
  let data: string;
  let one: Berth;
  let two: Berth;
  beforeAll(async () => {
    url = await testDatabaseUrl(`schedule-${backend}`, backend);
    data = mkdtempSync(join(tmpdir(), 'schedule-'));
    one = await openBerth({ data, database: url });
    two = await openBerth({ data, database: url });
  });
  afterAll(async () => {
    await one?.close();
    await two?.close();
    rmSync(data, { recursive: true, force: true });
    if (url) await removeTestDatabase(url);
  });

  const scheduleOf = (berth: Berth, holder: string, intervalSeconds: number, clock?: FakeClock) =>
    new CleanupSchedule(berth.cleanup, new Leases(berth.db.kysely), {
      intervalSeconds,
      protectionSeconds: 0,
      holder,
      ...(clock ? { clock } : {}),
    });

  /** A blob pushed and then abandoned: stored, in no version, pending for no one. */
  async function orphan(berth: Berth): Promise<Digest> {
    const bytes = randomBytes(1000);
    const digest = sha(bytes) as Digest;
    await berth.uploads.monolithic('sched/orphan', digest, Readable.from([bytes]));
    await berth.db.kysely.deleteFrom('pending_blobs').where('digest', '=', digest).execute();
    return digest;
  }

  it('runs a round on the instance that takes its lease; the other skips it, and neither runs it twice', async () => {
    const a = scheduleOf(one, 'one', 3600);
    const b = scheduleOf(two, 'two', 3600);
    const gone = await orphan(one);
    // a moment in a round no one has tried yet (an hour from now)
    const t = (a.roundOf(Date.now()) + 1) * 3600_000 + 5;
    const first = await Promise.all([a.runRound(t), b.runRound(t)]);
    expect(first.map((r) => r.outcome).sort()).toEqual(['ran', 'skipped']);
    const ran = first.find((r) => r.outcome === 'ran') as Extract<RoundResult, { outcome: 'ran' }>;
    expect(ran.report.digests).toContain(gone);
    expect(ran.report.protectionSeconds).toBe(0);
    // later in the same round: both skip
    const again = await Promise.all([a.runRound(t + 1000), b.runRound(t + 1000)]);
    expect(again.map((r) => r.outcome)).toEqual(['skipped', 'skipped']);
    // the next round: one of them runs it
    const next = await Promise.all([b.runRound(t + 3600_000), a.runRound(t + 3600_000)]);
    expect(next.map((r) => r.outcome).sort()).toEqual(['ran', 'skipped']);
    expect(next.map((r) => r.round)).toEqual([ran.round + 1, ran.round + 1]);
  });

  it('on a clock moved by hand, each round is run by exactly one instance, and rounds keep being run', async () => {
    await one.db.kysely.deleteFrom('leases').execute();
    const interval = 60_000;
    const start = (Math.floor(Date.now() / interval) + 1000) * interval; // a round no one has tried yet
    let turn = 0;
    const clock = new FakeClock(start, () => [0.1, 0.7, 0.4, 0.9][turn++ % 4]!);
    const results: (RoundResult & { by: string })[] = [];
    const a = scheduleOf(one, 'one', 60, clock);
    const b = scheduleOf(two, 'two', 60, clock);
    a.onRound((r) => results.push({ ...r, by: 'one' }));
    b.onRound((r) => results.push({ ...r, by: 'two' }));
    a.start();
    b.start();
    const first = a.roundOf(start);
    for (let k = 0; k < 4; k++) {
      // past the round's start and its random delay (a tenth of the interval): both instances try it
      clock.advanceTo(start + k * interval + interval / 10);
      await Promise.all([a.idle(), b.idle()]);
    }
    await Promise.all([a.stop(), b.stop()]);
    expect(clock.pending).toBe(0);
    for (const r of results) expect(r.outcome, JSON.stringify(r)).not.toBe('failed');
    const byRound = (n: number) =>
      results
        .filter((r) => r.round === n)
        .map((r) => r.outcome)
        .sort();
    for (let k = 0; k < 4; k++) expect(byRound(first + k), `round ${first + k}`).toEqual(['ran', 'skipped']);
    expect(results).toHaveLength(8);
  });

  it('a run that overruns its round keeps its lease: the next round is skipped, not joined', async () => {
    await one.db.kysely.deleteFrom('leases').execute();
    const interval = 60_000;
    const start = (Math.floor(Date.now() / interval) + 2000) * interval;
    const clock = new FakeClock(start, () => 0.5);
    let started!: () => void;
    const running = new Promise<void>((resolve) => (started = resolve));
    let finish!: () => void;
    const finished = new Promise<void>((resolve) => (finish = resolve));
    const slow = {
      run: async () => {
        started();
        await finished;
        return one.cleanup.run({ dryRun: true });
      },
    };
    const leases = new Leases(one.db.kysely);
    const results: (RoundResult & { by: string })[] = [];
    const a = new CleanupSchedule(slow, leases, { intervalSeconds: 60, holder: 'slow', clock });
    const b = scheduleOf(two, 'two', 60, clock);
    a.onRound((r) => results.push({ ...r, by: 'slow' }));
    b.onRound((r) => results.push({ ...r, by: 'two' }));
    a.start();
    clock.advanceTo(start + interval / 10);
    await running; // a has the round's lease and is running
    expect((await leases.get(CLEANUP_LEASE))?.expiresAt).toBe(start + interval);
    // half a round after it started (renewals come every half round), the run renews its lease past the round's end
    clock.advanceTo(start + (interval * 3) / 4);
    await until(async () => (await leases.get(CLEANUP_LEASE))!.expiresAt > start + interval);
    // b starts now: it tries this round (skipped: a has it), then the next one, which a's run overruns: skipped too
    b.start();
    clock.advanceTo(start + (interval * 3) / 4 + interval / 10);
    await b.idle();
    clock.advanceTo(start + interval + interval / 10);
    await b.idle();
    const round = a.roundOf(start);
    expect(results).toEqual([
      { round, outcome: 'skipped', by: 'two' },
      { round: round + 1, outcome: 'skipped', by: 'two' },
    ]);
    finish();
    await a.idle();
    expect(results.map((r) => [r.by, r.round, r.outcome])).toEqual([
      ['two', round, 'skipped'],
      ['two', round + 1, 'skipped'],
      ['slow', round, 'ran'],
    ]);
    await Promise.all([a.stop(), b.stop()]);
  });
});

/** Waits until `check` holds (polling the database, which answers in its own time), at most 10 s. */
async function until(check: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 1000; i++) {
    if (await check()) return;
    await new Promise((r) => setImmediate(r));
  }
  throw new Error('the condition never held');
}
