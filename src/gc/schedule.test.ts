// The scheduled cleanup with two instances on one database and store, on every backend: one of them runs each round.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openBerth, type Berth } from '../app.js';
import { CleanupSchedule, type RoundResult } from './schedule.js';
import { Leases } from '../db/leases.js';
import { backends, removeTestDatabase, testDatabaseUrl, type Backend } from '../../test/helpers/backend.js';
import { sha } from '../../test/helpers/images.js';
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

  const scheduleOf = (berth: Berth, holder: string, intervalSeconds: number) =>
    new CleanupSchedule(berth.cleanup, new Leases(berth.db.kysely), {
      intervalSeconds,
      protectionSeconds: 0,
      holder,
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

  it('on timers, no round is run by both instances, and rounds keep being run', async () => {
    await one.db.kysely.deleteFrom('leases').execute();
    const results: (RoundResult & { by: string })[] = [];
    const a = scheduleOf(one, 'one', 1);
    const b = scheduleOf(two, 'two', 1);
    a.onRound((r) => results.push({ ...r, by: 'one' }));
    b.onRound((r) => results.push({ ...r, by: 'two' }));
    a.start();
    b.start();
    await new Promise((r) => setTimeout(r, 3600));
    await Promise.all([a.stop(), b.stop()]);
    const rounds = new Map<number, string[]>();
    for (const r of results) {
      expect(r.outcome, JSON.stringify(r)).not.toBe('failed');
      if (r.outcome === 'ran') rounds.set(r.round, [...(rounds.get(r.round) ?? []), r.by]);
      else if (!rounds.has(r.round)) rounds.set(r.round, []);
    }
    // (a round a slow run overran is skipped by both: so "at most one", and most rounds run)
    for (const [round, by] of rounds) expect(by.length, `round ${round}: ${by}`).toBeLessThanOrEqual(1);
    expect([...rounds.values()].filter((by) => by.length === 1).length).toBeGreaterThanOrEqual(2);
  });
});
