// Failed logins, counted per user and per address in the database (so every process sees them): after a few,
// each further attempt must wait longer, up to a minute; a success clears the count.
import type { Kysely } from 'kysely';
import { sql } from 'kysely';
import type { Database } from '../db/schema.js';

export interface LoginLimitPolicy {
  /** failures allowed before waiting starts */
  free: number;
  /** the first wait; it doubles with each further failure */
  baseDelayMs: number;
  maxDelayMs: number;
  /** failures older than this are forgotten */
  windowMs: number;
}

export const DEFAULT_LOGIN_POLICY: LoginLimitPolicy = {
  free: 5,
  baseDelayMs: 1000,
  maxDelayMs: 60_000,
  windowMs: 15 * 60_000,
};

export class LoginLimits {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly policy: LoginLimitPolicy = DEFAULT_LOGIN_POLICY,
  ) {}

  private delay(failures: number): number {
    if (failures < this.policy.free) return 0;
    return Math.min(this.policy.maxDelayMs, this.policy.baseDelayMs * 2 ** (failures - this.policy.free));
  }

  /** Milliseconds the caller must still wait before another attempt (0: go ahead), and whether any failed. */
  async check(keys: string[], now = Date.now()): Promise<{ wait: number; failures: boolean }> {
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

  /** Counts a failure under each key, in one statement per key (create-if-absent through the primary key). */
  async failed(keys: string[], now = Date.now()): Promise<void> {
    const stale = now - this.policy.windowMs;
    for (const key of keys) {
      await this.db
        .insertInto('login_failures')
        .values({ key, failures: 1, last_at: now })
        .onConflict((oc) =>
          oc.column('key').doUpdateSet({
            failures: sql<number>`case when login_failures.last_at < ${stale} then 1 else login_failures.failures + 1 end`,
            last_at: now,
          }),
        )
        .execute();
    }
  }

  async succeeded(keys: string[]): Promise<void> {
    if (keys.length === 0) return;
    await this.db.deleteFrom('login_failures').where('key', 'in', keys).execute();
  }
}
