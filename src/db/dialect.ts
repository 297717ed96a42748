// Which database a Kysely handle (or transaction) talks to, for the few statements that differ between them.
import { PostgresAdapter } from 'kysely';

/** Whether `db` (a Kysely handle or transaction) runs on PostgreSQL (else SQLite). */
export const isPostgres = (db: { getExecutor(): { readonly adapter: unknown } }): boolean =>
  db.getExecutor().adapter instanceof PostgresAdapter;
