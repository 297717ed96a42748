// Auth on each backend: its own changes take effect at once, others' after cacheSeconds; token scopes.
import { describe, expect, it } from 'vitest';
import { backends, twoConnections, type Backend } from '../../test/helpers/backend.js';
import { Auth, type Credentials } from './auth.js';
import { can } from './principal.js';

describe.each(backends())('Auth on %s', (backend: Backend) => {
  const conn = twoConnections(`auth_${backend}`, backend);
  let n = 0;
  let clock = 1_800_000_000_000;
  const now = () => clock;

  /** A user no other test touches, with a password. */
  const fresh = async (auth: Auth) => {
    const name = `u${++n}`;
    await auth.users.create(name, `${name}-password`);
    return { name, basic: { kind: 'basic', user: name, password: `${name}-password` } as Credentials };
  };
  const refused = (auth: Auth, creds: Credentials) =>
    expect(auth.authenticate(creds, '192.0.2.1')).rejects.toMatchObject({ code: 'UNAUTHORIZED' });

  it('permissions, passwords and removals through its services take effect at once', async () => {
    const auth = new Auth(conn.db.kysely, { now });
    const { name, basic } = await fresh(auth);
    await auth.users.grant(name, 'team/*', ['push']);
    expect(can(await auth.authenticate(basic, '192.0.2.1'), 'team/app', 'push')).toBe(true); // remembered now
    await auth.users.revoke(name, 'team/*');
    expect(can(await auth.authenticate(basic, '192.0.2.1'), 'team/app', 'pull')).toBe(false);
    await auth.users.grant(name, 'team/*', ['pull']);
    expect(can(await auth.authenticate(basic, '192.0.2.1'), 'team/app', 'pull')).toBe(true);
    await auth.users.setPassword(name, 'another-password');
    await refused(auth, basic);
    const renewed = { ...basic, password: 'another-password' } as Credentials;
    expect((await auth.authenticate(renewed, '192.0.2.1')).user).toBe(name);
    await auth.users.remove(name);
    await refused(auth, renewed);
  });

  it('public patterns and revoked tokens take effect at once', async () => {
    const auth = new Auth(conn.db.kysely, { now });
    const { name } = await fresh(auth);
    const none: Credentials = { kind: 'none' };
    expect(can(await auth.authenticate(none, '192.0.2.1'), `open${n}/app`, 'pull')).toBe(false);
    await auth.users.addPublic(`open${n}/*`);
    expect(can(await auth.authenticate(none, '192.0.2.1'), `open${n}/app`, 'pull')).toBe(true);
    await auth.users.removePublic(`open${n}/*`);
    expect(can(await auth.authenticate(none, '192.0.2.1'), `open${n}/app`, 'pull')).toBe(false);

    const t = await auth.tokens.create(await auth.users.get(name), {
      name: 't',
      scopes: null,
      expiresAt: null,
    });
    const bearer: Credentials = { kind: 'bearer', token: t.token };
    expect((await auth.authenticate(bearer, '192.0.2.1')).tokenId).toBe(t.id);
    await auth.tokens.revoke(t.id);
    await refused(auth, bearer);
  });

  it('another process forgets what it remembered after cacheSeconds (its own clock)', async () => {
    const here = new Auth(conn.db.kysely, { now, cacheSeconds: 10 });
    const there = new Auth(conn.other.kysely, { now, cacheSeconds: 10 });
    const { name, basic } = await fresh(here);
    await here.users.grant(name, 'team/*', ['pull']);
    expect(can(await there.authenticate(basic, '192.0.2.1'), 'team/app', 'pull')).toBe(true);
    await here.users.revoke(name, 'team/*');
    clock += 9_999;
    expect(can(await there.authenticate(basic, '192.0.2.1'), 'team/app', 'pull')).toBe(true);
    clock += 2;
    expect(can(await there.authenticate(basic, '192.0.2.1'), 'team/app', 'pull')).toBe(false);
  });

  it('remembers nothing with cacheSeconds 0', async () => {
    const auth = new Auth(conn.db.kysely, { now, cacheSeconds: 0 });
    const { name, basic } = await fresh(auth);
    await auth.users.grant(name, 'team/*', ['pull']);
    expect(can(await auth.authenticate(basic, '192.0.2.1'), 'team/app', 'pull')).toBe(true);
    await conn.db.kysely.deleteFrom('user_permissions').execute(); // behind its back
    expect(can(await auth.authenticate(basic, '192.0.2.1'), 'team/app', 'pull')).toBe(false);
  });

  it('a token with scopes creates tokens within them only; an unscoped one and an administrator any', async () => {
    const auth = new Auth(conn.db.kysely, { now });
    const { name } = await fresh(auth);
    const user = await auth.users.get(name);
    const scoped = await auth.tokens.create(user, {
      name: 'scoped',
      scopes: [{ pattern: 'team/*', actions: ['push'] }],
      expiresAt: null,
    });
    const p = await auth.authenticate({ kind: 'bearer', token: scoped.token }, '192.0.2.1');
    const opts = (scopes: { pattern: string; actions: ('pull' | 'push' | 'delete')[] }[] | null) => ({
      name: 'child',
      scopes,
      expiresAt: null,
    });
    const made = await auth.createToken(p, name, opts([{ pattern: 'team/app', actions: ['pull'] }]));
    expect(made.scopes).toEqual(['repository:team/app:pull']);
    await expect(auth.createToken(p, name, opts(null))).rejects.toMatchObject({ code: 'DENIED' });
    await expect(
      auth.createToken(p, name, opts([{ pattern: 'other/*', actions: ['pull'] }])),
    ).rejects.toThrow(/repository:other\/\*:pull is not/);
    await expect(
      auth.createToken(p, name, opts([{ pattern: 'team/*', actions: ['delete'] }])),
    ).rejects.toMatchObject({ code: 'DENIED' });

    const unscoped = await auth.tokens.create(user, { name: 'all', scopes: null, expiresAt: null });
    const q = await auth.authenticate({ kind: 'bearer', token: unscoped.token }, '192.0.2.1');
    expect((await auth.createToken(q, name, opts(null))).scopes).toBeNull();
    const byPassword = await auth.authenticate(
      { kind: 'basic', user: name, password: `${name}-password` },
      '192.0.2.1',
    );
    expect((await auth.createToken(byPassword, name, opts(null))).user).toBe(name);
  });
});
