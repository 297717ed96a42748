// Test helpers: which database backend a test runs against, and how a test that needs a missing tool or
// service behaves (skipped with its reason locally, failed when CI=true).
//
// BERTH_TEST_DATABASE selects the backend: `sqlite` (default) or `postgres`. PostgreSQL is reached at
// BERTH_TEST_POSTGRES_URL, default postgres://postgres@127.0.0.1:5432/test (its user needs CREATEDB). Each test
// process gets a database of its own on that server, and each test a schema in it: test processes running in
// parallel then never create or drop schemas in a database another one is migrating (Kysely's migrator lists
// the tables of every schema of its database, and a schema dropped during that listing fails it).
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { hostname, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, it, type TestContext } from 'vitest';
import { openDatabase, type Db } from '../../src/db/connect.js';

export type Backend = 'sqlite' | 'postgres';

export const POSTGRES_URL = process.env.BERTH_TEST_POSTGRES_URL || 'postgres://postgres@127.0.0.1:5432/test';

/** True when running under CI (`CI=true`): a missing tool or service is then a failure, not a skip. */
export const inCI = (): boolean => process.env.CI === 'true';

/** The backend chosen by BERTH_TEST_DATABASE (`sqlite` when unset). */
export function selectedBackend(): Backend {
  const v = (process.env.BERTH_TEST_DATABASE ?? '').trim().toLowerCase();
  if (v === '' || v === 'sqlite') return 'sqlite';
  if (v === 'postgres' || v === 'postgresql' || v === 'pg') return 'postgres';
  throw new Error(`BERTH_TEST_DATABASE must be "sqlite" or "postgres", not ${JSON.stringify(v)}`);
}

/** A schema name PostgreSQL and openDatabase accept: lowercase, [a-z_][a-z0-9_]*, at most 63 bytes. */
function schemaName(label: string): string {
  const base = label
    .toLowerCase()
    .replace(/[^a-z0-9_]+/g, '_')
    .replace(/^_+|_+$/g, '')
    .slice(0, 40);
  return `t_${base || 'db'}_${randomBytes(5).toString('hex')}`;
}

const sqliteDirs = new Set<string>();

/**
 * Databases of test processes are named berth_t_<host>_<pid>_<random> (host: a hash of this machine's name): a
 * leftover of this machine tells by its pid whether it is still in use.
 */
const HOST = createHash('sha256').update(hostname()).digest('hex').slice(0, 8);
const PROCESS_DATABASE = new RegExp(`^berth_t_${HOST}_(\\d+)_[a-f0-9]+$`);

let processDatabase: Promise<string> | undefined;

/** Runs `fn` with a client connected to the database of POSTGRES_URL (where databases are created and dropped). */
async function withServer<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: POSTGRES_URL, connectionTimeoutMillis: 5000 });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
};

/**
 * The URL of this process's own PostgreSQL database, created on first use. Databases left by test processes
 * that died without dropping theirs are dropped first.
 */
function processDatabaseUrl(): Promise<string> {
  processDatabase ??= withServer(async (c) => {
    const { rows } = await c.query<{ datname: string }>(
      `SELECT datname FROM pg_database WHERE datname LIKE 'berth\\_t\\_%'`,
    );
    for (const { datname } of rows) {
      const pid = Number(PROCESS_DATABASE.exec(datname)?.[1]);
      if (pid && !alive(pid)) {
        await c.query(`DROP DATABASE IF EXISTS "${datname}" WITH (FORCE)`).catch(() => {});
      }
    }
    const name = `berth_t_${HOST}_${process.pid}_${randomBytes(4).toString('hex')}`;
    await c.query(`CREATE DATABASE "${name}"`);
    const u = new URL(POSTGRES_URL);
    u.pathname = `/${name}`;
    return u.toString();
  }).catch((e: unknown) => {
    processDatabase = undefined; // the next test tries again
    throw e;
  });
  return processDatabase;
}

/** Drops this process's PostgreSQL database, if it made one (test/setup.ts calls it after each test file). */
export async function removeProcessDatabase(): Promise<void> {
  const made = processDatabase;
  processDatabase = undefined;
  if (!made) return;
  const url = await made.catch(() => undefined);
  if (!url) return;
  const name = new URL(url).pathname.slice(1);
  await withServer((c) => c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`));
}

/**
 * A database URL for a new, empty database of the selected backend: a file in a fresh temp dir for SQLite,
 * or this process's PostgreSQL database with a fresh `?schema=` (openDatabase creates the schema).
 * Pass `backend` to force one (e.g. in a `describe.each(backends())`).
 */
export async function testDatabaseUrl(label: string, backend: Backend = selectedBackend()): Promise<string> {
  if (backend === 'postgres') {
    const u = new URL(await processDatabaseUrl());
    u.searchParams.set('schema', schemaName(label));
    return u.toString();
  }
  const safe = label.replace(/[^A-Za-z0-9_.-]+/g, '_').slice(0, 40) || 'db';
  const dir = mkdtempSync(join(tmpdir(), `berth-test-${safe}-`));
  sqliteDirs.add(dir);
  return join(dir, `${safe}.sqlite`);
}

/** Drops the schema named in a PostgreSQL test URL (no-op for other URLs or a URL without a schema). */
export async function dropSchema(url: string): Promise<void> {
  if (!/^postgres(ql)?:\/\//.test(url)) return;
  const u = new URL(url);
  const schema = u.searchParams.get('schema');
  if (!schema) return;
  if (!/^[a-z_][a-z0-9_]*$/.test(schema)) throw new Error(`invalid schema name ${schema}`);
  u.searchParams.delete('schema');
  const client = new pg.Client({ connectionString: u.toString(), connectionTimeoutMillis: 5000 });
  await client.connect();
  try {
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  } finally {
    await client.end();
  }
}

/** Removes what testDatabaseUrl made: the PostgreSQL schema, or the SQLite file's temp dir. */
export async function removeTestDatabase(url: string): Promise<void> {
  if (/^postgres(ql)?:\/\//.test(url)) return dropSchema(url);
  const dir = dirname(url.replace(/^sqlite:(\/\/)?/, ''));
  if (sqliteDirs.delete(dir)) rmSync(dir, { recursive: true, force: true });
}

let pgProbe: Promise<boolean> | undefined;

/** Whether PostgreSQL answers at POSTGRES_URL (2 s timeout; the answer is cached per process). */
export function postgresAvailable(): Promise<boolean> {
  pgProbe ??= (async () => {
    const client = new pg.Client({ connectionString: POSTGRES_URL, connectionTimeoutMillis: 2000 });
    client.on('error', () => {});
    try {
      await client.connect();
      await client.query('select 1');
      return true;
    } catch {
      return false;
    } finally {
      await client.end().catch(() => {});
    }
  })();
  return pgProbe;
}

let pgSyncProbe: boolean | undefined;

/** postgresAvailable() for code that cannot await (suite collection): the same probe in a child process. */
function postgresAvailableSync(): boolean {
  if (pgSyncProbe !== undefined) return pgSyncProbe;
  const pgPath = createRequire(import.meta.url).resolve('pg');
  const script = `
    const pg = require(${JSON.stringify(pgPath)});
    const c = new pg.Client({ connectionString: ${JSON.stringify(POSTGRES_URL)}, connectionTimeoutMillis: 2000 });
    c.on('error', () => {});
    c.connect().then(() => c.query('select 1')).then(() => process.exit(0), () => process.exit(1));`;
  const r = spawnSync(process.execPath, ['-e', script], { stdio: 'ignore', timeout: 5000 });
  pgSyncProbe = r.status === 0;
  return pgSyncProbe;
}

/**
 * The backends to run a cross-backend test on. A run that names its backend in BERTH_TEST_DATABASE runs them on
 * that one only (CI has a run per backend: each test runs once in each). Otherwise SQLite always, and PostgreSQL
 * when it answers, or when it does not but is required (CI=true), so that its tests fail instead of silently
 * vanishing.
 */
export function backends(): Backend[] {
  if ((process.env.BERTH_TEST_DATABASE ?? '').trim() !== '') return [selectedBackend()];
  return inCI() || postgresAvailableSync() ? ['sqlite', 'postgres'] : ['sqlite'];
}

/** Whether a command is on PATH (`command -v`). */
export function hasCommand(name: string): boolean {
  if (!/^[A-Za-z0-9_.+-]+$/.test(name)) return false;
  return (
    spawnSync('sh', ['-c', 'command -v "$1" >/dev/null 2>&1', 'sh', name], { stdio: 'ignore' }).status === 0
  );
}

const ciMessage = (reason: string): string =>
  `${reason} (required when CI=true, so this fails instead of skipping)`;

/**
 * `it` when `available`; otherwise an `it` whose tests fail with `reason` under CI=true, and are skipped
 * with `reason` appended to their names elsewhere.
 *
 *   const itSkopeo = skipUnless(hasCommand('skopeo'), 'skopeo is not installed');
 *   itSkopeo('pushes with skopeo', async () => { ... });
 *
 * The direct call form is covered; the chained forms (`.each`, `.concurrent`, …) are skipped locally
 * and, under CI, run as plain tests (which then fail on the missing tool themselves).
 */
export function skipUnless(available: boolean, reason: string): typeof it {
  if (available) return it;
  if (inCI()) {
    return new Proxy(it, {
      apply(target, thisArg, args: unknown[]) {
        const failing = args.map((a) =>
          typeof a === 'function'
            ? () => {
                throw new Error(ciMessage(reason));
              }
            : a,
        );
        if (!failing.some((a) => typeof a === 'function'))
          failing.push(() => {
            throw new Error(ciMessage(reason));
          });
        return Reflect.apply(target, thisArg, failing);
      },
    });
  }
  return new Proxy(it.skip, {
    apply(target, thisArg, args: unknown[]) {
      const [name, ...rest] = args;
      const named = typeof name === 'string' ? `${name} [skipped: ${reason}]` : name;
      return Reflect.apply(target, thisArg, [named, ...rest]);
    },
  }) as typeof it;
}

/**
 * `describe` when `available`; otherwise, under CI=true, a suite holding one failing test named after
 * `reason` (its body, hooks included, is not run); elsewhere `describe.skip` with `reason` in its name.
 */
export function describeUnless(available: boolean, reason: string): typeof describe {
  if (available) return describe;
  const wrap = (base: object, body: (name: unknown, rest: unknown[]) => unknown[]): typeof describe =>
    new Proxy(base, {
      apply(target, thisArg, args: unknown[]) {
        const [name, ...rest] = args;
        return Reflect.apply(target as (...a: unknown[]) => unknown, thisArg, body(name, rest));
      },
    }) as typeof describe;
  if (inCI()) {
    return wrap(describe, (name) => [
      name,
      () => {
        it(`requires: ${reason}`, () => {
          throw new Error(ciMessage(reason));
        });
      },
    ]);
  }
  return wrap(describe.skip, (name, rest) => [
    typeof name === 'string' ? `${name} [skipped: ${reason}]` : name,
    ...rest,
  ]);
}

/**
 * Inside a running test: returns when `cond` holds; otherwise fails the test with `reason` under CI=true,
 * and skips it with `reason` elsewhere. Pass the test context:
 *
 *   it('pulls with skopeo', async (ctx) => { requireOrSkip(hasCommand('skopeo'), 'skopeo is not installed', ctx); ... });
 */
export function requireOrSkip(cond: boolean, reason: string, ctx: Pick<TestContext, 'skip'>): void {
  if (cond) return;
  if (inCI()) throw new Error(ciMessage(reason));
  ctx.skip(reason);
}

/**
 * Two connections to one new database of `backend` (two processes' worth of state), opened before the describe
 * block's tests and closed and removed after them: `db` and `other` are read inside tests.
 */
export function twoConnections(label: string, backend: Backend): { readonly db: Db; readonly other: Db } {
  let url: string | undefined;
  let db: Db | undefined;
  let other: Db | undefined;
  beforeAll(async () => {
    url = await testDatabaseUrl(label, backend);
    db = await openDatabase(url);
    other = await openDatabase(url);
  });
  afterAll(async () => {
    await other?.close();
    await db?.close();
    if (url) await removeTestDatabase(url);
  });
  return {
    get db() {
      return db!;
    },
    get other() {
      return other!;
    },
  };
}
