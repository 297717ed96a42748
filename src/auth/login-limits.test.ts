// Failed-login limits on each database backend, with explicit clocks: free attempts, then a doubling wait up to
// the maximum, per key (user and address apart), forgotten after the window, cleared by a success once the wait
// is over, shared by every instance on the database; gated and check-only keys; the table aged out (rows past the
// window deleted) and bounded (maxRows).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backends, removeTestDatabase, testDatabaseUrl, type Backend } from '../../test/helpers/backend.js';
import { openDatabase, type Db } from '../db/connect.js';
import {
  DEFAULT_LOGIN_POLICY,
  DEFAULT_MAX_ROWS,
  LoginLimits,
  PRUNE_EVERY_MS,
  type LoginLimitPolicy,
} from './login-limits.js';

const POLICY: LoginLimitPolicy = { free: 3, baseDelayMs: 1000, maxDelayMs: 4000, windowMs: 60_000 };
const T0 = 1_800_000_000_000;

describe.each(backends())('login limits on %s', (backend: Backend) => {
  let url: string;
  let db: Db;
  let other: Db;
  let limits: LoginLimits;
  let n = 0;
  /** Keys no other test touches. */
  const fresh = () => {
    n++;
    return { user: `user:u${n}`, addr: `addr:10.0.0.${n}` };
  };

  beforeAll(async () => {
    url = await testDatabaseUrl(`limits_${backend}`, backend);
    db = await openDatabase(url);
    other = await openDatabase(url);
    limits = new LoginLimits(db.kysely, POLICY);
  });
  afterAll(async () => {
    await other?.close();
    await db?.close();
    if (url) await removeTestDatabase(url);
  });

  /** Counts `count` failures at `at`, each of which must be counted (no wait may apply yet). */
  const failN = async (keys: string[], count: number, at: number, l = limits) => {
    for (let i = 0; i < count; i++) expect(await l.failed(keys, at)).toBe(true);
  };

  it('allows the free failures without a wait, then waits the base delay from the last failure', async () => {
    const { user, addr } = fresh();
    const keys = [addr, user];
    expect(await limits.check(keys, T0)).toEqual({ wait: 0, failures: false });
    await failN(keys, 2, T0);
    expect(await limits.check(keys, T0)).toEqual({ wait: 0, failures: true });
    await limits.failed(keys, T0 + 100); // the third
    expect(await limits.check(keys, T0 + 100)).toEqual({ wait: 1000, failures: true, by: addr });
    expect((await limits.check(keys, T0 + 700)).wait).toBe(400);
    expect((await limits.check(keys, T0 + 1100)).wait).toBe(0);
  });

  it('doubles the wait with each further failure, up to the maximum', async () => {
    const { user } = fresh();
    const waits: number[] = [];
    let t = T0;
    for (let i = 0; i < 7; i++) {
      expect(await limits.failed([user], t)).toBe(true);
      const { wait } = await limits.check([user], t);
      waits.push(wait);
      t += wait; // the next attempt once the wait is over
    }
    expect(waits).toEqual([0, 0, 1000, 2000, 4000, 4000, 4000]);
  });

  it('the default policy: 5 free failures, then 1 s doubling up to a minute, forgotten after 15 minutes', () => {
    expect(DEFAULT_LOGIN_POLICY).toEqual({
      free: 5,
      baseDelayMs: 1000,
      maxDelayMs: 60_000,
      windowMs: 900_000,
    });
  });

  it('counts each key apart; the wait is the longest of the keys asked about', async () => {
    // one user tried from many addresses: the user is slowed down, the addresses are not
    const { user } = fresh();
    const addrs = ['addr:192.0.2.1', 'addr:192.0.2.2', 'addr:192.0.2.3', 'addr:192.0.2.4'].map(
      (a) => `${a}-${n}`,
    );
    // the fourth once the wait of the third is over
    const at = [T0, T0, T0, T0 + 1000];
    for (const [i, a] of addrs.entries()) expect(await limits.failed([a, user], at[i])).toBe(true);
    const t = T0 + 1000;
    expect((await limits.check([user], t)).wait).toBe(2000);
    expect((await limits.check(['addr:198.51.100.9', user], t)).wait).toBe(2000);
    for (const a of addrs) expect((await limits.check([a], t)).wait).toBe(0);
    expect((await limits.check([addrs[0]!, 'user:someone-else'], t)).wait).toBe(0);

    // one address trying many users: the address is slowed down, the users are not
    const { addr } = fresh();
    const users = ['user:a', 'user:b', 'user:c', 'user:d'].map((u) => `${u}-${n}`);
    for (const [i, u] of users.entries()) expect(await limits.failed([addr, u], at[i])).toBe(true);
    expect((await limits.check([addr], t)).wait).toBe(2000);
    expect((await limits.check([addr, 'user:new'], t)).wait).toBe(2000);
    for (const u of users) expect((await limits.check(['addr:203.0.113.1', u], t)).wait).toBe(0);
  });

  it('forgets failures older than the window, and counts from 1 again after it', async () => {
    const { user } = fresh();
    await failN([user], 3, T0);
    await failN([user], 1, T0 + 1000);
    expect((await limits.check([user], T0 + 1000)).wait).toBe(2000);
    const later = T0 + 1000 + POLICY.windowMs + 1;
    expect(await limits.check([user], later)).toEqual({ wait: 0, failures: true });
    await limits.failed([user], later);
    await limits.failed([user], later);
    expect((await limits.check([user], later)).wait).toBe(0); // 2 failures in this window, not 6
    await limits.failed([user], later);
    expect((await limits.check([user], later)).wait).toBe(1000);
  });

  it('a success clears the keys it names whose wait is over, and only those', async () => {
    const { user, addr } = fresh();
    const bystander = `user:bystander-${n}`;
    await failN([addr, user], 3, T0);
    await failN([addr, bystander], 1, T0 + 1000);
    // the user's wait (1000 ms from T0) is in force until T0 + 1000: a success before then keeps the count
    await limits.succeeded([user], T0 + 999);
    expect((await limits.check([user], T0 + 999)).wait).toBe(1);
    await limits.succeeded([user], T0 + 1000);
    expect(await limits.check([user], T0 + 1000)).toEqual({ wait: 0, failures: false });
    expect((await limits.check([addr], T0 + 1000)).wait).toBe(2000); // 4 failures from the address
    await limits.succeeded([addr, user], T0 + 3000);
    expect(await limits.check([addr], T0 + 3000)).toEqual({ wait: 0, failures: false });
    expect((await limits.check([bystander], T0)).failures).toBe(true);
  });

  it("a gated key's wait applies only while one of its gate keys has failures in the window", async () => {
    const { user, addr } = fresh();
    const clean = `addr:clean-${n}`;
    const gated = (a: string) => [{ key: user, gate: [a] }, a];
    await failN([addr, user], 3, T0);
    expect(await limits.check(gated(addr), T0)).toEqual({ wait: 1000, failures: true, by: user });
    // from an address without failures, the user's wait does not hold the attempt back, and it is counted
    expect((await limits.check(gated(clean), T0)).wait).toBe(0);
    expect(await limits.failed(gated(clean), T0)).toBe(true);
    // from then on it has failed: the user's wait (now 2000 ms) applies there too, and nothing more is counted
    expect(await limits.check(gated(clean), T0)).toEqual({ wait: 2000, failures: true, by: user });
    expect(await limits.failed(gated(clean), T0)).toBe(false);
    // once the address's failure is out of the window, it is clean again (the user's count is still in it)
    await failN([user], 1, T0 + POLICY.windowMs - 1000);
    expect((await limits.check(gated(clean), T0 + POLICY.windowMs + 1)).wait).toBe(0);
    expect((await limits.check([user], T0 + POLICY.windowMs + 1)).wait).toBeGreaterThan(0);
  });

  it('a check-only key holds the attempt back but is not counted under', async () => {
    const { user, addr } = fresh();
    const other = `unknown:${addr}`;
    await failN([addr], 3, T0);
    const keys = [user, other, { key: addr, checkOnly: true }];
    expect(await limits.check(keys, T0)).toEqual({ wait: 1000, failures: false, by: addr });
    expect(await limits.failed(keys, T0)).toBe(false);
    expect(await limits.failed(keys, T0 + 1000)).toBe(true);
    expect((await limits.check([addr], T0 + 1000)).failures).toBe(true);
    const row = await db.kysely
      .selectFrom('login_failures')
      .select('failures')
      .where('key', '=', addr)
      .executeTakeFirstOrThrow();
    expect(Number(row.failures)).toBe(3);
    expect((await limits.check([other, user], T0 + 1000)).failures).toBe(true);
  });

  it('lives in the database: another instance (connection) sees and adds to the same counts', async () => {
    const { user, addr } = fresh();
    const second = new LoginLimits(other.kysely, POLICY);
    await failN([addr, user], 2, T0);
    await failN([addr, user], 1, T0, second);
    expect((await second.check([user], T0)).wait).toBe(1000);
    expect((await limits.check([addr], T0)).wait).toBe(1000);
    await second.succeeded([user, addr], T0 + 1000);
    expect((await limits.check([user, addr], T0 + 1000)).failures).toBe(false);
  });

  it('loses no failure to concurrent attempts from two instances', async () => {
    const { user } = fresh();
    // a policy under which none of them waits
    const lenient = { ...POLICY, free: 100 };
    const [first, second] = [db, other].map((d) => new LoginLimits(d.kysely, lenient));
    const counted = await Promise.all(
      Array.from({ length: 10 }, (_, i) => (i % 2 ? first! : second!).failed([user], T0)),
    );
    expect(counted).toEqual(Array(10).fill(true));
    const row = await db.kysely
      .selectFrom('login_failures')
      .select(['failures', 'last_at'])
      .where('key', '=', user)
      .executeTakeFirstOrThrow();
    expect(Number(row.failures)).toBe(10);
  });

  it('counts a failure unless a wait applies, with the wait and the window of the policy', async () => {
    const { user, addr } = fresh();
    const keys = [addr, user];
    for (let i = 0; i < 3; i++) expect(await limits.failed(keys, T0)).toBe(true);
    expect(await limits.failed(keys, T0 + 999)).toBe(false); // the third's wait: 1000 ms
    expect((await limits.check(keys, T0 + 999)).wait).toBe(1);
    expect(await limits.failed(keys, T0 + 1000)).toBe(true); // the fourth: 2000 ms
    expect(await limits.failed(keys, T0 + 2999)).toBe(false);
    expect(await limits.failed([user], T0 + 3000)).toBe(true); // the fifth: 4000 ms, the maximum
    // a wait of either key refuses both, and counts under neither
    expect(await limits.failed([`addr:other-${n}`, user], T0 + 3000)).toBe(false);
    expect((await limits.check([`addr:other-${n}`], T0 + 3000)).failures).toBe(false);
    expect(await limits.failed([user], T0 + 6999)).toBe(false);
    expect(await limits.failed([user], T0 + 7000)).toBe(true); // the sixth: still 4000 ms
    expect(await limits.failed([user], T0 + 10_999)).toBe(false);
    // after the window the count starts again from 1, without a wait
    const later = T0 + 7000 + POLICY.windowMs + 1;
    expect(await limits.failed([user], later)).toBe(true);
    expect(await limits.failed([user], later)).toBe(true);
    expect((await limits.check([user], later)).wait).toBe(0);
    const row = await db.kysely
      .selectFrom('login_failures')
      .select('failures')
      .where('key', '=', user)
      .executeTakeFirstOrThrow();
    expect(Number(row.failures)).toBe(2);
  });

  it('counts exactly the free failures of parallel attempts from two instances, then refuses', async () => {
    const { user, addr } = fresh();
    const second = new LoginLimits(other.kysely, POLICY);
    const counted = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        (i % 2 ? limits : second).failed(i % 3 ? [addr, user] : [user], T0),
      ),
    );
    expect(counted.filter(Boolean).length).toBe(POLICY.free);
    expect((await limits.check([user], T0)).wait).toBe(POLICY.baseDelayMs);
  });

  it('reads its default times from the clock it is given', async () => {
    const { user } = fresh();
    let now = T0;
    const clocked = new LoginLimits(db.kysely, POLICY, () => now);
    expect(await clocked.failed([user])).toBe(true);
    expect(await clocked.failed([user])).toBe(true);
    expect(await clocked.failed([user])).toBe(true);
    expect(await clocked.check([user])).toEqual({ wait: 1000, failures: true, by: user });
    now += 600;
    expect((await clocked.check([user])).wait).toBe(400);
    expect(await clocked.failed([user])).toBe(false);
    now += 400;
    expect(await clocked.failed([user])).toBe(true);
  });
  /** Every row of the table (of every test so far). */
  const allRows = () =>
    db.kysely.selectFrom('login_failures').select(['key', 'last_at']).orderBy('key').execute();
  /** Far after every time the tests above used: prune(LATE) leaves an empty table. */
  const LATE = T0 + 1000 * POLICY.windowMs;

  it('deletes the rows of failures older than the window when it counts a failure (or prunes)', async () => {
    await limits.prune(LATE);
    expect(await allRows()).toEqual([]);
    // new names from new addresses: two rows each, as long as they are inside the window
    for (let i = 0; i < 40; i++)
      expect(await limits.failed([`addr:198.18.0.${i}`, `user:new${i}`], LATE)).toBe(true);
    expect((await allRows()).length).toBe(80);
    const end = LATE + POLICY.windowMs; // the last moment these failures count
    expect(await limits.failed(['addr:198.18.1.1', 'user:one'], end)).toBe(true);
    expect((await allRows()).length).toBe(82);
    // a failure after the window (and a second after the last prune) deletes the 80 rows it no longer counts
    expect(await limits.failed(['addr:198.18.1.2', 'user:two'], end + PRUNE_EVERY_MS)).toBe(true);
    expect((await allRows()).map((r) => r.key)).toEqual([
      'addr:198.18.1.1',
      'addr:198.18.1.2',
      'user:one',
      'user:two',
    ]);
    // and prune on its own, by the clock the limits were given
    let now = end + PRUNE_EVERY_MS;
    const clocked = new LoginLimits(db.kysely, POLICY, () => now);
    now += POLICY.windowMs + 1;
    expect(await clocked.prune()).toBe(4);
    expect(await allRows()).toEqual([]);
  });

  it('keeps at most maxRows rows: the keys that failed least recently go first, a wait in force stays', async () => {
    const at = LATE + 10 * POLICY.windowMs;
    await limits.prune(at);
    // (failures a second apart, each followed by a prune, in a window that holds them all)
    const bounded = new LoginLimits(db.kysely, { ...POLICY, windowMs: 3600_000, maxRows: 50 });
    // a guessed user whose wait is in force
    await failN(['user:guessed'], POLICY.free, at + 200 * PRUNE_EVERY_MS);
    for (let i = 0; i < 200; i++) {
      const t = at + i * PRUNE_EVERY_MS;
      expect(await bounded.failed([`addr:198.19.${i >> 8}.${i & 255}`, `user:n${i}`], t)).toBe(true);
      expect((await allRows()).length).toBeLessThanOrEqual(50);
    }
    const rows = await allRows();
    expect(rows.length).toBe(50);
    expect(rows.some((r) => r.key === 'user:guessed')).toBe(true);
    // the 49 others are those of the latest failures
    expect(Math.min(...rows.filter((r) => r.key !== 'user:guessed').map((r) => Number(r.last_at)))).toBe(
      at + 175 * PRUNE_EVERY_MS,
    );
    expect((await bounded.check(['user:guessed'], at + 200 * PRUNE_EVERY_MS)).wait).toBe(POLICY.baseDelayMs);
    // within a second of the last prune, counting leaves the bound to the next one (one prune a second)
    expect(await bounded.failed(['user:extra'], at + 199 * PRUNE_EVERY_MS + 1)).toBe(true);
    expect((await allRows()).length).toBe(51);
    expect(await bounded.failed(['user:extra'], at + 200 * PRUNE_EVERY_MS)).toBe(true);
    expect((await allRows()).length).toBe(50);
    expect(DEFAULT_MAX_ROWS).toBe(100_000);
  });
});
