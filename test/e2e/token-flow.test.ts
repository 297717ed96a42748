// The registry token flow across processes: two `berth serve` on one database (and one blob store) accept each
// other's tokens, a token outlives a restart of the process that issued it, skopeo logs in through one process and
// pushes through the other; forged, altered, foreign and expired tokens are refused. On SQLite the two processes
// share the database file.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect } from 'vitest';
import { openDatabase, type Db } from '../../src/db/connect.js';
import { hasCommand, removeTestDatabase, skipUnless, testDatabaseUrl } from '../helpers/backend.js';
import { sha } from '../helpers/images.js';
import { ADMIN, ANONYMOUS, basic, fixture, http } from '../helpers/in-process.js';
import { BIN, run, skopeo, startRealServer, type RealServer } from '../helpers/real-server.js';
import { ociImage } from '../registry/oci.js';
import { readLayout } from './support.js';

const it = skipUnless(hasCommand('skopeo'), 'skopeo is not installed (apt-get install skopeo)');

let work: string;
let data: string;
let database: string;
let a: RealServer;
let b: RealServer;
let db: Db;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'token-flow-'));
  data = join(work, 'data');
  database = await testDatabaseUrl('token_flow');
  a = await startRealServer('token-flow-a', { data, database, args: ['--token-ttl', '120'] });
  b = await startRealServer('token-flow-b', { data, database, env: { BERTH_TOKEN_TTL: '600' } });
  db = await openDatabase(database);
});
afterAll(async () => {
  await proxy?.close();
  await db?.close();
  await b?.stop();
  await a?.stop();
  if (database) await removeTestDatabase(database);
  if (work) rmSync(work, { recursive: true, force: true });
});

const REPO = 'flow/app';
const ADMIN_BASIC = { authorization: basic(ADMIN.user, ADMIN.password) };
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

/** A registry token from `server` for the scope, as a client of the token flow gets one. */
async function tokenFrom(server: RealServer, scope: string) {
  const r = await http(
    'GET',
    `${server.url}/token?service=berth&scope=${encodeURIComponent(scope)}`,
    undefined,
    ADMIN_BASIC,
  );
  expect(r.status, r.body.toString()).toBe(200);
  return r.json() as { token: string; expires_in: number; issued_at: string };
}

const claims = (token: string) => JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString());

/** Pushes an image with nothing but a Bearer token: blobs in one request each, then the manifest. */
async function pushWith(server: RealServer, token: string, ref: string) {
  const img = ociImage({ n: 1 });
  for (const blob of img.blobs) {
    const r = await http('POST', `${server.url}/v2/${REPO}/blobs/uploads/?digest=${sha(blob)}`, blob, {
      ...bearer(token),
      'content-type': 'application/octet-stream',
    });
    expect(r.status, r.body.toString()).toBe(201);
  }
  const m = await http('PUT', `${server.url}/v2/${REPO}/manifests/${ref}`, img.bytes, {
    ...bearer(token),
    'content-type': img.mediaType,
  });
  expect(m.status, m.body.toString()).toBe(201);
  return img;
}

const tags = async (server: RealServer, token: string) => {
  const r = await http('GET', `${server.url}/v2/${REPO}/tags/list`, undefined, bearer(token));
  expect(r.status, r.body.toString()).toBe(200);
  return r.json().tags as string[];
};

/** A token refused as a client sees it: 401 UNAUTHORIZED with a new Bearer challenge for the scope needed. */
async function expectRefused(server: RealServer, token: string) {
  const r = await http('GET', `${server.url}/v2/${REPO}/tags/list`, undefined, bearer(token));
  expect(r.status, r.body.toString()).toBe(401);
  expect(r.json().errors[0].code).toBe('UNAUTHORIZED');
  expect(r.headers['www-authenticate']).toBe(`Bearer realm="${server.url}/token",service="berth"`);
}

/** One address in front of both processes, like a load balancer: new connections go where `route` says. */
let proxy: {
  port: number;
  route: 'a' | 'b' | 'alternate';
  counts: { a: number; b: number };
  close(): Promise<void>;
};
async function startProxy(): Promise<typeof proxy> {
  const sockets = new Set<Socket>();
  let n = 0;
  const state = {
    port: 0,
    route: 'a' as 'a' | 'b' | 'alternate',
    counts: { a: 0, b: 0 },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
  const server: Server = createServer((client) => {
    const to = state.route === 'alternate' ? (n++ % 2 ? 'b' : 'a') : state.route;
    state.counts[to]++;
    const upstream = connect(Number((to === 'a' ? a : b).hostPort.split(':')[1]), '127.0.0.1');
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
      s.on('close', () => sockets.delete(s));
    }
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  state.port = (server.address() as { port: number }).port;
  return state;
}

/** Runs the built `berth` and resolves with its exit code and stderr (never rejects). */
const berth = (env: NodeJS.ProcessEnv, ...args: string[]) =>
  new Promise<{ code: number; err: string }>((resolve) =>
    execFile(
      process.execPath,
      [BIN, ...args],
      { env: { ...process.env, ...env }, timeout: 20_000 },
      (e, _o, err) => resolve({ code: e ? (typeof e.code === 'number' ? e.code : -1) : 0, err }),
    ),
  );

describe('registry tokens across processes', () => {
  it('their lifetime follows --token-ttl (A: 120 s) and BERTH_TOKEN_TTL (B: 600 s)', async () => {
    const fromA = await tokenFrom(a, `repository:${REPO}:pull`);
    expect(fromA.expires_in).toBe(120);
    const ca = claims(fromA.token);
    expect(ca.exp - ca.iat).toBe(120);
    const fromB = await tokenFrom(b, `repository:${REPO}:pull`);
    expect(fromB.expires_in).toBe(600);
    const cb = claims(fromB.token);
    expect(cb.exp - cb.iat).toBe(600);
    expect(ca.aud).toBe(cb.aud);
  });

  it('a token issued by A is accepted by B, and one issued by B by A (one signing key in the database)', async () => {
    const fromA = (await tokenFrom(a, `repository:${REPO}:pull,push`)).token;
    const img = await pushWith(b, fromA, 'pushed-via-b');
    const fromB = (await tokenFrom(b, `repository:${REPO}:pull`)).token;
    expect(await tags(a, fromB)).toEqual(['pushed-via-b']);
    const m = await http('GET', `${a.url}/v2/${REPO}/manifests/pushed-via-b`, undefined, {
      ...bearer(fromB),
      accept: img.mediaType,
    });
    expect(m.status).toBe(200);
    expect(sha(m.body)).toBe(img.digest);
    // B's pull-only token does not let anyone push through A
    const denied = await http('PUT', `${a.url}/v2/${REPO}/manifests/nope`, img.bytes, {
      ...bearer(fromB),
      'content-type': img.mediaType,
    });
    expect(denied.status).toBe(401);
    expect(denied.headers['www-authenticate']).toMatch(/error="insufficient_scope"/);
    const keys = await db.kysely.selectFrom('signing_keys').select('kid').execute();
    expect(keys).toHaveLength(1);
  });

  it('a token outlives a restart of the process that issued it', async () => {
    const token = (await tokenFrom(a, `repository:${REPO}:pull,push`)).token;
    await pushWith(a, token, 'before-restart');
    await a.stop();
    a = await startRealServer('token-flow-a', { data, database, args: ['--token-ttl', '120'] });
    expect((await tags(a, token)).sort()).toEqual(['before-restart', 'pushed-via-b']);
    await pushWith(a, token, 'after-restart');
    expect((await tags(b, token)).sort()).toEqual(['after-restart', 'before-restart', 'pushed-via-b']);
  });

  it("the challenges of a mount and of the catalog from A name what B's token must grant (issue 11)", async () => {
    const SRC = 'flow/src';
    const blob = randomBytes(321);
    const pushed = await http('POST', `${a.url}/v2/${SRC}/blobs/uploads/?digest=${sha(blob)}`, blob, {
      ...ADMIN_BASIC,
      'content-type': 'application/octet-stream',
    });
    expect(pushed.status).toBe(201);
    const scopeOf = (r: { headers: Record<string, unknown> }) =>
      /scope="([^"]*)"/.exec(String(r.headers['www-authenticate']))?.[1];
    const mountUrl = `${a.url}/v2/${REPO}/blobs/uploads/?mount=${sha(blob)}&from=${SRC}`;
    const challenged = await http('POST', mountUrl, undefined, ANONYMOUS);
    expect(challenged.status).toBe(401);
    expect(scopeOf(challenged)).toBe(`repository:${REPO}:pull,push repository:${SRC}:pull`);
    const mounted = await http(
      'POST',
      mountUrl,
      undefined,
      bearer((await tokenFrom(b, scopeOf(challenged)!)).token),
    );
    expect(mounted.status, mounted.body.toString()).toBe(201);
    // the catalog: no repository is public, so an anonymous caller is challenged for registry:catalog:*
    const anonymous = await http('GET', `${b.url}/v2/_catalog`, undefined, ANONYMOUS);
    expect(anonymous.status).toBe(401);
    expect(scopeOf(anonymous)).toBe('registry:catalog:*');
    const listed = await http(
      'GET',
      `${b.url}/v2/_catalog`,
      undefined,
      bearer((await tokenFrom(a, 'registry:catalog:*')).token),
    );
    expect(listed.status).toBe(200);
    expect(listed.json().repositories).toContain(REPO);
  });

  it('skopeo logs in through A and pushes through B with the stored login, then pulls through both', async () => {
    proxy = await startProxy();
    const host = `127.0.0.1:${proxy.port}`;
    const authfile = join(work, 'auth.json');
    proxy.route = 'a';
    await run('skopeo', [
      'login',
      '--tls-verify=false',
      '--authfile',
      authfile,
      '--username',
      ADMIN.user,
      '--password',
      ADMIN.password,
      host,
    ]);
    expect(JSON.parse(readFileSync(authfile, 'utf8')).auths[host].auth).toBe(
      Buffer.from(`${ADMIN.user}:${ADMIN.password}`).toString('base64'),
    );
    expect(proxy.counts.a).toBeGreaterThan(0);
    const loginConnections = proxy.counts.a;

    proxy.route = 'b';
    const app = `oci-archive:${fixture('app.oci.tar')}:1.0`;
    await skopeo(
      'copy',
      '--quiet',
      '--dest-tls-verify=false',
      '--authfile',
      authfile,
      app,
      `docker://${host}/flow/skopeo:1.0`,
    );
    expect(proxy.counts.b).toBeGreaterThan(0);
    expect(proxy.counts.a).toBe(loginConnections);

    // no credentials at all: refused (the login above is what let the push in)
    await expect(
      skopeo(
        'copy',
        '--quiet',
        '--dest-tls-verify=false',
        '--dest-no-creds',
        app,
        `docker://${host}/flow/anon:1.0`,
      ),
    ).rejects.toThrow(/authentication required|unauthorized/i);

    proxy.route = 'alternate';
    const before = { ...proxy.counts };
    const out = join(work, 'pulled');
    await skopeo(
      'copy',
      '--quiet',
      '--src-tls-verify=false',
      '--authfile',
      authfile,
      `docker://${host}/flow/skopeo:1.0`,
      `oci:${out}:1.0`,
    );
    const original = join(work, 'original');
    await skopeo('copy', '--quiet', app, `oci:${original}:1.0`);
    expect(readLayout(out).digest).toBe(readLayout(original).digest);
    // the pull's connections went to both processes (each with tokens the other may have issued)
    expect(proxy.counts.a).toBeGreaterThan(before.a);
    expect(proxy.counts.b).toBeGreaterThan(before.b);
  });
});

describe('tokens berth did not issue as they are', () => {
  /** The signing key berth keeps in the database (what a forger would need). */
  const realKey = async () => {
    const r = await db.kysely.selectFrom('signing_keys').select(['kid', 'secret']).executeTakeFirstOrThrow();
    return { kid: r.kid, key: Buffer.from(r.secret, 'base64url') };
  };
  const forge = async (
    key: Uint8Array,
    kid: string,
    opts: { exp?: number; iat?: number; aud?: string; actions?: string[] } = {},
  ) => {
    const now = Math.floor(Date.now() / 1000);
    // berth's tokens name their user by id too (a name can be given to a new user; an id is never)
    const admin = await db.kysely
      .selectFrom('users')
      .select('id')
      .where('name', '=', 'admin')
      .executeTakeFirstOrThrow();
    return new SignJWT({
      access: [{ type: 'repository', name: REPO, actions: opts.actions ?? ['pull'] }],
      uid: admin.id,
    })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT', kid })
      .setIssuer('berth')
      .setAudience(opts.aud ?? 'berth')
      .setSubject('admin')
      .setIssuedAt(opts.iat ?? now)
      .setExpirationTime(opts.exp ?? now + 120)
      .sign(key);
  };

  it('a token signed with the real key and valid claims is accepted (the forge is faithful)', async () => {
    const { kid, key } = await realKey();
    const t = await forge(key, kid);
    expect((await tags(a, t)).length).toBeGreaterThan(0);
    expect((await tags(b, t)).length).toBeGreaterThan(0);
  });

  it('a token signed with another key is refused: 401 with a new challenge', async () => {
    const { kid } = await realKey();
    for (const s of [a, b]) {
      await expectRefused(s, await forge(randomBytes(32), kid));
      await expectRefused(s, await forge(randomBytes(32), 'key-made-up'));
    }
  });

  it('an issued token with an altered payload is refused', async () => {
    const real = (await tokenFrom(a, `repository:${REPO}:pull`)).token;
    const [h, p, sig] = real.split('.');
    const payload = claims(real);
    const alter = (change: Record<string, unknown>) =>
      `${h}.${Buffer.from(JSON.stringify({ ...payload, ...change })).toString('base64url')}.${sig}`;
    for (const s of [a, b]) {
      await expectRefused(
        s,
        alter({ access: [{ type: 'repository', name: REPO, actions: ['pull', 'push'] }] }),
      );
      await expectRefused(s, alter({ exp: payload.exp + 86_400 }));
      await expectRefused(s, alter({ sub: 'someone-else' }));
      await expectRefused(s, `${h}.${p}.${sig![0] === 'A' ? 'B' : 'A'}${sig!.slice(1)}`);
      await expectRefused(s, `${Buffer.from('{"alg":"none","typ":"JWT"}').toString('base64url')}.${p}.`);
    }
    expect((await tags(a, real)).length).toBeGreaterThan(0); // the original is still good
  });

  it('an expired token is refused, and so is one for another service', async () => {
    const { kid, key } = await realKey();
    const now = Math.floor(Date.now() / 1000);
    const expired = await forge(key, kid, { iat: now - 300, exp: now - 120 });
    const elsewhere = await forge(key, kid, { aud: 'another-registry' });
    for (const s of [a, b]) {
      await expectRefused(s, expired);
      await expectRefused(s, elsewhere);
    }
    const r = await http('GET', `${a.url}/v2/`, undefined, bearer(expired));
    expect(r.json().errors[0].message).toMatch(/invalid or has expired: log in again/);
    // an anonymous caller is challenged the same way
    const anon = await http('GET', `${a.url}/v2/`, undefined, ANONYMOUS);
    expect(anon.headers['www-authenticate']).toBe(`Bearer realm="${a.url}/token",service="berth"`);
  });

  it('berth serve refuses a token lifetime outside 60 to 3600 s, as an option or from the environment', async () => {
    for (const [env, args] of [
      [{}, ['--token-ttl', '59']],
      [{}, ['--token-ttl', '3601']],
      [{}, ['--token-ttl', '5m']],
      [{ BERTH_TOKEN_TTL: '0' }, []],
    ] as const) {
      const r = await berth(env, 'serve', '--listen', '127.0.0.1:0', '--data', join(work, 'never'), ...args);
      expect(r.code, r.err).toBe(2);
      expect(r.err).toMatch(/is not a token lifetime: give whole seconds from 60 to 3600/);
    }
  });
});
