// `berth admin reset-password`: a lost password set anew on the instance's database, without the server.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { openBerth, type Berth } from '../../src/app.js';
import { runBerthOffline } from '../helpers/cli.js';
import { removeTestDatabase, testDatabaseUrl } from '../helpers/backend.js';

let data: string;
let database: string;
let tokenId: string;
beforeAll(async () => {
  data = mkdtempSync(join(tmpdir(), 'cli-admin-'));
  database = await testDatabaseUrl('cli-admin');
  const berth = await openBerth({ data, database });
  try {
    await berth.auth.users.ensureAdmin('the-lost-password');
    await berth.auth.users.create('alice', 'alice-password-1');
    tokenId = (
      await berth.auth.tokens.create(await berth.auth.users.get('admin'), {
        name: 'ci',
        scopes: null,
        expiresAt: null,
      })
    ).id;
  } finally {
    await berth.close();
  }
});
afterAll(async () => {
  rmSync(data, { recursive: true, force: true });
  await removeTestDatabase(database);
});

const reset = (args: string[], stdin?: string) =>
  runBerthOffline(['admin', 'reset-password', ...args, '--data', data, '--database', database], { stdin });

/** Whether `password` is now `user`'s, checked on the database as the server would. */
async function works(user: string, password: string): Promise<boolean> {
  const berth: Berth = await openBerth({ data, database });
  try {
    return (await berth.auth.users.checkCredentials(user, password)) !== undefined;
  } finally {
    await berth.close();
  }
}

describe('berth admin reset-password', () => {
  it('generates a password, prints it once, and it replaces the lost one', async () => {
    const r = await reset(['admin']);
    expect(r.code, r.err).toBe(0);
    const m =
      /^set a new password for admin\npassword: (\S+)\n\(it is shown only this once: log in with it\)\n/.exec(
        r.out,
      );
    expect(m, r.out).not.toBeNull();
    expect(await works('admin', m![1]!)).toBe(true);
    expect(await works('admin', 'the-lost-password')).toBe(false);
  });

  it('takes the password from stdin (--password-stdin), or from BERTH_NEW_PASSWORD, and prints none', async () => {
    const r = await reset(['admin', '--password-stdin'], 'from-stdin-password\n');
    expect(r.code, r.err).toBe(0);
    expect(r.out).not.toContain('from-stdin-password');
    expect(await works('admin', 'from-stdin-password')).toBe(true);
    vi.stubEnv('BERTH_NEW_PASSWORD', 'from-env-password');
    try {
      const e = await reset(['admin']);
      expect(e.code, e.err).toBe(0);
      expect(e.out).not.toMatch(/password: /);
    } finally {
      vi.unstubAllEnvs();
    }
    expect(await works('admin', 'from-env-password')).toBe(true);
  });

  it('leaves API tokens alone unless --revoke-tokens, which revokes every one of the user', async () => {
    const token = async () => {
      const berth = await openBerth({ data, database });
      try {
        return await berth.auth.tokens.get(tokenId);
      } finally {
        await berth.close();
      }
    };
    expect((await token()).revokedAt).toBeNull();
    const r = await reset(['admin', '--revoke-tokens', '--password-stdin'], 'after-revoke-password\n');
    expect(r.code, r.err).toBe(0);
    expect(r.out).toContain('revoked 1 API token of admin');
    expect((await token()).revokedAt).not.toBeNull();
  });

  it('refuses a short password and an unknown user, changing nothing', async () => {
    const short = await reset(['admin', '--password-stdin'], 'short\n');
    expect(short.code).toBe(1);
    expect(short.err).toMatch(/password/i);
    expect(await works('admin', 'after-revoke-password')).toBe(true);
    const unknown = await reset(['bob']);
    expect(unknown.code).toBe(1);
    expect(unknown.err).toMatch(/user bob does not exist/);
    expect(await works('alice', 'alice-password-1')).toBe(true);
  });

  it('refuses a data folder without a database (exit 2), making none there', async () => {
    const empty = join(data, 'no-such-instance');
    const r = await runBerthOffline(['admin', 'reset-password', 'admin', '--data', empty]);
    expect(r.code).toBe(2);
    expect(r.err).toContain(`there is no berth database at ${join(empty, 'berth.db')}`);
    expect(existsSync(empty)).toBe(false);
  });
});
