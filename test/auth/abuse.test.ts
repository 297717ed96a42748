// Abuse of authentication: password guessing is slowed down per user and per address (in the database, for every
// process), credentials never reach the server's log, and the audit log records every change and nothing refused.
import type { AuditEntry } from '../../src/auth/audit.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Auth } from '../../src/auth/auth.js';
import { openDatabase, type Db } from '../../src/db/connect.js';
import { BerthError } from '../../src/core/errors.js';
import { backends, removeTestDatabase, testDatabaseUrl, type Backend } from '../helpers/backend.js';
import { dirImage, tarOf } from '../helpers/images.js';
import {
  ADMIN,
  ANONYMOUS,
  basic,
  http,
  startTestServer,
  type HttpResult,
  type TestServer,
} from '../helpers/in-process.js';
import { startRealServer, type RealServer } from '../helpers/real-server.js';
import { code, ociImage, Registry } from '../registry/oci.js';

const POLICY = { free: 5, baseDelayMs: 500, maxDelayMs: 2000, windowMs: 60_000 };
/** A pause while polling for what another process writes. */
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** The time of the login limits: starts at now, moves only when a test says so. */
let clock = Date.now();
const now = () => clock;
const AUTH = { loginPolicy: POLICY, now };
/** Lets fake time pass: just over the first wait. */
const waitOut = () => void (clock += POLICY.baseDelayMs + 100);
const JSON_TYPE = { 'content-type': 'application/json' };

describe('failed logins are slowed down', () => {
  let s: TestServer;
  let second: Db;
  beforeAll(async () => {
    // X-Forwarded-For is trusted from 127.0.0.1 (the test is the proxy), so that requests come from several addresses
    s = await startTestServer('abuse-limits', { auth: AUTH, trustProxy: ['127.0.0.1'] });
    second = await openDatabase(s.berth.config.database!);
    for (const u of [
      'victim',
      'bystander',
      'roamer',
      'parallel',
      'settler',
      'spray1',
      'spray2',
      'spray3',
      'spray4',
      'spray5',
    ])
      await s.berth.auth.users.create(u, `${u}-password`);
  });
  afterAll(async () => {
    await second?.close();
    await s?.close();
  });

  const from = (address: string, user: string, password: string) => ({
    authorization: basic(user, password),
    'x-forwarded-for': address,
  });
  const v2 = (headers: Record<string, string>) => http('GET', `${s.url}/v2/`, undefined, headers);
  const expect429 = (r: HttpResult) => {
    expect(r.status, r.body.toString()).toBe(429);
    expect(code(r)).toBe('TOOMANYREQUESTS');
    const retry = Number(r.headers['retry-after']);
    expect(retry).toBeGreaterThanOrEqual(1);
    expect(retry).toBeLessThanOrEqual(Math.ceil(POLICY.maxDelayMs / 1000));
    return r;
  };
  const failures = async (key: string) =>
    (
      await s.berth.db.kysely
        .selectFrom('login_failures')
        .select('failures')
        .where('key', '=', key)
        .executeTakeFirst()
    )?.failures;

  it('per user: after 5 failures from 5 addresses, 429 with Retry-After from them, even with the right password', async () => {
    for (let i = 1; i <= 5; i++) {
      const r = await v2(from(`198.51.100.${i}`, 'victim', `guess-${i}`));
      expect(r.status, `attempt ${i}`).toBe(401);
      expect(code(r)).toBe('UNAUTHORIZED');
    }
    expect(Number(await failures('user:victim'))).toBe(5);
    expect(Number(await failures('addr:198.51.100.1'))).toBe(1);

    // the right password, from an address that failed: refused, on every door
    expect429(await v2(from('198.51.100.5', 'victim', 'victim-password')));
    expect429(
      await http(
        'GET',
        `${s.url}/token?service=berth`,
        undefined,
        from('198.51.100.4', 'victim', 'victim-password'),
      ),
    );
    const api = expect429(
      await http(
        'GET',
        `${s.url}/api/v1/whoami`,
        undefined,
        from('198.51.100.3', 'victim', 'victim-password'),
      ),
    );
    expect(api.json().errors[0].message).toMatch(/^too many failed logins for victim: try again in \d+ s$/);
    // refusals during the wait are not counted as more failures
    expect(Number(await failures('user:victim'))).toBe(5);

    // the addresses themselves are not slowed down: one failure each
    expect((await v2(from('198.51.100.1', 'bystander', 'bystander-password'))).status).toBe(200);

    // another process on the same database refuses the user just the same
    const other = new Auth(second.kysely, AUTH);
    await expect(
      other.authenticate({ kind: 'basic', user: 'victim', password: 'victim-password' }, '198.51.100.2'),
    ).rejects.toMatchObject({ code: 'TOOMANYREQUESTS' });

    // once the wait is over the right password works, and clears the count
    waitOut();
    const ok = await v2(from('198.51.100.5', 'victim', 'victim-password'));
    expect(ok.status, ok.body.toString()).toBe(200);
    expect(await failures('user:victim')).toBeUndefined();
    for (let i = 1; i <= 4; i++)
      expect((await v2(from('198.51.100.8', 'victim', `again-${i}`))).status).toBe(401);
    expect((await v2(from('198.51.100.8', 'victim', 'victim-password'))).status).toBe(200);
  });

  it('each further failure doubles the wait; a wrong password during the wait is refused as well', async () => {
    const addr = (i: number) => `198.51.100.${100 + i}`;
    for (let i = 0; i < 5; i++) await v2(from(addr(i), 'roamer', 'nope'));
    waitOut();
    expect((await v2(from(addr(4), 'roamer', 'nope'))).status).toBe(401); // the sixth: counted, wait doubles
    expect429(await v2(from(addr(3), 'roamer', 'nope')));
    waitOut(); // one base delay is not enough any more
    expect429(await v2(from(addr(2), 'roamer', 'roamer-password')));
    waitOut();
    expect((await v2(from(addr(2), 'roamer', 'roamer-password'))).status).toBe(200);
  });

  it('credentials remembered from a recent success are refused during a wait as well', async () => {
    await s.berth.auth.users.create('busy', 'busy-password');
    expect((await v2(from('198.51.100.200', 'busy', 'busy-password'))).status).toBe(200); // remembered now
    for (let i = 1; i <= 5; i++)
      expect((await v2(from(`198.51.100.20${i}`, 'busy', `guess-${i}`))).status).toBe(401);
    // otherwise a guesser would see 429 for every wrong guess and 200 for the right one
    expect429(await v2(from('198.51.100.205', 'busy', 'busy-password')));
    waitOut();
    expect((await v2(from('198.51.100.205', 'busy', 'busy-password'))).status).toBe(200);
    expect(await failures('user:busy')).toBeUndefined();
  });

  it('per address: one address guessing 5 different users is slowed down, for every user and for tokens', async () => {
    const spray = '203.0.113.7';
    for (let i = 1; i <= 5; i++) expect((await v2(from(spray, `spray${i}`, 'wrong'))).status).toBe(401);
    // a user nobody guessed, with the right password, from that address: refused
    expect429(await v2(from(spray, 'bystander', 'bystander-password')));
    // an API token as Bearer from that address too
    const t = await s.berth.auth.tokens.create(await s.berth.auth.users.get('bystander'), {
      name: 't',
      scopes: null,
      expiresAt: null,
    });
    expect429(await v2({ authorization: `Bearer ${t.token}`, 'x-forwarded-for': spray }));
    // the users guessed at are not slowed down elsewhere: one failure each
    for (let i = 1; i <= 5; i++) {
      expect((await v2(from('203.0.113.8', `spray${i}`, `spray${i}-password`))).status).toBe(200);
    }
    waitOut();
    expect((await v2(from(spray, 'bystander', 'bystander-password'))).status).toBe(200);
  });

  it('parallel guesses at one user cannot all slip in before the wait: the sixth on is refused', async () => {
    // 30 addresses that have failed before (with a name no user has, which holds back no real user there)
    const addrs = Array.from({ length: 30 }, (_, i) => `192.0.2.${i + 1}`);
    for (const a of addrs) expect((await v2(from(a, 'nobody-here', 'guess'))).status).toBe(401);
    const answers = await Promise.all(addrs.map((a, i) => v2(from(a, 'parallel', `guess-${i}`))));
    const statuses = answers.map((r) => r.status);
    expect(statuses.filter((c) => c === 401).length).toBe(POLICY.free);
    expect(statuses.filter((c) => c === 429).length).toBe(30 - POLICY.free);
    expect(Number(await failures('user:parallel'))).toBe(POLICY.free);
  });

  it("a success clears the user's count but not the address's", async () => {
    const addr = '198.51.100.77';
    expect((await v2(from(addr, 'settler', 'wrong'))).status).toBe(401);
    expect((await v2(from(addr, 'settler', 'settler-password'))).status).toBe(200);
    expect(await failures('user:settler')).toBeUndefined();
    expect(Number(await failures(`addr:${addr}`))).toBe(1);
  });

  it('a made-up API token counts as a failure of its address', async () => {
    const addr = '203.0.113.50';
    for (let i = 0; i < 5; i++) {
      const r = await v2({
        authorization: `Bearer berth_aaaaaaaaaaa${i}_${'x'.repeat(43)}`,
        'x-forwarded-for': addr,
      });
      expect(r.status).toBe(401);
    }
    expect(Number(await failures(`addr:${addr}`))).toBe(5);
    expect429(await v2(from(addr, 'bystander', 'bystander-password')));
  });

  it('a forged registry token is 401, never 429, and is not counted', async () => {
    const addr = '203.0.113.60';
    for (let i = 0; i < 8; i++) {
      const r = await v2({
        authorization: 'Bearer eyJhbGciOiJIUzI1NiJ9.e30.c2lnbmF0dXJl',
        'x-forwarded-for': addr,
      });
      expect(r.status).toBe(401);
    }
    expect(await failures(`addr:${addr}`)).toBeUndefined();
  });

  it('Auth refuses without counting while waiting, and each process counts into the same rows', async () => {
    const a = new Auth(s.berth.db.kysely, AUTH);
    const b = new Auth(second.kysely, AUTH);
    const bad = { kind: 'basic' as const, user: 'spray5', password: 'wrong-again' };
    for (let i = 0; i < 5; i++) {
      await expect((i % 2 ? a : b).authenticate(bad, `192.0.2.${i}`)).rejects.toMatchObject({
        code: 'UNAUTHORIZED',
      });
    }
    const e = await a.authenticate({ ...bad, password: 'spray5-password' }, '192.0.2.3').catch((x) => x);
    expect(e).toBeInstanceOf(BerthError);
    expect(e.code).toBe('TOOMANYREQUESTS');
    expect(e.detail.retryAfterSeconds).toBe(1);
    expect(Number(await failures('user:spray5'))).toBe(5);
  });
});

describe.each(backends())('failed logins counted by several processes on %s', (backend: Backend) => {
  // Three instances on one database, each with its own connections: three processes' worth of state.
  let url: string;
  const dbs: Db[] = [];
  let auths: Auth[] = [];
  beforeAll(async () => {
    url = await testDatabaseUrl(`abuse_processes_${backend}`, backend);
    for (let i = 0; i < 3; i++) dbs.push(await openDatabase(url));
    auths = dbs.map((d) => new Auth(d.kysely, AUTH));
    for (const u of ['target', 'holder']) await auths[0]!.users.create(u, `${u}-password`);
  });
  afterAll(async () => {
    for (const d of dbs) await d.close();
    if (url) await removeTestDatabase(url);
  });

  const outcome = (p: Promise<unknown>) =>
    p.then(
      () => 'OK',
      (e: unknown) => (e instanceof BerthError ? e.code : String(e)),
    );
  const counted = async (key: string) =>
    Number(
      (
        await dbs[0]!.kysely
          .selectFrom('login_failures')
          .select('failures')
          .where('key', '=', key)
          .executeTakeFirst()
      )?.failures ?? 0,
    );

  it('parallel wrong passwords through three instances: exactly the free failures are 401, the rest 429', async () => {
    // from addresses that have failed before (with a name no user has)
    for (let i = 0; i < 24; i++)
      expect(
        await outcome(
          auths[0]!.authenticate({ kind: 'basic', user: 'nobody', password: 'x' }, `192.0.2.${i + 1}`),
        ),
      ).toBe('UNAUTHORIZED');
    const answers = await Promise.all(
      Array.from({ length: 24 }, (_, i) =>
        outcome(
          auths[i % 3]!.authenticate(
            { kind: 'basic', user: 'target', password: `guess-${i}` },
            `192.0.2.${i + 1}`,
          ),
        ),
      ),
    );
    expect(answers.filter((a) => a === 'UNAUTHORIZED').length).toBe(POLICY.free);
    expect(answers.filter((a) => a === 'TOOMANYREQUESTS').length).toBe(24 - POLICY.free);
    expect(await counted('user:target')).toBe(POLICY.free);
    // the right password waits as well from those addresses, through every instance; then it works, and clears
    // the count
    for (const a of auths)
      expect(
        await outcome(
          a.authenticate({ kind: 'basic', user: 'target', password: 'target-password' }, '192.0.2.9'),
        ),
      ).toBe('TOOMANYREQUESTS');
    waitOut();
    expect(
      await outcome(
        auths[2]!.authenticate({ kind: 'basic', user: 'target', password: 'target-password' }, '192.0.2.9'),
      ),
    ).toBe('OK');
    expect(await counted('user:target')).toBe(0);
  });

  it('parallel made-up API tokens from one address through three instances: the free ones 401, the rest 429', async () => {
    const answers = await Promise.all(
      Array.from({ length: 15 }, (_, i) =>
        outcome(
          auths[i % 3]!.authenticate(
            { kind: 'bearer', token: `berth_aaaaaaaaaa${String(i).padStart(2, '0')}_${'x'.repeat(43)}` },
            '203.0.113.99',
          ),
        ),
      ),
    );
    expect(answers.filter((a) => a === 'UNAUTHORIZED').length).toBe(POLICY.free);
    expect(answers.filter((a) => a === 'TOOMANYREQUESTS').length).toBe(15 - POLICY.free);
    expect(await counted('addr:203.0.113.99')).toBe(POLICY.free);
  });

  it('parallel right passwords through three instances are all let in, and count nothing', async () => {
    const answers = await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        outcome(
          auths[i % 3]!.authenticate(
            { kind: 'basic', user: 'holder', password: 'holder-password' },
            '198.51.100.250',
          ),
        ),
      ),
    );
    expect(answers).toEqual(Array(12).fill('OK'));
    expect(await counted('user:holder')).toBe(0);
    expect(await counted('addr:198.51.100.250')).toBe(0);
  });
});

describe('credentials never reach the log', () => {
  let r: RealServer;
  beforeAll(async () => {
    r = await startRealServer('abuse-log', { env: { BERTH_LOG_LEVEL: 'trace' } });
  });
  afterAll(async () => r?.stop());

  it('passwords, Basic headers, API tokens and registry tokens are nowhere in the trace-level output', async () => {
    const secrets: string[] = [ADMIN.password, basic(ADMIN.user, ADMIN.password).slice('Basic '.length)];
    const keep = (...s: string[]) => void secrets.push(...s);
    const password = 'logger-first-password';
    const wrong = 'logger-wrong-password';
    const next = 'logger-second-password';
    keep(password, wrong, next);

    const made = await http(
      'POST',
      `${r.url}/api/v1/users`,
      JSON.stringify({ name: 'logger', password }),
      JSON_TYPE,
    );
    expect(made.status, made.body.toString()).toBe(201);
    const grant = await http(
      'PUT',
      `${r.url}/api/v1/users/logger/permissions`,
      JSON.stringify({ pattern: 'logs/*', actions: ['push'] }),
      JSON_TYPE,
    );
    expect(grant.status).toBe(200);
    const asLogger = { authorization: basic('logger', password) };
    keep(asLogger.authorization.slice(6));
    expect((await http('GET', `${r.url}/v2/`, undefined, asLogger)).status).toBe(200);

    const tok = await http(
      'GET',
      `${r.url}/token?service=berth&scope=repository:logs/app:pull,push`,
      undefined,
      asLogger,
    );
    expect(tok.status, tok.body.toString()).toBe(200);
    const jwt: string = tok.json().token;
    keep(jwt, jwt.split('.')[2]!);
    expect(
      (await http('GET', `${r.url}/v2/logs/app/tags/list`, undefined, { authorization: `Bearer ${jwt}` }))
        .status,
    ).toBe(404); // let in (no such repository yet), not refused

    const created = await http(
      'POST',
      `${r.url}/api/v1/tokens`,
      JSON.stringify({ name: 'ci', scopes: ['repository:logs/*:pull'] }),
      { ...asLogger, ...JSON_TYPE },
    );
    expect(created.status, created.body.toString()).toBe(201);
    const apiToken: string = created.json().token;
    keep(apiToken, apiToken.slice(-43)); // and its secret part alone
    expect(
      (await http('GET', `${r.url}/api/v1/whoami`, undefined, { authorization: `Bearer ${apiToken}` }))
        .status,
    ).toBe(200);
    const tokenBasic = basic('logger', apiToken);
    keep(tokenBasic.slice(6));
    const viaToken = await http(
      'GET',
      `${r.url}/token?service=berth&scope=repository:logs/app:pull`,
      undefined,
      {
        authorization: tokenBasic,
      },
    );
    expect(viaToken.status).toBe(200);
    keep(viaToken.json().token);

    const failed = basic('logger', wrong);
    keep(failed.slice(6));
    expect((await http('GET', `${r.url}/v2/`, undefined, { authorization: failed })).status).toBe(401);
    expect((await http('GET', `${r.url}/api/v1/whoami`, undefined, { authorization: failed })).status).toBe(
      401,
    );
    expect((await http('GET', `${r.url}/token`, undefined, { authorization: failed })).status).toBe(401);

    const changed = await http(
      'PUT',
      `${r.url}/api/v1/users/logger/password`,
      JSON.stringify({ password: next }),
      { ...asLogger, ...JSON_TYPE },
    );
    expect(changed.status, changed.body.toString()).toBe(204);
    // a malformed body carrying a password is refused without echoing it into the log
    const badBody = await http(
      'POST',
      `${r.url}/api/v1/users`,
      `{"name":"x","password":"${next}"`,
      JSON_TYPE,
    );
    expect(badBody.status).toBe(400);
    expect(
      (await http('GET', `${r.url}/v2/`, undefined, { authorization: basic('logger', next) })).status,
    ).toBe(200);

    // a last request, to know when the child's log has caught up with every request before it
    expect((await http('GET', `${r.url}/v2/?end-of-the-log-test`)).status).toBe(200);
    const caughtUp = () => /end-of-the-log-test[^]*request completed/.test(r.output());
    for (let i = 0; i < 500 && !caughtUp(); i++) await sleep(10);
    expect(caughtUp(), 'the log shows the last request completed').toBe(true);
    const out = r.output();
    // the log is really at trace level and saw these requests
    expect(out).toMatch(/incoming request/);
    expect(out).toMatch(/\/api\/v1\/tokens/);
    expect(out).toMatch(/\/token/);
    for (const secret of secrets) {
      expect(secret.length).toBeGreaterThan(7);
      expect(out.includes(secret), `the server's output holds a secret (${secret.slice(0, 6)}…)`).toBe(false);
    }
  });
});

describe('the audit log', () => {
  let s: TestServer;
  let reg: Registry;
  beforeAll(async () => {
    s = await startTestServer('abuse-audit');
    reg = new Registry(s.url);
    await s.berth.auth.users.create('bob', 'bob-password');
    await s.berth.auth.users.grant('bob', 'audit/*', ['pull']);
  });
  afterAll(async () => s?.close());

  const REPO = 'audit/app';
  const asBob = { authorization: basic('bob', 'bob-password') };
  const audit = async (query = '', headers: Record<string, string> = {}) => {
    const r = await http('GET', `${s.url}/api/v1/audit${query}`, undefined, headers);
    expect(r.status, r.body.toString()).toBe(200);
    return r.json().entries as AuditEntry[];
  };
  const ok = (r: HttpResult, status: number) => {
    expect(r.status, r.body.toString()).toBe(status);
    return r;
  };

  it('records each change with actor, address, action, repository and time, newest first', async () => {
    const started = Date.now();
    const img1 = ociImage({ n: 2 });
    const img2 = ociImage({ n: 1 });
    await reg.pushImage(REPO, img1, 'v1'); // manifest.push
    ok(
      await http(
        'POST',
        `${s.url}/api/v1/repositories/${REPO}/-/archives?tag=a1`,
        await tarOf(dirImage({ n: 1 }).entries),
      ),
      201,
    ); // archive.upload
    await reg.pushImage(REPO, img2, 'v2'); // manifest.push
    ok(await reg.req('DELETE', `/v2/${REPO}/manifests/v2`), 202); // the tag
    ok(await reg.req('DELETE', `/v2/${REPO}/manifests/${img1.digest}`), 202);
    ok(
      await reg.req(
        'DELETE',
        `/v2/${REPO}/blobs/${img1.json.layers && (img1.json.layers as { digest: string }[])[0]!.digest}`,
      ),
      202,
    );
    const versions = await reg.versions(REPO);
    ok(await http('DELETE', `${s.url}/api/v1/repositories/${REPO}/-/versions/${versions[1]!.number}`), 204);
    ok(
      await http('POST', `${s.url}/api/v1/repositories/${REPO}/-/versions/${versions[0]!.number}/restore`),
      201,
    );
    ok(await http('POST', `${s.url}/api/v1/cleanup`, JSON.stringify({ dryRun: true }), JSON_TYPE), 200);
    ok(
      await http(
        'POST',
        `${s.url}/api/v1/users`,
        JSON.stringify({ name: 'carol', password: 'carol-password' }),
        JSON_TYPE,
      ),
      201,
    );
    ok(
      await http(
        'PUT',
        `${s.url}/api/v1/users/carol/permissions`,
        JSON.stringify({ pattern: 'audit/*', actions: ['push'] }),
        JSON_TYPE,
      ),
      200,
    );
    const token = ok(
      await http(
        'POST',
        `${s.url}/api/v1/tokens`,
        JSON.stringify({ user: 'carol', name: 'ci', scopes: ['repository:audit/*:pull'] }),
        JSON_TYPE,
      ),
      201,
    ).json();
    ok(await http('DELETE', `${s.url}/api/v1/tokens/${token.id}`), 204);

    const entries = await audit();
    const expected: [string, string | null][] = [
      ['token.revoke', null],
      ['token.create', null],
      ['permission.grant', null],
      ['user.create', null],
      ['cleanup', null],
      ['version.restore', REPO],
      ['version.delete', REPO],
      ['blob.delete', REPO],
      ['manifest.delete', REPO],
      ['manifest.delete', REPO],
      ['manifest.push', REPO],
      ['archive.upload', REPO],
      ['manifest.push', REPO],
    ];
    expect(entries.map((e) => [e.action, e.repository])).toEqual(expected);
    for (const e of entries) {
      expect(e.actor).toBe('admin');
      expect(e.address).toBe('127.0.0.1');
      expect(Date.parse(e.at)).toBeGreaterThanOrEqual(Math.floor(started / 1000) * 1000 - 1000);
      expect(Date.parse(e.at)).toBeLessThanOrEqual(Date.now());
    }
    const ids = entries.map((e) => e.id);
    expect(ids).toEqual([...ids].sort((a, b) => b - a));
    const times = entries.map((e) => Date.parse(e.at));
    expect(times).toEqual([...times].sort((a, b) => b - a));

    // what each record says, beyond the action
    const [revoke, create, grant, user, , restore, vdelete, blob, mdelete, tdelete, push2] = entries;
    expect(revoke!.detail).toMatchObject({ id: token.id, user: 'carol' });
    expect(create!.detail).toMatchObject({
      id: token.id,
      user: 'carol',
      scopes: ['repository:audit/*:pull'],
    });
    expect(JSON.stringify(create!.detail)).not.toContain(token.token);
    expect(grant!.detail).toMatchObject({ user: 'carol', pattern: 'audit/*', actions: ['push'] });
    expect(user!.detail).toMatchObject({ user: 'carol', admin: false });
    expect(JSON.stringify(user!.detail)).not.toContain('carol-password');
    expect(restore!.detail).toMatchObject({ number: String(versions[0]!.number) });
    expect(vdelete!.detail).toMatchObject({ number: String(versions[1]!.number) });
    expect(blob!.detail).toMatchObject({ digest: expect.stringMatching(/^sha256:/) });
    expect(mdelete!.detail).toMatchObject({ reference: img1.digest });
    expect(tdelete!.detail).toMatchObject({ reference: 'v2' });
    expect(push2!.detail).toMatchObject({ reference: 'v2', digest: img2.digest });
  });

  it('filters by actor, repository and action, and pages with limit and before', async () => {
    expect((await audit('?action=manifest.delete')).map((e) => e.detail?.reference)).toEqual([
      expect.stringMatching(/^sha256:/),
      'v2',
    ]);
    const repo = await audit(`?repository=${encodeURIComponent(REPO)}`);
    expect(repo).toHaveLength(8);
    expect(repo.every((e) => e.repository === REPO)).toBe(true);
    expect(await audit('?repository=audit/other')).toEqual([]);
    expect((await audit('?actor=admin')).length).toBe(13);
    expect(await audit('?actor=bob')).toEqual([]);
    expect((await audit(`?actor=admin&action=manifest.push&repository=${REPO}`)).length).toBe(2);
    const first = await audit('?limit=3');
    expect(first).toHaveLength(3);
    const rest = await audit(`?limit=3&before=${first.at(-1)!.id}`);
    expect(rest[0]!.id).toBeLessThan(first.at(-1)!.id);
    expect(code(await http('GET', `${s.url}/api/v1/audit?limit=0`))).toBe('PARAMETER_INVALID');
  });

  it('records nothing that was refused or failed', async () => {
    const before = await audit();
    const img = ociImage({ n: 1 });
    // bob may pull here, nothing more
    expect(
      (
        await reg.req('PUT', `/v2/${REPO}/manifests/x`, img.bytes, {
          'content-type': img.mediaType,
          ...asBob,
        })
      ).status,
    ).toBe(403);
    expect((await reg.req('DELETE', `/v2/${REPO}/manifests/v1`, undefined, asBob)).status).toBe(403);
    expect((await http('POST', `${s.url}/api/v1/repositories/${REPO}/-/archives`, 'x', asBob)).status).toBe(
      403,
    );
    expect((await http('POST', `${s.url}/api/v1/cleanup`, '{}', { ...asBob, ...JSON_TYPE })).status).toBe(
      403,
    );
    expect(
      (
        await http(
          'POST',
          `${s.url}/api/v1/users`,
          JSON.stringify({ name: 'eve', password: 'eve-password' }),
          { ...asBob, ...JSON_TYPE },
        )
      ).status,
    ).toBe(403);
    expect((await reg.req('DELETE', `/v2/${REPO}/manifests/v1`, undefined, ANONYMOUS)).status).toBe(401);
    expect(
      (
        await reg.req('DELETE', `/v2/${REPO}/manifests/v1`, undefined, {
          authorization: basic('bob', 'wrong'),
        })
      ).status,
    ).toBe(401);
    // the administrator's requests that fail are not changes either
    expect((await reg.req('DELETE', `/v2/${REPO}/manifests/never-was`)).status).toBe(404);
    expect((await http('DELETE', `${s.url}/api/v1/repositories/${REPO}/-/versions/999`)).status).toBe(404);
    expect(
      (
        await http(
          'POST',
          `${s.url}/api/v1/users`,
          JSON.stringify({ name: 'bob', password: 'bob-password' }),
          JSON_TYPE,
        )
      ).status,
    ).toBe(409);
    expect((await http('DELETE', `${s.url}/api/v1/tokens/nosuchtoken0`)).status).toBe(404);
    expect(await audit()).toEqual(before);
  });

  it('is for administrators only', async () => {
    const r = await http('GET', `${s.url}/api/v1/audit`, undefined, asBob);
    expect(r.status).toBe(403);
    expect(code(r)).toBe('DENIED');
    const anon = await http('GET', `${s.url}/api/v1/audit`, undefined, ANONYMOUS);
    expect(anon.status).toBe(401);
    expect(anon.headers['www-authenticate']).toMatch(/^Basic /);
    // nor an administrator's scoped token
    const t = await s.berth.auth.tokens.create(await s.berth.auth.users.get('admin'), {
      name: 'scoped',
      scopes: [{ pattern: '*', actions: ['admin'] }],
      expiresAt: null,
    });
    expect(
      (await http('GET', `${s.url}/api/v1/audit`, undefined, { authorization: `Bearer ${t.token}` })).status,
    ).toBe(403);
  });
});
