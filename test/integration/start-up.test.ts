// `berth serve` refusing to start, saying why and what to do: a --database that is no database, a database that
// cannot be reached (which one, password masked), a data folder that cannot be written; BERTH_ADMIN_PASSWORD ignored.
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { runBerthOffline } from '../helpers/cli.js';
import {
  POSTGRES_URL,
  postgresAvailable,
  removeTestDatabase,
  requireOrSkip,
  testDatabaseUrl,
} from '../helpers/backend.js';
import { startServer } from '../../src/server.js';

const dirs: string[] = [];
const tempDir = (): string => {
  const d = mkdtempSync(join(tmpdir(), 'start-up-'));
  dirs.push(d);
  return d;
};
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const serve = (...args: string[]) => runBerthOffline(['serve', '--listen', '127.0.0.1:0', ...args]);

/** A loopback port nothing listens on: one just given up. */
async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

describe('--database', () => {
  it.each(['mysql://root@db/berth', 'postgres:/typo', 'postgress://postgres@127.0.0.1/berth', 'http://x'])(
    'refuses %s naming the accepted forms, and makes no SQLite file of it',
    async (value) => {
      const data = tempDir();
      const cwd = process.cwd();
      const work = tempDir();
      process.chdir(work);
      try {
        const r = await serve('--data', data, '--database', value);
        expect(r.code).toBe(1);
        expect(r.err).toMatch(/is neither a PostgreSQL URL nor a file path/);
        expect(r.err).toMatch(/postgres:\/\/USER\[:PASSWORD\]@HOST\[:PORT\]\/DATABASE URL/);
        expect(r.err).toMatch(/SQLite file path/);
        expect(r.out).not.toMatch(/listening/);
      } finally {
        process.chdir(cwd);
      }
      // neither a folder named like the URL nor a database in the data folder
      expect(existsSync(join(work, value.split('/')[0]!))).toBe(false);
      expect(existsSync(join(data, 'berth.db'))).toBe(false);
    },
  );

  it('masks the password when it names the database it refuses', async () => {
    const r = await serve('--data', tempDir(), '--database', 'mysql://root:s3cret@db/berth');
    expect(r.code).toBe(1);
    expect(r.err).toContain('mysql://root:***@db/berth');
    expect(r.err).not.toContain('s3cret');
  });
});

describe('a database that cannot be reached', () => {
  it('says it is the database, which one (password masked) and what to check: connection refused', async () => {
    const port = await closedPort();
    const r = await serve('--data', tempDir(), '--database', `postgres://postgres:pw@127.0.0.1:${port}/test`);
    expect(r.code).toBe(1);
    expect(r.err).toBe(
      `berth: could not connect to the database at postgres://postgres:***@127.0.0.1:${port}/test: ` +
        'connection refused — is PostgreSQL running there?\n',
    );
  });

  it('a role the server does not know (28000) and a database it does not have (3D000)', async (ctx) => {
    requireOrSkip(await postgresAvailable(), `PostgreSQL does not answer at ${POSTGRES_URL}`, ctx);
    const role = new URL(POSTGRES_URL);
    role.username = 'no_such_role_berth';
    role.password = '';
    const r = await serve('--data', tempDir(), '--database', role.toString());
    expect(r.code).toBe(1);
    // trust authentication answers 28000 (no such role), password authentication 28P01: both name the role
    expect(r.err).toMatch(
      /^berth: could not connect to the database at postgres:\/\/no_such_role_berth@.*: (the server refuses role no_such_role_berth — check that the role exists and pg_hba.conf lets it in|the password of role no_such_role_berth is wrong — check the password in the URL)\n$/,
    );
    const db = new URL(POSTGRES_URL);
    db.pathname = '/no_such_database_berth';
    const d = await serve('--data', tempDir(), '--database', db.toString());
    expect(d.code).toBe(1);
    expect(d.err).toContain(
      ': there is no database no_such_database_berth — create it (createdb no_such_database_berth) or fix the name in the URL',
    );
    expect(d.err).toContain(
      `could not connect to the database at ${db.toString().replace(/:[^:@/]*@/, ':***@')}`,
    );
  });
});

describe('a data folder that cannot be written', () => {
  it('is found at start, naming the path and the errno', async () => {
    const base = tempDir();
    writeFileSync(join(base, 'file'), 'a file, not a folder');
    const data = join(base, 'file', 'data');
    const r = await serve('--data', data);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(new RegExp(`^berth: the data directory ${data} cannot be written: ENOTDIR`));
  });

  it('its store/ that cannot be written is found at start too (not by the first upload)', async () => {
    const data = tempDir();
    // a file where the store's folder should be (chmod would not stop root, whom tests may run as)
    writeFileSync(join(data, 'store'), 'a file, not a folder');
    const database = await testDatabaseUrl('start-up-store');
    try {
      const r = await serve('--data', data, '--database', database);
      expect(r.code).toBe(1);
      expect(r.err).toMatch(
        new RegExp(`^berth: the blob store ${join(data, 'store')} cannot be written: (ENOTDIR|EEXIST)`),
      );
    } finally {
      await removeTestDatabase(database);
    }
  });

  it('a SQLite file whose folder cannot be made names it', async () => {
    const base = tempDir();
    writeFileSync(join(base, 'file'), 'a file');
    const r = await serve('--data', tempDir(), '--database', join(base, 'file', 'berth.db'));
    expect(r.code).toBe(1);
    expect(r.err).toContain(`cannot open the SQLite database ${join(base, 'file', 'berth.db')}`);
    expect(r.err).toMatch(/ENOTDIR|EEXIST/);
  });
});

describe('BERTH_ADMIN_PASSWORD', () => {
  it('on a database that has users already: one line saying it is ignored and how to reset', async () => {
    const data = tempDir();
    mkdirSync(data, { recursive: true });
    const database = await testDatabaseUrl('start-up-admin');
    vi.stubEnv('BERTH_ADMIN_PASSWORD', 'first-password-1');
    const lines: string[] = [];
    const spy = vi
      .spyOn(console, 'error')
      .mockImplementation((...a: unknown[]) => void lines.push(a.join(' ')));
    try {
      const first = await startServer({ listen: '127.0.0.1:0', data, database, logLevel: 'silent' });
      await first.close();
      expect(lines).toEqual([
        'berth: created the administrator "admin" with the password in BERTH_ADMIN_PASSWORD',
      ]);
      lines.length = 0;
      vi.stubEnv('BERTH_ADMIN_PASSWORD', 'second-password-2');
      const second = await startServer({ listen: '127.0.0.1:0', data, database, logLevel: 'silent' });
      await second.close();
      expect(lines.join('\n').split('\n')).toEqual([
        "berth: BERTH_ADMIN_PASSWORD is ignored: the database has users already (it only sets the first administrator's password); to set a new one, run: berth admin reset-password admin",
      ]);
    } finally {
      spy.mockRestore();
      vi.unstubAllEnvs();
      await removeTestDatabase(database);
    }
  });
});
