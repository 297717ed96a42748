// Failed logins, counted per user and per address in the database (so every process sees them): after a few,
// each further attempt must wait longer, up to a minute; a success clears the count; old and excess rows go.
import { createHash } from 'node:crypto';
import { PostgresAdapter, sql, type Kysely, type RawBuilder } from 'kysely';
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

  /** Milliseconds the caller must still wait before another attempt (0: go ahead), and whether any failed. */
  async check(keys: string[], now = this.now()): Promise<{ wait: number; failures: boolean }> {
    const rows = await this.db
      .selectFrom('login_failures')
      .select(['failures', 'last_at'])
      .where('key', 'in', keys)
      .execute();
    let wait = 0;
    for (const r of rows) {
      if (now - r.last_at > this.policy.windowMs) continue;
      wait = Math.max(wait, r.last_at + this.delay(r.failures) - now);
    }
    return { wait: Math.max(0, wait), failures: rows.length > 0 };
  }

  /**
   * Counts a failure under every key, unless a wait applies to one of them at `now`: then counts nothing and
   * answers false. The check and the count are one step for every process on the database (one statement,
   * which SQLite runs under its write lock; on PostgreSQL, after taking an advisory lock per key), so parallel
   * wrong guesses, in one process or many, count exactly the free failures and are refused from then on.
   */
  async failed(keys: string[], now = this.now()): Promise<boolean> {
    if (keys.length === 0) return false;
    const counted = !this.postgres
      ? await this.countUnlessWaiting(this.db, keys, now)
      : await this.db.transaction().execute(async (tx) => {
          // in one order (of the lock ids), so that two attempts sharing keys cannot wait for each other
          const ids = [...new Set(keys.map(lockId))].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
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
    return this.db.getExecutor().adapter instanceof PostgresAdapter;
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

  private async countUnlessWaiting(db: Kysely<Database>, keys: string[], now: number): Promise<boolean> {
    const stale = now - this.policy.windowMs;
    const each = sql.join(
      keys.map((k) => sql`select cast(${k} as text) as key`),
      sql` union all `,
    );
    const { rows } = await sql<{ key: string }>`
      insert into login_failures (key, failures, last_at)
      select k.key, 1, cast(${now} as bigint) from (${each}) as k
      where not exists (
        select 1 from login_failures as f
        where f.key in (${sql.join(keys)}) and f.last_at >= ${stale}
          and f.last_at + ${this.delaySql(sql<number>`f.failures`)} > ${now}
      )
      on conflict (key) do update set
        failures = case when login_failures.last_at < ${stale} then 1 else login_failures.failures + 1 end,
        last_at = excluded.last_at
      returning key`.execute(db);
    return rows.length > 0;
  }

  async succeeded(keys: string[]): Promise<void> {
    if (keys.length === 0) return;
    await this.db.deleteFrom('login_failures').where('key', 'in', keys).execute();
  }
}
