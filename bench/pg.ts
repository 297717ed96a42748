// PostgreSQL for the scale group: a database of the bench's own (berth_bench_<pid>), made at the start of the
// group and dropped at its end, on the server of BERTH_BENCH_POSTGRES_URL (default: the tests' server).
import pg from 'pg';

/** The server to use, as a URL whose database the bench may connect to in order to create and drop its own. */
export const POSTGRES_URL =
  process.env.BERTH_BENCH_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

async function withClient<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: POSTGRES_URL, connectionTimeoutMillis: 3000 });
  c.on('error', () => undefined);
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end().catch(() => undefined);
  }
}

/** Whether PostgreSQL answers at POSTGRES_URL (and lets the bench in). */
export function postgresAnswers(): Promise<boolean> {
  return withClient((c) => c.query('select 1')).then(
    () => true,
    () => false,
  );
}

/** Creates the database `name` (dropping a leftover of that name first); answers its URL. */
export async function createDatabase(name: string): Promise<string> {
  if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`bad database name ${name}`);
  await withClient(async (c) => {
    await c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
    await c.query(`CREATE DATABASE "${name}"`);
  });
  const u = new URL(POSTGRES_URL);
  u.pathname = `/${name}`;
  return u.toString();
}

/** Drops the database `name` (its connections closed first). */
export async function dropDatabase(name: string): Promise<void> {
  if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`bad database name ${name}`);
  await withClient((c) => c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`));
}
