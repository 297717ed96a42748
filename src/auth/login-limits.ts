// Failed logins, counted per user and per address in the database (so every process sees them): after a few,
// each further attempt must wait longer, up to a minute; a success clears a count whose wait is over; old and
// excess rows go.
// Which keys an attempt counts under, and which waits hold it back, is decided here (loginKeys).
import { createHash } from 'node:crypto';
import { sql, type Kysely, type RawBuilder } from 'kysely';
import { isPostgres } from '../db/dialect.js';
import type { Database } from '../db/schema.js';

export interface LoginLimitPolicy {
  /** failures allowed before waiting starts */
  free: number;
  /** the first wait; it doubles with each further failure */
  baseDelayMs: number;
  maxDelayMs: number;
  /** failures older than this are forgotten (and their rows deleted) */
  windowMs: number;
  /** the most rows kept (default DEFAULT_MAX_ROWS): beyond it, the least recently failed keys are forgotten */
  maxRows?: number;
}

/**
 * The default bound of the table. Every failed login costs an argon2 hash, so filling it takes some 50 000
 * failures (two keys each) within one window; even then only the keys that failed least recently are forgotten.
 */
export const DEFAULT_MAX_ROWS = 100_000;

export const DEFAULT_LOGIN_POLICY: LoginLimitPolicy = {
  free: 5,
  baseDelayMs: 1000,
  maxDelayMs: 60_000,
  windowMs: 15 * 60_000,
};

/**
 * A key an attempt is held back by (and counted under). `gate`: its wait applies only while one of these keys has
 * failures in the window; `checkOnly`: its wait applies, but the attempt is not counted under it.
 */
export type LimitKey = string | { key: string; gate?: string[]; checkOnly?: boolean };

const keyOf = (k: LimitKey): string => (typeof k === 'string' ? k : k.key);
const gateOf = (k: LimitKey): string[] => (typeof k === 'string' ? [] : (k.gate ?? []));
const countedKeys = (keys: LimitKey[]): string[] =>
  keys.filter((k) => typeof k === 'string' || !k.checkOnly).map(keyOf);

/**
 * The keys of a login attempt from `address`, as `user` (absent: an API token as Bearer) that exists or not
 * (`known`), the user's first (it names the wait when the waits are equal):
 * - `addr:ADDRESS` counts the failures of an address with the names of existing users (and API tokens): it holds
 *   back every attempt from there (guessing many users' passwords);
 * - `unknown:ADDRESS` counts the failures of an address with names no user has: it holds back only such attempts,
 *   so that mistyped or made-up names never lock a real user out of that address;
 * - `user:NAME` counts the failures as that name, from any address: it holds back attempts from addresses that
 *   have failed logins themselves (either count), never from an address without any. An attacker failing as a
 *   victim from many addresses gets one guess per address without failures (then that address is held back),
 *   and cannot keep the victim out of an address that has not failed.
 */
export function loginKeys(address: string, user: string | undefined, known: boolean): LimitKey[] {
  const addr = `addr:${address}`;
  const unknown = `unknown:${address}`;
  if (user === undefined) return [addr];
  const userKey = { key: `user:${user}`, gate: [addr, unknown] };
  return known ? [userKey, addr] : [userKey, unknown, { key: addr, checkOnly: true }];
}

/** What a key limits, for a message: `for NAME` or `from ADDRESS`. */
export function limitedWhat(key: string): string {
  const i = key.indexOf(':');
  return key.startsWith('user:') ? `for ${key.slice(i + 1)}` : `from ${key.slice(i + 1)}`;
}

/** The PostgreSQL advisory lock of a login-limit key (a signed 64-bit integer). */
const lockId = (key: string): bigint =>
  createHash('sha256').update(`login:${key}`).digest().readBigInt64BE(0);

/** The least time between two prunes that counting failures starts (prune() itself always runs). */
export const PRUNE_EVERY_MS = 1000;

export class LoginLimits {
  private prunedAt = -Infinity;

  /** `now`: the clock (ms since the epoch) of the methods' default times; tests pass a fake one. */
  constructor(
    private readonly db: Kysely<Database>,
    private readonly policy: LoginLimitPolicy = DEFAULT_LOGIN_POLICY,
    private readonly now: () => number = Date.now,
  ) {}

  private delay(failures: number): number {
    if (failures < this.policy.free) return 0;
    return Math.min(this.policy.maxDelayMs, this.policy.baseDelayMs * 2 ** (failures - this.policy.free));
  }

  /** `delay` in SQL, of the failures column `failures` (the policy's numbers are literals of the statement). */
  private delaySql(failures: RawBuilder<number>): RawBuilder<number> {
    const { free, baseDelayMs, maxDelayMs } = this.policy;
    const steps: RawBuilder<unknown>[] = [sql`when ${failures} < ${sql.lit(free)} then 0`];
    for (let i = 0; baseDelayMs * 2 ** i < maxDelayMs; i++)
      steps.push(sql`when ${failures} = ${sql.lit(free + i)} then ${sql.lit(baseDelayMs * 2 ** i)}`);
    return sql<number>`(case ${sql.join(steps, sql` `)} else ${sql.lit(maxDelayMs)} end)`;
  }

  /**
   * Milliseconds the caller must still wait before another attempt (0: go ahead), the key whose wait that is
   * (the first of the longest), and whether any key counted under has failures.
   */
  async check(keys: LimitKey[], now = this.now()): Promise<{ wait: number; failures: boolean; by?: string }> {
    const names = [...new Set([...keys.map(keyOf), ...keys.flatMap(gateOf)])];
    const rows = await this.db
      .selectFrom('login_failures')
      .select(['key', 'failures', 'last_at'])
      .where('key', 'in', names)
      .execute();
    const live = new Map(
      rows.filter((r) => now - r.last_at <= this.policy.windowMs).map((r) => [r.key, r] as const),
    );
    let wait = 0;
    let by: string | undefined;
    for (const k of keys) {
      const r = live.get(keyOf(k));
      const gate = gateOf(k);
      if (!r || (gate.length > 0 && !gate.some((g) => live.has(g)))) continue;
      const w = r.last_at + this.delay(r.failures) - now;
      if (w > wait) [wait, by] = [w, keyOf(k)];
    }
    const counted = new Set(countedKeys(keys));
    return {
      wait,
      failures: rows.some((r) => counted.has(r.key)),
      ...(by === undefined ? {} : { by }),
    };
  }

  /**
   * Counts a failure under every key (but the check-only ones), unless a wait applies to one of them at `now`
   * (as `check` has it): then counts nothing and answers false. The check and the count are one step for every process on the database (one statement,
   * which SQLite runs under its write lock; on PostgreSQL, after taking an advisory lock per key), so parallel
   * wrong guesses, in one process or many, count exactly the free failures and are refused from then on.
   */
  async failed(keys: LimitKey[], now = this.now()): Promise<boolean> {
    if (countedKeys(keys).length === 0) return false;
    const counted = !this.postgres
      ? await this.countUnlessWaiting(this.db, keys, now)
      : await this.db.transaction().execute(async (tx) => {
          // in one order (of the lock ids), so that two attempts sharing keys cannot wait for each other
          const all = [...keys.map(keyOf), ...keys.flatMap(gateOf)];
          const ids = [...new Set(all.map(lockId))].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
          for (const id of ids) await sql`select pg_advisory_xact_lock(${id.toString()}::bigint)`.execute(tx);
          return this.countUnlessWaiting(tx, keys, now);
        });
    // rows appear only here, so the table stays bounded if counts are followed by a prune: at most one a second
    // per instance (a prune counts the rows: some 20 ms on PostgreSQL at 100 000), whatever the rate of failures
    if (counted && (now - this.prunedAt >= PRUNE_EVERY_MS || now < this.prunedAt)) {
      this.prunedAt = now;
      await this.prune(now);
    }
    return counted;
  }

  private get postgres(): boolean {
    return isPostgres(this.db);
  }

  /**
   * Deletes the rows whose failures are older than the window (they count for nothing any more), then, beyond
   * `maxRows`, those that failed least recently. Answers how many rows went. On PostgreSQL, rows that a count
   * holds are skipped (SKIP LOCKED): the prune never waits for a login, so the two cannot deadlock.
   */
  async prune(now = this.now()): Promise<number> {
    const stale = now - this.policy.windowMs;
    const pg = this.postgres;
    const expired = await this.db
      .deleteFrom('login_failures')
      .where('key', 'in', (eb) =>
        eb
          .selectFrom('login_failures')
          .select('key')
          .where('last_at', '<', stale)
          .$if(pg, (q) => q.forUpdate().skipLocked()),
      )
      .executeTakeFirst();
    let removed = Number(expired.numDeletedRows);
    const { rows } = await this.db
      .selectFrom('login_failures')
      .select((eb) => eb.fn.countAll().as('rows'))
      .executeTakeFirstOrThrow();
    const excess = Number(rows) - (this.policy.maxRows ?? DEFAULT_MAX_ROWS);
    if (excess > 0) {
      const evicted = await this.db
        .deleteFrom('login_failures')
        .where('key', 'in', (eb) =>
          eb
            .selectFrom('login_failures')
            .select('key')
            .orderBy('last_at')
            .orderBy('key')
            .limit(excess)
            .$if(pg, (q) => q.forUpdate().skipLocked()),
        )
        .executeTakeFirst();
      removed += Number(evicted.numDeletedRows);
    }
    return removed;
  }

  private async countUnlessWaiting(db: Kysely<Database>, keys: LimitKey[], now: number): Promise<boolean> {
    const stale = now - this.policy.windowMs;
    const each = sql.join(
      countedKeys(keys).map((k) => sql`select cast(${k} as text) as key`),
      sql` union all `,
    );
    // the keys whose wait applies: each, or while one of its gate keys has failures in the window
    const applies = sql.join(
      keys.map((k) => {
        const gate = gateOf(k);
        return gate.length === 0
          ? sql`f.key = ${keyOf(k)}`
          : sql`(f.key = ${keyOf(k)} and exists (select 1 from login_failures as g
              where g.key in (${sql.join(gate)}) and g.last_at >= ${stale}))`;
      }),
      sql` or `,
    );
    const { rows } = await sql<{ key: string }>`
      insert into login_failures (key, failures, last_at)
      select k.key, 1, cast(${now} as bigint) from (${each}) as k
      where not exists (
        select 1 from login_failures as f
        where (${applies}) and f.last_at >= ${stale}
          and f.last_at + ${this.delaySql(sql<number>`f.failures`)} > ${now}
      )
      on conflict (key) do update set
        failures = case when login_failures.last_at < ${stale} then 1 else login_failures.failures + 1 end,
        last_at = excluded.last_at
      returning key`.execute(db);
    return rows.length > 0;
  }

  /**
   * After a successful login: forgets the counts of `keys` whose wait is over (or never began). A count whose
   * wait is in force stays: a login that passed it (from an address without failures) must not give the guessers
   * at other addresses their free failures again.
   */
  async succeeded(keys: string[], now = this.now()): Promise<void> {
    if (keys.length === 0) return;
    const stale = now - this.policy.windowMs;
    await this.db
      .deleteFrom('login_failures')
      .where('key', 'in', keys)
      .where(
        sql<boolean>`not (last_at >= ${stale} and last_at + ${this.delaySql(sql<number>`failures`)} > ${now})`,
      )
      .execute();
  }
}
