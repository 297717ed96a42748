// Leases in the database (src/db/leases.ts) on every backend: one holder at a time, even among many contenders at once.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, type Db } from '../db/connect.js';
import { Leases } from './leases.js';
import { backends, removeTestDatabase, testDatabaseUrl, type Backend } from '../../test/helpers/backend.js';

describe.each(backends())('leases on %s', (backend: Backend) => {
  let url: string;
  let a: Db;
  let b: Db;
  beforeAll(async () => {
    url = await testDatabaseUrl(`leases-${backend}`, backend);
    a = await openDatabase(url);
    b = await openDatabase(url); // a second process's connection(s) to the same database
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
    if (url) await removeTestDatabase(url);
  });

  it('goes to the first holder; others, and the holder itself, cannot take it again until it lapses', async () => {
    const la = new Leases(a.kysely);
    const lb = new Leases(b.kysely);
    const now = Date.now();
    expect(await la.acquire('one', 'A', now + 60_000, now)).toBe(true);
    expect(await lb.acquire('one', 'B', now + 60_000, now)).toBe(false);
    expect(await la.acquire('one', 'A', now + 60_000, now)).toBe(false);
    expect(await lb.get('one')).toEqual({ holder: 'A', expiresAt: now + 60_000 });
    // once its time is up, B takes it over; A can no longer renew it, B can
    expect(await lb.acquire('one', 'B', now + 120_000, now + 60_000)).toBe(true);
    expect(await la.renew('one', 'A', now + 180_000)).toBe(false);
    expect(await lb.renew('one', 'B', now + 180_000)).toBe(true);
    expect(await la.get('one')).toEqual({ holder: 'B', expiresAt: now + 180_000 });
  });

  it('is released only by its holder', async () => {
    const la = new Leases(a.kysely);
    const lb = new Leases(b.kysely);
    const now = Date.now();
    expect(await la.acquire('two', 'A', now + 60_000)).toBe(true);
    await lb.release('two', 'B');
    expect((await lb.get('two'))?.holder).toBe('A');
    await la.release('two', 'A');
    expect(await la.get('two')).toBeUndefined();
    expect(await lb.acquire('two', 'B', now + 60_000)).toBe(true);
  });

  it('has exactly one winner among many contenders at once, whether the row is new or lapsed', async () => {
    for (const [round, taken] of [
      [1, false], // no row yet: contenders race to insert it
      [2, true], // a lapsed row: contenders race to take it over
    ] as const) {
      const name = `race-${round}`;
      const now = Date.now();
      if (taken) expect(await new Leases(a.kysely).acquire(name, 'old', now - 1, now - 1000)).toBe(true);
      const contenders = Array.from({ length: 24 }, (_, i) => ({ holder: `h${i}`, db: i % 2 ? a : b }));
      const won = await Promise.all(
        contenders.map((c) => new Leases(c.db.kysely).acquire(name, c.holder, now + 60_000, now)),
      );
      expect(won.filter(Boolean)).toHaveLength(1);
      const winner = contenders[won.indexOf(true)]!.holder;
      expect((await new Leases(a.kysely).get(name))?.holder).toBe(winner);
    }
  });
});
