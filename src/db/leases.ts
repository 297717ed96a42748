// Leases in the database: a job that one process at a time may do (the scheduled cleanup), across processes.
import { sql, type Kysely } from 'kysely';
import type { Database } from './schema.js';

/**
 * A lease is a row of `leases` (name, holder, expires_at). Taking one is a single statement, the same on SQLite
 * and PostgreSQL: insert the row, or, when the name is taken (its primary key conflicts), take it over only if
 * its time is up. The database decides between contenders (the unique constraint, then the conflicting row's
 * lock), so there is no read-then-write window in which two processes both see the lease free.
 *
 * Times are the processes' own clocks (ms since epoch), as for upload leases and blob claims: machines that
 * share a database must keep their clocks in step (NTP); a skew only shifts who takes a lease, and when.
 */
export class Leases {
  constructor(private readonly db: Kysely<Database>) {}

  /** Takes lease `name` for `holder` until `expiresAt` if no one holds it (or its holder's time is up). */
  async acquire(name: string, holder: string, expiresAt: number, now = Date.now()): Promise<boolean> {
    const row = await this.db
      .insertInto('leases')
      .values({ name, holder, expires_at: expiresAt })
      .onConflict((oc) =>
        oc
          .column('name')
          .doUpdateSet({ holder: sql.ref('excluded.holder'), expires_at: sql.ref('excluded.expires_at') })
          .where('leases.expires_at', '<=', now),
      )
      .returning('holder')
      .executeTakeFirst();
    return row?.holder === holder;
  }

  /** Extends a lease its holder still holds; false when it has lost it (taken over after its time was up). */
  async renew(name: string, holder: string, expiresAt: number): Promise<boolean> {
    const r = await this.db
      .updateTable('leases')
      .set({ expires_at: expiresAt })
      .where('name', '=', name)
      .where('holder', '=', holder)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  /** Gives a lease up now (no-op when `holder` does not hold it). */
  async release(name: string, holder: string): Promise<void> {
    await this.db.deleteFrom('leases').where('name', '=', name).where('holder', '=', holder).execute();
  }

  /** Who holds lease `name` and until when, or undefined when no row exists. */
  async get(name: string): Promise<{ holder: string; expiresAt: number } | undefined> {
    const row = await this.db
      .selectFrom('leases')
      .select(['holder', 'expires_at'])
      .where('name', '=', name)
      .executeTakeFirst();
    return row && { holder: row.holder, expiresAt: row.expires_at };
  }
}
