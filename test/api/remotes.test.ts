// /api/v1/remotes: administrators add, list, show, edit and remove remotes (audited, the password never answered
// nor audited); every kind of bad input is a 400 naming the problem that changes nothing.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ANONYMOUS,
  basic,
  http,
  startTestServer,
  type HttpResult,
  type TestServer,
} from '../helpers/in-process.js';
import { hasCommand, skipUnless } from '../helpers/backend.js';
import { snapshot } from '../helpers/state.js';

let s: TestServer;
let caPem = '';
let certDir = '';
const PASSWORD = 'upstream-pa55word-never-shown';
const json = { 'content-type': 'application/json' };
const remotes = () => `${s.url}/api/v1/remotes`;
const post = (body: unknown, headers: Record<string, string> = json) =>
  http('POST', remotes(), JSON.stringify(body), headers);
const patch = (name: string, body: unknown) =>
  http('PATCH', `${remotes()}/${name}`, JSON.stringify(body), json);
const DEV = { authorization: basic('dev', 'dev-password-1') };

/** The request is refused with `status` and `code`, a message containing `says`, and every table and file unchanged. */
async function refused(request: () => Promise<HttpResult>, status: number, code: string, says: string) {
  const before = await snapshot(s.berth, s.data);
  const r = await request();
  expect(r.status, r.body.toString()).toBe(status);
  const e = r.json().errors[0];
  expect(e.code).toBe(code);
  expect(e.message).toContain(says);
  expect(await snapshot(s.berth, s.data)).toEqual(before);
  return e;
}

beforeAll(async () => {
  s = await startTestServer('remotes-api');
  await s.berth.auth.users.create('dev', 'dev-password-1');
  if (hasCommand('openssl')) {
    certDir = mkdtempSync(join(tmpdir(), 'remote-ca-'));
    const [key, crt] = [join(certDir, 'ca.key'), join(certDir, 'ca.crt')];
    const args = ['-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', '/CN=remote CA', '-days', '1'];
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', ...args, '-keyout', key, '-out', crt], {
      stdio: 'ignore',
    });
    caPem = readFileSync(crt, 'utf8');
  }
});
afterAll(async () => {
  await s?.close();
  if (certDir) rmSync(certDir, { recursive: true, force: true });
});

describe('remotes, as an administrator', () => {
  it('adds one (201), with its password stored encrypted under a key file made with mode 0600', async () => {
    const r = await post({
      name: 'hub',
      url: 'https://registry-1.docker.io',
      username: 'me',
      password: PASSWORD,
      include: ['3.*', 'latest'],
      platforms: ['linux/amd64'],
      referrers: 'all',
      policy: 'on_demand',
      concurrency: 2,
      requestsPerSecond: 5,
    });
    expect(r.status, r.body.toString()).toBe(201);
    expect(r.json()).toMatchObject({
      name: 'hub',
      url: 'https://registry-1.docker.io',
      username: 'me',
      hasPassword: true,
      include: ['3.*', 'latest'],
      platforms: ['linux/amd64'],
      referrers: 'all',
      policy: 'on_demand',
      concurrency: 2,
      requestsPerSecond: 5,
      ratelimitRemaining: null,
    });
    expect(r.body.toString()).not.toContain(PASSWORD);
    expect(statSync(join(s.data, 'secret.key')).mode & 0o777).toBe(0o600);
    expect((await s.berth.remotes.get('hub')).connection.password).toBe(PASSWORD);
  });

  it('lists and shows it, never with the password', async () => {
    const list = await http('GET', remotes());
    expect(list.status).toBe(200);
    expect(list.json().remotes.map((x: { name: string }) => x.name)).toEqual(['hub']);
    const one = await http('GET', `${remotes()}/hub`);
    expect(one.json()).toEqual(list.json().remotes[0]);
    for (const b of [list.body, one.body]) {
      expect(b.toString()).not.toContain(PASSWORD);
      expect(b.toString()).not.toContain('password"');
    }
  });

  it('edits what the body gives (200); the password can be changed and cleared', async () => {
    const r = await patch('hub', { include: ['3.20'], requestsPerSecond: null });
    expect(r.status, r.body.toString()).toBe(200);
    expect(r.json()).toMatchObject({
      include: ['3.20'],
      requestsPerSecond: null,
      concurrency: 2,
      hasPassword: true,
    });
    expect((await patch('hub', { password: 'another-secret' })).status).toBe(200);
    expect((await s.berth.remotes.get('hub')).connection.password).toBe('another-secret');
    const cleared = await patch('hub', { username: null, password: null });
    expect(cleared.json()).toMatchObject({ username: null, hasPassword: false });
  });

  it('shows the last ratelimit-remaining; /metrics has it by remote', async () => {
    await s.berth.remotes.recordRateLimit('hub', 76);
    expect((await http('GET', `${remotes()}/hub`)).json().ratelimitRemaining).toBe(76);
    const m = await http('GET', `${s.url}/metrics`, undefined, ANONYMOUS);
    expect(m.body.toString()).toContain('berth_remote_ratelimit_remaining{remote="hub"} 76');
  });

  skipUnless(hasCommand('openssl'), 'openssl is needed to make a CA (apt-get install openssl)')(
    'takes a CA (PEM) for an https remote, and not verifying',
    async () => {
      const r = await post({ name: 'tls', url: 'https://127.0.0.1:5443', caPem, tlsVerify: false });
      expect(r.status, r.body.toString()).toBe(201);
      expect(r.json()).toMatchObject({ caPem, tlsVerify: false });
      const c = (await s.berth.remotes.get('tls')).connection;
      expect(c.caPem).toBe(caPem);
      expect(c.tlsVerify).toBe(false);
      // a certificate whose body is not DER is refused, naming it
      const broken = caPem.replace(/\n[A-Za-z0-9+/]{10}/, '\nAAAAAAAAAA');
      await refused(
        () => patch('tls', { caPem: broken }),
        400,
        'PARAMETER_INVALID',
        'caPem: certificate 1 does not parse',
      );
      // CA and tlsVerify apply to https only
      await refused(
        () => patch('tls', { url: 'http://127.0.0.1:5443' }),
        400,
        'PARAMETER_INVALID',
        'the TLS options (a CA, or not verifying) apply to https remotes',
      );
      expect((await http('DELETE', `${remotes()}/tls`)).status).toBe(204);
    },
  );

  it('records each change in the audit log without the password', async () => {
    await post({ name: 'audited', url: 'http://127.0.0.1:5999', username: 'u', password: PASSWORD });
    await patch('audited', { password: `${PASSWORD}-2`, concurrency: 3 });
    expect((await http('DELETE', `${remotes()}/audited`)).status).toBe(204);
    const audit = await http('GET', `${s.url}/api/v1/audit?limit=50`);
    const entries = audit
      .json()
      .entries.filter((e: { detail?: { remote?: string } }) => e.detail?.remote === 'audited');
    expect(entries.map((e: { action: string }) => e.action)).toEqual([
      'remote.remove',
      'remote.edit',
      'remote.add',
    ]);
    expect(entries[1].detail).toMatchObject({ remote: 'audited', password: 'set', concurrency: 3 });
    expect(entries[2].detail).toMatchObject({
      remote: 'audited',
      url: 'http://127.0.0.1:5999',
      username: 'u',
      password: 'set',
    });
    expect(audit.body.toString()).not.toContain(PASSWORD);
    const rows = await s.berth.auth.audit.list({ limit: 1000 });
    expect(JSON.stringify(rows)).not.toContain(PASSWORD);
  });
});

describe('who may', () => {
  it('only administrators: others are refused 403, anonymous callers 401, and nothing changes', async () => {
    const calls: [string, string, unknown?][] = [
      ['GET', remotes()],
      ['POST', remotes(), { name: 'x', url: 'http://127.0.0.1:1' }],
      ['GET', `${remotes()}/hub`],
      ['PATCH', `${remotes()}/hub`, { concurrency: 1 }],
      ['DELETE', `${remotes()}/hub`],
    ];
    for (const [method, url, body] of calls) {
      const send = (h: Record<string, string>) =>
        http(method, url, body === undefined ? undefined : JSON.stringify(body), { ...json, ...h });
      await refused(() => send(DEV), 403, 'DENIED', '');
      await refused(() => send(ANONYMOUS), 401, 'UNAUTHORIZED', '');
    }
  });
});

describe('bad input: 400 (or 404, 409) naming the problem, nothing changed', () => {
  const ok = { name: 'new', url: 'http://127.0.0.1:5001' };
  const D = `sha256:${'c'.repeat(64)}`;
  it.each([
    ['no name', { url: ok.url }, 'name'],
    ['no url', { name: 'new' }, 'url'],
    ['an unknown field', { ...ok, color: 'red' }, 'color'],
    ['a number for a string', { ...ok, username: 7, password: 'x' }, 'username'],
    ['a string for a list', { ...ok, include: 'v*' }, 'include'],
    ['a bad name', { ...ok, name: 'Hub!' }, '"Hub!" is not a remote name'],
    ['a name too long', { ...ok, name: 'a'.repeat(65) }, 'is not a remote name'],
    ['an ftp URL', { ...ok, url: 'ftp://example.com' }, 'is not a registry URL: give http:// or https://'],
    ['no URL at all', { ...ok, url: 'registry-1.docker.io' }, 'is not a registry URL'],
    ['credentials in the URL', { ...ok, url: 'https://me:pw@example.com' }, 'carries no credentials'],
    ['a path in the URL', { ...ok, url: 'https://example.com/v2/library' }, 'has a path, query or fragment'],
    ['a query in the URL', { ...ok, url: 'https://example.com?x=1' }, 'has a path, query or fragment'],
    ['a bad include', { ...ok, include: ['v 1'] }, 'include: "v 1" is not a tag pattern'],
    [
      'a bad digest',
      { ...ok, include: ['sha256:abc'] },
      'include: "sha256:abc" is neither a tag pattern nor a digest',
    ],
    ['a bad exclude', { ...ok, exclude: [D, 'a/b'] }, 'exclude: "a/b" is not a tag pattern'],
    [
      'too many patterns',
      { ...ok, include: Array.from({ length: 1001 }, (_, i) => `t${i}`) },
      'include: at most 1000',
    ],
    ['a bad platform', { ...ok, platforms: ['amd64'] }, '"amd64" is not a platform: give os/arch'],
    ['an uppercase platform', { ...ok, platforms: ['Linux/AMD64'] }, 'is not a platform'],
    ['bad referrers', { ...ok, referrers: 'some' }, 'referrers: give none, all, or artifact types'],
    ['no artifact type', { ...ok, referrers: [] }, 'referrers: give none, all, or artifact types'],
    ['a bad artifact type', { ...ok, referrers: ['sig'] }, 'referrers: give none, all, or artifact types'],
    ['a bad policy', { ...ok, policy: 'lazy' }, 'policy: give immediate'],
    [
      'concurrency 0',
      { ...ok, concurrency: 0 },
      'concurrency: give a whole number of requests at once from 1 to 64',
    ],
    ['concurrency 65', { ...ok, concurrency: 65 }, 'from 1 to 64, not 65'],
    ['concurrency 1.5', { ...ok, concurrency: 1.5 }, 'not 1.5'],
    [
      'rate 0',
      { ...ok, requestsPerSecond: 0 },
      'requestsPerSecond: give a whole number of requests per second from 1 to 10000',
    ],
    ['rate 10001', { ...ok, requestsPerSecond: 10001 }, 'not 10001'],
    ['a password and no username', { ...ok, password: 'pw' }, 'a password needs a username'],
    ['a username and no password', { ...ok, username: 'me' }, 'a username needs a password'],
    ['an empty username', { ...ok, username: '', password: 'pw' }, 'username: give 1 to 256 characters'],
    ['a username with ":"', { ...ok, username: 'a:b', password: 'pw' }, 'cannot hold ":"'],
    [
      'a control character in the password',
      { ...ok, username: 'me', password: 'p\u0000w' },
      'control character',
    ],
    [
      'a CA that is no PEM',
      { ...ok, url: 'https://example.com', caPem: 'hello' },
      'caPem: give PEM certificates',
    ],
    ['a CA for an http URL', { ...ok, caPem }, 'apply to https remotes'],
    [
      'a control character (not a line break) in the CA',
      { ...ok, caPem: '-----BEGIN\u0007' },
      'control character',
    ],
    ['not verifying an http URL', { ...ok, tlsVerify: false }, 'apply to https remotes'],
  ])('POST with %s', async (_what, body, says) => {
    const b =
      typeof body === 'object' && 'caPem' in body && body.caPem === ''
        ? { ...body, caPem: caPem || 'x' }
        : body;
    const e = await refused(() => post(b), 400, 'PARAMETER_INVALID', '');
    expect(`${e.message} ${JSON.stringify(e.detail ?? '')}`).toContain(says);
    expect(JSON.stringify(e)).not.toContain('pw"');
  });

  it('POST that is not JSON', async () => {
    await refused(() => post('{', json), 400, 'PARAMETER_INVALID', '');
    await refused(
      () => http('POST', remotes(), 'name=x', { 'content-type': 'text/plain' }),
      400,
      'PARAMETER_INVALID',
      'the body must be JSON',
    );
  });

  it('POST of a taken name: 409 ALREADY_EXISTS', async () => {
    await refused(
      () => post({ name: 'hub', url: ok.url }),
      409,
      'ALREADY_EXISTS',
      'a remote named hub exists already',
    );
  });

  it('an unknown remote: 404 REMOTE_UNKNOWN on GET, PATCH, DELETE', async () => {
    await refused(() => http('GET', `${remotes()}/nope`), 404, 'REMOTE_UNKNOWN', 'there is no remote nope');
    await refused(() => patch('nope', { concurrency: 1 }), 404, 'REMOTE_UNKNOWN', 'there is no remote nope');
    await refused(
      () => patch('nope', { username: 'u', password: PASSWORD }),
      404,
      'REMOTE_UNKNOWN',
      'there is no remote nope',
    );
    await refused(() => http('DELETE', `${remotes()}/nope`), 404, 'REMOTE_UNKNOWN', 'berth remote list');
  });

  it('PATCH with nothing to change, an unknown field, a bad value, or a name (it cannot be renamed)', async () => {
    await refused(() => patch('hub', {}), 400, 'PARAMETER_INVALID', 'say what to change');
    await refused(() => patch('hub', { name: 'other' }), 400, 'PARAMETER_INVALID', 'the body must be JSON');
    await refused(() => patch('hub', { concurrency: 100 }), 400, 'PARAMETER_INVALID', 'from 1 to 64');
    await refused(
      () => patch('hub', { password: 'pw' }),
      400,
      'PARAMETER_INVALID',
      'a password needs a username',
    );
  });

  it('DELETE of a remote a cache uses: 409 REMOTE_IN_USE naming it', async () => {
    await s.berth.db.kysely
      .insertInto('caches')
      .values({
        name: 'hubcache',
        remote: 'hub',
        prefix: 'cache/hub',
        check_seconds: 60,
        stale_seconds: 60,
        created_at: 0,
      })
      .execute();
    const e = await refused(
      () => http('DELETE', `${remotes()}/hub`),
      409,
      'REMOTE_IN_USE',
      'remote hub is in use by caches hubcache',
    );
    expect(e.detail).toMatchObject({ caches: ['hubcache'] });
    await s.berth.db.kysely.deleteFrom('caches').execute();
  });
});
