// Opens the database named by a URL (a SQLite file path or postgres://…) and brings its schema up to date.
import { LRUCache } from 'lru-cache';
import { Kysely, Migrator, PostgresDialect, SqliteDialect, sql, type SqliteDatabase } from 'kysely';
import SQLite from 'better-sqlite3';
import pg from 'pg';
import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { Database } from './schema.js';
import { migrationProvider, type DialectName } from './migrations.js';
import { checkDatabaseUrl, connectionError, isPostgresUrl } from './database-url.js';

export { isPostgresUrl };

export interface Db {
  kysely: Kysely<Database>;
  dialect: DialectName;
  /** The connection pool's use now (metrics); SQLite has one connection and no pool to wait in. */
  pool(): PoolUse;
  close(): Promise<void>;
}

export interface PoolUse {
  /** connections open */
  total: number;
  /** of them, idle; null where there is no pool (SQLite) */
  idle: number | null;
  /** queries waiting for a connection; null where there is no pool (SQLite) */
  waiting: number | null;
}

// bigint columns (sizes, times) fit in a double for any blob this side of 8 PiB.
pg.types.setTypeParser(pg.types.builtins.INT8, (v) => Number(v));

/**
 * `url` is `postgres://user@host:port/db[?schema=NAME]` or a SQLite file path (`sqlite:` prefix optional;
 * `:memory:` for a private in-memory database). Anything else that looks like a URL is refused, and a database
 * that cannot be reached or opened is named (password masked) with what to check.
 */
export async function openDatabase(url: string, opts: { poolSize?: number } = {}): Promise<Db> {
  checkDatabaseUrl(url);
  let kysely: Kysely<Database>;
  let dialect: DialectName;
  let pool = (): PoolUse => ({ total: 1, idle: null, waiting: null });
  let schema: string | null = null;
  if (isPostgresUrl(url)) {
    dialect = 'postgres';
    const u = new URL(url);
    schema = u.searchParams.get('schema');
    u.searchParams.delete('schema');
    if (schema !== null && !/^[a-z_][a-z0-9_]*$/.test(schema))
      throw new Error(`invalid schema name ${schema}`);
    if (schema) {
      const c = new pg.Client({ connectionString: u.toString() });
      await c.connect().catch((e: unknown) => {
        throw connectionError(e, url);
      });
      try {
        await c.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
      } finally {
        await c.end();
      }
    }
    const pgPool = new pg.Pool({
      connectionString: u.toString(),
      max: opts.poolSize ?? 10,
      ...(schema ? { options: `-c search_path=${schema}` } : {}),
    });
    pool = () => ({ total: pgPool.totalCount, idle: pgPool.idleCount, waiting: pgPool.waitingCount });
    // a first connection, so that a database that cannot be reached says so (not a migration failing)
    await pgPool.connect().then(
      (client) => client.release(),
      async (e: unknown) => {
        await pgPool.end();
        throw connectionError(e, url);
      },
    );
    kysely = new Kysely<Database>({ dialect: new PostgresDialect({ pool: pgPool }) });
  } else {
    dialect = 'sqlite';
    const file = url.replace(/^sqlite:(\/\/)?/, '');
    const database = openSqlite(file);
    database.pragma('journal_mode = WAL');
    database.pragma('synchronous = NORMAL');
    database.pragma('busy_timeout = 10000');
    database.pragma('foreign_keys = ON');
    kysely = new Kysely<Database>({ dialect: new SqliteDialect({ database: reusingStatements(database) }) });
  }
  // With a schema of its own, the migrator's bookkeeping tables live in it too (not in whichever schema has them).
  const migrator = new Migrator({
    db: kysely,
    provider: migrationProvider(dialect),
    ...(schema ? { migrationTableSchema: schema } : {}),
  });
  const { error } = await migrator.migrateToLatest();
  if (error) {
    await kysely.destroy();
    throw error instanceof Error ? error : new Error(String(error));
  }
  return { kysely, dialect, pool, close: () => kysely.destroy() };
}

/** Opens (creating) a SQLite file, naming it and its folder when that fails. */
function openSqlite(file: string): SQLite.Database {
  try {
    if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true });
    return new SQLite(file);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    const code = err.code && !err.message.includes(err.code) ? ` (${err.code})` : '';
    throw new Error(
      `cannot open the SQLite database ${resolve(file)}: ${err.message}${code} — check that its folder ` +
        `${dirname(resolve(file))} exists and this user may write there`,
      { cause: e },
    );
  }
}

const STATEMENTS_KEPT = 256;

/**
 * better-sqlite3 compiles the SQL at every prepare(), and Kysely prepares every query it runs: compiling one of
 * berth's joins costs many times what running it does (docs/benchmarks.md, "Why the code is as it is").
 * Prepared statements are kept by their SQL (the STATEMENTS_KEPT used last) and run again. iterate() (Kysely's
 * stream()) gets a statement of its own, since a statement being iterated cannot run anything else meanwhile.
 */
function reusingStatements(database: SQLite.Database): SqliteDatabase {
  const kept = new LRUCache<string, SQLite.Statement>({ max: STATEMENTS_KEPT });
  return {
    close: () => database.close(),
    prepare(sql: string) {
      let s = kept.get(sql);
      if (!s) {
        s = database.prepare(sql);
        kept.set(sql, s);
      }
      // SQLite rolls a transaction back by itself on some errors (SQLITE_FULL: a full disk); the ROLLBACK that
      // follows would then fail ("no transaction is active") and hide the error that says what happened
      const rollback = /^\s*rollback\s*$/i.test(sql);
      return {
        reader: s.reader,
        all: (parameters) => s.all(parameters),
        run: (parameters) =>
          rollback && !database.inTransaction ? { changes: 0, lastInsertRowid: 0 } : s.run(parameters),
        iterate: (parameters) => database.prepare(sql).iterate(parameters),
      };
    },
  };
}

/** Checks the database answers (for readiness probes). */
export async function ping(db: Db): Promise<void> {
  await sql`select 1`.execute(db.kysely);
}
