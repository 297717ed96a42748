// Credentials end with their user (issue 19, point 1), on each backend: user ids are never reused, and registry
// tokens and remembered credentials are bound to the id, so a new user given a removed user's name gets nothing.
import { SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { backends, twoConnections, type Backend } from '../../test/helpers/backend.js';
import { Auth, type Credentials } from './auth.js';
import { can } from './principal.js';

const ADDRESS = '192.0.2.1';

describe.each(backends())('user ids on %s', (backend: Backend) => {
  const conn = twoConnections(`user_ids_${backend}`, backend);
  let n = 0;
  const clock = 1_800_000_000_000;
  const now = () => clock;

  const fresh = async (auth: Auth) => {
    const name = `m${++n}`;
    await auth.users.create(name, `${name}-password`);
    await auth.users.grant(name, `${name}-ns/*`, ['pull', 'push']);
    return { name, basic: { kind: 'basic', user: name, password: `${name}-password` } as Credentials };
  };
  const bearer = (token: string): Credentials => ({ kind: 'bearer', token });
  const refused = (auth: Auth, creds: Credentials) =>
    expect(auth.authenticate(creds, ADDRESS)).rejects.toMatchObject({ code: 'UNAUTHORIZED' });
  const scope = (name: string) => [`repository:${name}-ns/app:pull,push`];

  it('the id of a removed user is never given again, not even the highest one', async () => {
    const auth = new Auth(conn.db.kysely, { now });
    const { name } = await fresh(auth);
    const first = (await auth.users.get(name)).id;
    await auth.users.remove(name); // the highest id: without AUTOINCREMENT SQLite would give it again
    await auth.users.create(name, 'another-password');
    expect((await auth.users.get(name)).id).toBeGreaterThan(first);
  });

  it('a registry token, by password or by API token, ends with its user even when the name is given again', async () => {
    const auth = new Auth(conn.db.kysely, { now });
    const { name, basic } = await fresh(auth);
    const api = await auth.tokens.create(await auth.users.get(name), {
      name: 't',
      scopes: null,
      expiresAt: null,
    });
    const byPassword = await auth.issue(await auth.authenticate(basic, ADDRESS), scope(name));
    const byToken = await auth.issue(await auth.authenticate(bearer(api.token), ADDRESS), scope(name));
    for (const t of [byPassword, byToken]) {
      const p = await auth.authenticate(bearer(t.token), ADDRESS);
      expect(can(p, `${name}-ns/app`, 'push')).toBe(true);
      expect(p.userId).toBe((await auth.users.get(name)).id);
    }
    await auth.users.remove(name);
    await auth.users.create(name, `${name}-password`); // even the same password
    for (const t of [byPassword.token, byToken.token, api.token]) await refused(auth, bearer(t));
    // and another process, which never saw them
    const there = new Auth(conn.other.kysely, { now });
    for (const t of [byPassword.token, byToken.token]) await refused(there, bearer(t));
  });

  it('a registry token naming a user without an id, or with the id of another user, is refused', async () => {
    const auth = new Auth(conn.db.kysely, { now });
    await auth.init();
    const { name } = await fresh(auth);
    const { name: otherName } = await fresh(auth);
    const key = await conn.db.kysely
      .selectFrom('signing_keys')
      .select('secret')
      .where('kid', '=', 'key-1')
      .executeTakeFirstOrThrow();
    const sign = (claims: Record<string, unknown>) =>
      new SignJWT({ access: [{ type: 'repository', name: `${name}-ns/app`, actions: ['pull'] }], ...claims })
        .setProtectedHeader({ alg: 'HS256', typ: 'JWT', kid: 'key-1' })
        .setIssuer('berth')
        .setAudience('berth')
        .setSubject(name)
        .setIssuedAt(Math.floor(clock / 1000))
        .setExpirationTime(Math.floor(clock / 1000) + 300)
        .sign(Buffer.from(key.secret, 'base64url'));
    const id = (await auth.users.get(name)).id;
    expect((await auth.authenticate(bearer(await sign({ uid: id })), ADDRESS)).user).toBe(name); // faithful
    await refused(auth, bearer(await sign({})));
    await refused(auth, bearer(await sign({ uid: (await auth.users.get(otherName)).id })));
    await refused(auth, bearer(await sign({ uid: String(id) })));
  });

  it('credentials another process still remembers of a removed user make no token for the new user', async () => {
    const here = new Auth(conn.db.kysely, { now, cacheSeconds: 10 });
    const there = new Auth(conn.other.kysely, { now, cacheSeconds: 10 });
    const { name, basic } = await fresh(here);
    const stale = await there.authenticate(basic, ADDRESS); // remembered there
    await here.users.remove(name);
    await here.users.create(name, `${name}-password`);
    // within cacheSeconds `there` still answers what it remembered (the documented delay), but that principal
    // is the old user's: no API token of the new user, and a registry token only the old user's (refused)
    expect((await there.authenticate(basic, ADDRESS)).userId).toBe(stale.userId);
    const opts = { name: 'x', scopes: null, expiresAt: null };
    await expect(there.createToken(stale, name, opts)).rejects.toMatchObject({ code: 'UNAUTHORIZED' });
    await expect(there.requireSelfOrAdmin(stale, name)).rejects.toMatchObject({ code: 'UNAUTHORIZED' });
    await here.requireSelfOrAdmin(await here.authenticate(basic, ADDRESS), name); // the new user's own
    const t = await there.issue(stale, scope(name));
    await refused(here, bearer(t.token));
    await refused(there, bearer(t.token));
    expect((await here.tokens.list(name)).length).toBe(0);
  });

  it('a check that overlapped a removal remembers nothing (password and registry token)', async () => {
    const auth = new Auth(conn.db.kysely, { now, cacheSeconds: 10 });
    const { name, basic } = await fresh(auth);
    const t = await auth.issue(await auth.authenticate(basic, ADDRESS), scope(name));
    auth.invalidate(); // nothing remembered from the line above
    // the user is removed (through this process) just after the check read them, before it answers
    const { users } = auth;
    const realCheck = users.checkCredentials.bind(users);
    users.checkCredentials = async (user, password) => {
      const u = await realCheck(user, password);
      await users.remove(user);
      return u;
    };
    await auth.authenticate(basic, ADDRESS); // in flight when the removal came: answered
    users.checkCredentials = realCheck;
    await refused(auth, basic);
    await users.create(name, `${name}-password`);
    await users.grant(name, `${name}-ns/*`, ['pull']);
    const t2 = await auth.issue(await auth.authenticate(basic, ADDRESS), scope(name));
    auth.invalidate();
    const realFind = users.findById.bind(users);
    users.findById = async (id, user) => {
      const u = await realFind(id, user);
      await users.remove(user);
      return u;
    };
    await auth.authenticate(bearer(t2.token), ADDRESS);
    users.findById = realFind;
    await refused(auth, bearer(t2.token));
    await refused(auth, bearer(t.token));
  });
});
