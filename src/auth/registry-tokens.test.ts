// Registry tokens on each database backend: issued and verified with keys kept in the database, shared by every
// instance on it; anything else (another audience, issuer or key, a changed payload, an expired token) is refused.
import { randomBytes } from 'node:crypto';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backends, removeTestDatabase, testDatabaseUrl, type Backend } from '../../test/helpers/backend.js';
import { openDatabase, type Db } from '../db/connect.js';
import { RegistryTokens, type AccessEntry } from './registry-tokens.js';

const b64 = (o: unknown): string => Buffer.from(JSON.stringify(o)).toString('base64url');
const parts = (t: string) => {
  const [h, p, s] = t.split('.');
  return {
    header: JSON.parse(Buffer.from(h!, 'base64url').toString()),
    payload: JSON.parse(Buffer.from(p!, 'base64url').toString()),
    h: h!,
    p: p!,
    s: s!,
  };
};
const PUSH: AccessEntry[] = [{ type: 'repository', name: 'team/app', actions: ['pull', 'push'] }];

describe.each(backends())('registry tokens on %s', (backend: Backend) => {
  let url: string;
  let db: Db;
  let other: Db; // a second connection (pool) to the same database: another process, as far as it can tell
  let tokens: RegistryTokens;

  beforeAll(async () => {
    url = await testDatabaseUrl(`regtok_${backend}`, backend);
    db = await openDatabase(url);
    other = await openDatabase(url);
    tokens = new RegistryTokens(db.kysely, 'berth', 300);
    await tokens.init();
  });
  afterAll(async () => {
    await other?.close();
    await db?.close();
    if (url) await removeTestDatabase(url);
  });

  /** The signing key in the database, to forge tokens the way only a holder of the key could. */
  const keyOf = async (kid: string): Promise<Uint8Array> => {
    const r = await db.kysely
      .selectFrom('signing_keys')
      .select('secret')
      .where('kid', '=', kid)
      .executeTakeFirstOrThrow();
    return Buffer.from(r.secret, 'base64url');
  };

  /** A token shaped like ours, with whatever claims and key the test says. */
  const forge = async (
    key: Uint8Array,
    opts: { kid?: string; aud?: string; iss?: string; exp?: number; access?: unknown; sub?: string } = {},
  ) => {
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({ access: opts.access ?? PUSH })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT', kid: opts.kid ?? 'key-1' })
      .setIssuer(opts.iss ?? 'berth')
      .setAudience(opts.aud ?? 'berth')
      .setSubject(opts.sub ?? 'bob')
      .setIssuedAt(now)
      .setExpirationTime(opts.exp ?? now + 300)
      .sign(key);
  };

  it('issues a JWT that verifies to its user, token id, repositories and expiry', async () => {
    const before = Date.now();
    const t = await tokens.issue(
      'bob',
      [...PUSH, { type: 'registry', name: 'catalog', actions: ['*'] }],
      'tok1',
    );
    expect(t.expiresIn).toBe(300);
    expect(Date.parse(t.issuedAt)).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000);
    const { header, payload } = parts(t.token);
    expect(header).toEqual({ alg: 'HS256', typ: 'JWT', kid: 'key-1' });
    expect(payload).toMatchObject({ iss: 'berth', aud: 'berth', sub: 'bob', tid: 'tok1' });
    expect(payload.exp - payload.iat).toBe(300);
    expect(typeof payload.jti).toBe('string');

    const c = await tokens.verify(t.token);
    expect(c).toBeDefined();
    expect(c!.user).toBe('bob');
    expect(c!.tokenId).toBe('tok1');
    expect(c!.catalog).toBe(true);
    expect(c!.repositories).toEqual(new Map([['team/app', new Set(['pull', 'push'])]]));
    expect(c!.expiresAt).toBe(payload.exp * 1000);
  });

  it('an anonymous token has no subject and verifies to user null; two tokens differ (jti)', async () => {
    const a = await tokens.issue(null, []);
    const b = await tokens.issue(null, []);
    expect(a.token).not.toBe(b.token);
    expect(parts(a.token).payload.sub).toBeUndefined();
    const c = await tokens.verify(a.token);
    expect(c).toMatchObject({ user: null, catalog: false });
    expect(c!.tokenId).toBeUndefined();
    expect(c!.repositories.size).toBe(0);
  });

  it('keeps only known actions of the access claim', async () => {
    const key = await keyOf('key-1');
    const t = await forge(key, {
      access: [
        { type: 'repository', name: 'a', actions: ['pull', 'root', 'push'] },
        { type: 'repository', name: 'b', actions: 'pull' }, // not a list: ignored
        { type: 'something', name: 'c', actions: ['pull'] },
      ],
    });
    const c = await tokens.verify(t);
    expect(c!.repositories).toEqual(new Map([['a', new Set(['pull', 'push'])]]));
  });

  it('refuses a token for another service (audience) or from another issuer', async () => {
    const elsewhere = new RegistryTokens(db.kysely, 'another-registry', 300);
    await elsewhere.init();
    const t = await elsewhere.issue('bob', PUSH);
    expect(await elsewhere.verify(t.token)).toBeDefined();
    expect(await tokens.verify(t.token)).toBeUndefined();
    const key = await keyOf('key-1');
    expect(await tokens.verify(await forge(key, { iss: 'someone-else' }))).toBeUndefined();
    expect(await tokens.verify(await forge(key))).toBeDefined(); // the forge itself is faithful
  });

  it('refuses a tampered payload, header or signature', async () => {
    const t = (await tokens.issue('bob', [{ type: 'repository', name: 'team/app', actions: ['pull'] }]))
      .token;
    const { h, p, s, payload, header } = parts(t);
    const widened = {
      ...payload,
      access: [{ type: 'repository', name: 'team/app', actions: ['pull', 'push'] }],
    };
    expect(await tokens.verify(`${h}.${b64(widened)}.${s}`)).toBeUndefined();
    expect(await tokens.verify(`${h}.${b64({ ...payload, sub: 'admin' })}.${s}`)).toBeUndefined();
    expect(await tokens.verify(`${h}.${b64({ ...payload, exp: payload.exp + 3600 })}.${s}`)).toBeUndefined();
    const flipped = Buffer.from(s, 'base64url');
    flipped[0] = flipped[0]! ^ 1;
    expect(await tokens.verify(`${h}.${p}.${flipped.toString('base64url')}`)).toBeUndefined();
    expect(await tokens.verify(`${h}.${p}.`)).toBeUndefined();
    // "alg": "none", and an algorithm we do not accept
    expect(await tokens.verify(`${b64({ ...header, alg: 'none' })}.${p}.`)).toBeUndefined();
    expect(await tokens.verify(`${b64({ ...header, alg: 'HS512' })}.${p}.${s}`)).toBeUndefined();
    for (const junk of ['', 'x', 'a.b.c', `${h}.${p}`, 'berth_not_a_jwt']) {
      expect(await tokens.verify(junk)).toBeUndefined();
    }
  });

  it('refuses a token signed with another key, under a known or an unknown kid', async () => {
    const stranger = randomBytes(32);
    expect(await tokens.verify(await forge(stranger))).toBeUndefined();
    expect(await tokens.verify(await forge(stranger, { kid: 'key-999' }))).toBeUndefined();
    const { h, p, s, header } = parts(await forge(await keyOf('key-1')));
    expect(await tokens.verify(`${b64({ ...header, kid: 'key-999' })}.${p}.${s}`)).toBeUndefined();
    const noKid = { ...header };
    delete noKid.kid;
    expect(await tokens.verify(`${b64(noKid)}.${p}.${s}`)).toBeUndefined();
    expect(await tokens.verify(`${h}.${p}.${s}`)).toBeDefined();
  });

  it('refuses an expired token (after the 30 s clock tolerance) and one not yet valid', async () => {
    const start = Date.now();
    let now = start;
    const short = new RegistryTokens(db.kysely, 'berth', 60, () => now);
    const t = (await short.issue('bob', PUSH)).token;
    now = start + 59_000;
    expect(await short.verify(t)).toBeDefined();
    now = start + 85_000; // expired, within the tolerance for clocks of different machines
    expect(await short.verify(t)).toBeDefined();
    now = start + 92_000;
    expect(await short.verify(t)).toBeUndefined();
    now = start - 120_000; // issued "in the future" of this clock
    expect(await short.verify(t)).toBeUndefined();
    expect(await tokens.verify(t)).toBeDefined(); // by the real clock: issued just now
  });

  it('two instances on one database share the key: each accepts what the other issued', async () => {
    const second = new RegistryTokens(other.kysely, 'berth', 300);
    await second.init(); // finds key-1, makes no other
    const keys = await db.kysely.selectFrom('signing_keys').select('kid').execute();
    expect(keys.map((k) => k.kid)).toEqual(['key-1']);
    const fromFirst = await tokens.issue('bob', PUSH);
    const fromSecond = await second.issue('carol', PUSH);
    expect((await second.verify(fromFirst.token))?.user).toBe('bob');
    expect((await tokens.verify(fromSecond.token))?.user).toBe('carol');
    // and a new instance (a restart) accepts both
    const restarted = new RegistryTokens(other.kysely, 'berth', 300);
    await restarted.init();
    expect((await restarted.verify(fromFirst.token))?.user).toBe('bob');
  });

  it('accepts tokens signed with a key another instance added after this one loaded its keys', async () => {
    let now = Date.now();
    const early = new RegistryTokens(db.kysely, 'berth', 300, () => now);
    await early.init();
    await other.kysely
      .insertInto('signing_keys')
      .values({ kid: 'key-2', secret: randomBytes(32).toString('base64url'), created_at: Date.now() + 1000 })
      .execute();
    const late = new RegistryTokens(other.kysely, 'berth', 300);
    await late.init();
    const t = await late.issue('bob', PUSH);
    expect(parts(t.token).header.kid).toBe('key-2'); // the newest key signs
    // keys are looked for again at most once a second (made-up key ids must not cost a query each)
    expect(await early.verify(t.token)).toBeUndefined();
    now += 1500;
    expect((await early.verify(t.token))?.user).toBe('bob');
    // the older key still verifies what it signed
    expect((await late.verify(await forge(await keyOf('key-1'))))?.user).toBe('bob');
  });
});
