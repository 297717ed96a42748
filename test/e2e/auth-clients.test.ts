// Authentication with real clients against the real server: skopeo and podman logins (into a temporary auth
// file, never the machine's), --creds with a password and with an API token, a registry token given directly,
// anonymous pulls, a revoked token, copies between repositories, and curl with -u straight to /v2/. Every
// refused command must exit non-zero and leave the repositories and the store as they were.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it as vitestIt } from 'vitest';
import { hasCommand, skipUnless } from '../helpers/backend.js';
import { fixture, http } from '../helpers/in-process.js';
import { run, skopeo as asAdmin, startRealServer, type RealServer } from '../helpers/real-server.js';
import { filesUnder } from './support.js';

const it = skipUnless(hasCommand('skopeo'), 'skopeo is not installed (apt-get install skopeo)');
const isRoot = process.getuid?.() === 0;
const rootReason =
  'podman is tested as root only (podman --storage-driver vfs as root): run the tests as root';
const itPodman: typeof vitestIt = isRoot
  ? skipUnless(hasCommand('podman'), 'podman is not installed (apt-get install podman)')
  : (new Proxy(vitestIt.skip, {
      apply: (target, self, [name, ...rest]: unknown[]) =>
        Reflect.apply(target, self, [`${String(name)} [skipped: ${rootReason}]`, ...rest]),
    }) as typeof vitestIt);

const PW = 'client-password';
let s: RealServer;
let work: string;
/** the auth file every skopeo and podman here uses (REGISTRY_AUTH_FILE), so the machine's is never touched */
let authfile: string;
const tokens = {} as Record<'pusher' | 'scoped' | 'revoked', string>;

const env = () => ({ ...process.env, REGISTRY_AUTH_FILE: authfile });
/** skopeo with exactly the arguments given (no credentials added), and the temporary auth file. */
const skopeo = async (...args: string[]): Promise<string> =>
  (await run('skopeo', args, { env: env() })) as string;
/** The command's failure message; fails the test if the command succeeds. */
async function refused(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    return (e as Error).message;
  }
  throw new Error('the command succeeded, but it should have been refused');
}
const ref = (repo: string) => `docker://${s.hostPort}/${repo}`;
const APP_OCI = `oci-archive:${fixture('app.oci.tar')}:1.0`;
const BASE_OCI = `oci-archive:${fixture('base.oci.tar')}:1.0`;
let seq = 0;
const fresh = () => `oci:${join(work, `out-${++seq}`)}:x`;

/** Everything a push could change: each repository's info and tags (as the administrator sees them), the store. */
async function world(): Promise<unknown> {
  const list = await http('GET', `${s.url}/api/v1/repositories`);
  expect(list.status).toBe(200);
  const repos: Record<string, unknown> = {};
  for (const r of list.json().repositories as { name: string }[]) {
    const tags = await http('GET', `${s.url}/v2/${r.name}/tags/list`);
    repos[r.name] = { ...r, tags: tags.json().tags };
  }
  return { repos, files: filesUnder(join(s.data, 'store')) };
}

/** Who pushed the latest manifest into `repo`, by the audit log. */
async function lastPusher(repo: string): Promise<string | null> {
  const r = await http('GET', `${s.url}/api/v1/audit?repository=${repo}&action=manifest.push&limit=1`);
  expect(r.status).toBe(200);
  return r.json().entries[0]?.actor ?? null;
}

const api = async (method: string, path: string, body?: unknown) => {
  const r = await http(
    method,
    `${s.url}/api/v1${path}`,
    body === undefined ? undefined : JSON.stringify(body),
    {
      'content-type': 'application/json',
    },
  );
  expect(r.status, `${method} ${path}: ${r.body.toString()}`).toBeLessThan(300);
  return r.body.length > 0 ? r.json() : undefined;
};

beforeAll(async () => {
  s = await startRealServer('auth-clients');
  work = mkdtempSync(join(tmpdir(), 'auth-clients-'));
  authfile = join(work, 'auth.json');
  for (const [user, pattern, actions] of [
    ['reader', 'team/*', ['pull']],
    ['pusher', 'team/*', ['push']],
  ] as const) {
    await api('POST', '/users', { name: user, password: PW });
    await api('PUT', `/users/${user}/permissions`, { pattern, actions });
  }
  await api('PUT', '/public', { pattern: 'pub/*' });
  tokens.pusher = (await api('POST', '/tokens', { user: 'pusher' })).token;
  tokens.scoped = (
    await api('POST', '/tokens', { user: 'admin', scopes: ['repository:team/app:pull'] })
  ).token;
  const revoked = await api('POST', '/tokens', { user: 'pusher' });
  await api('DELETE', `/tokens/${revoked.id}`);
  tokens.revoked = revoked.token;
  if (hasCommand('skopeo')) {
    await asAdmin('copy', '--quiet', '--dest-tls-verify=false', APP_OCI, ref('team/app:1.0'));
    await asAdmin('copy', '--quiet', '--dest-tls-verify=false', BASE_OCI, ref('pub/base:1.0'));
    await asAdmin('copy', '--quiet', '--dest-tls-verify=false', BASE_OCI, ref('other/secret:1.0'));
  }
});
afterAll(async () => {
  if (work && isRoot && hasCommand('podman')) await podman('rmi', '--all', '--force').catch(() => {});
  await s?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('skopeo login', () => {
  it('as the pusher: push and pull without --creds, as the pusher; after logout, anonymous', async () => {
    await skopeo('login', '--tls-verify=false', '--authfile', authfile, '-u', 'pusher', '-p', PW, s.hostPort);
    const saved = JSON.parse(readFileSync(authfile, 'utf8')).auths[s.hostPort].auth;
    expect(Buffer.from(saved, 'base64').toString()).toBe(`pusher:${PW}`);

    await skopeo('copy', '--quiet', '--dest-tls-verify=false', APP_OCI, ref('team/login:1.0'));
    expect(await lastPusher('team/login')).toBe('pusher');
    await skopeo('copy', '--quiet', '--src-tls-verify=false', ref('team/login:1.0'), fresh());
    await skopeo('inspect', '--tls-verify=false', ref('team/app:1.0'));

    await skopeo('logout', '--authfile', authfile, s.hostPort);
    const msg = await refused(skopeo('inspect', '--tls-verify=false', ref('team/login:1.0')));
    expect(msg).toMatch(/unauthorized|authentication required/i);
    await skopeo('inspect', '--tls-verify=false', ref('pub/base:1.0'));
  });
});

describe('skopeo --creds', () => {
  it("a reader's push is refused, and changes nothing", async () => {
    const before = await world();
    const msg = await refused(
      skopeo(
        'copy',
        '--quiet',
        '--dest-tls-verify=false',
        '--dest-creds',
        `reader:${PW}`,
        BASE_OCI,
        ref('team/app:2.0'),
      ),
    );
    expect(msg).toMatch(/denied|403/i);
    expect(await world()).toEqual(before);
    // what the reader may do, they can
    await skopeo(
      'copy',
      '--quiet',
      '--src-tls-verify=false',
      '--src-creds',
      `reader:${PW}`,
      ref('team/app:1.0'),
      fresh(),
    );
  });
  it("the pusher's API token as the password: push, as the pusher", async () => {
    await skopeo(
      'copy',
      '--quiet',
      '--dest-tls-verify=false',
      '--dest-creds',
      `pusher:${tokens.pusher}`,
      APP_OCI,
      ref('team/tok:1.0'),
    );
    expect(await lastPusher('team/tok')).toBe('pusher');
  });
  it('an API token given as the registry token (Bearer) pulls', async () => {
    const raw = await skopeo(
      'inspect',
      '--raw',
      '--tls-verify=false',
      '--registry-token',
      tokens.pusher,
      ref('team/tok:1.0'),
    );
    expect(JSON.parse(raw).schemaVersion).toBe(2);
  });
  it("the admin's token scoped to team/app:pull pulls team/app and public repositories, and nothing more", async () => {
    const creds = ['--creds', `admin:${tokens.scoped}`];
    await skopeo('inspect', '--tls-verify=false', ...creds, ref('team/app:1.0'));
    await skopeo('inspect', '--tls-verify=false', ...creds, ref('pub/base:1.0'));
    expect(await refused(skopeo('inspect', '--tls-verify=false', ...creds, ref('other/secret:1.0')))).toMatch(
      /denied|403/i,
    );
    const before = await world();
    await refused(
      skopeo(
        'copy',
        '--quiet',
        '--dest-tls-verify=false',
        '--dest-creds',
        `admin:${tokens.scoped}`,
        BASE_OCI,
        ref('team/app:scoped'),
      ),
    );
    expect(await world()).toEqual(before);
  });
  it('a revoked token is refused, for pulls and pushes', async () => {
    const creds = `pusher:${tokens.revoked}`;
    expect(
      await refused(skopeo('inspect', '--tls-verify=false', '--creds', creds, ref('team/app:1.0'))),
    ).toMatch(/unauthorized|401/i);
    const before = await world();
    await refused(
      skopeo(
        'copy',
        '--quiet',
        '--dest-tls-verify=false',
        '--dest-creds',
        creds,
        BASE_OCI,
        ref('team/app:revoked'),
      ),
    );
    expect(await world()).toEqual(before);
  });
});

describe('anonymous', () => {
  it('pulls a public repository, not a private one, and pushes nowhere', async () => {
    await skopeo('copy', '--quiet', '--src-tls-verify=false', '--src-no-creds', ref('pub/base:1.0'), fresh());
    expect(
      await refused(
        skopeo('copy', '--quiet', '--src-tls-verify=false', '--src-no-creds', ref('team/app:1.0'), fresh()),
      ),
    ).toMatch(/unauthorized|authentication required/i);
    const before = await world();
    await refused(
      skopeo('copy', '--quiet', '--dest-tls-verify=false', '--dest-no-creds', BASE_OCI, ref('pub/base:anon')),
    );
    expect(await world()).toEqual(before);
  });
});

describe('skopeo copy between repositories', () => {
  it('a reader copying team/app into team/copy: the source is read, the destination refused, nothing made', async () => {
    const before = await world();
    const creds = ['--src-creds', `reader:${PW}`, '--dest-creds', `reader:${PW}`];
    const msg = await refused(
      skopeo(
        'copy',
        '--quiet',
        '--src-tls-verify=false',
        '--dest-tls-verify=false',
        ...creds,
        ref('team/app:1.0'),
        ref('team/copy:1.0'),
      ),
    );
    expect(msg).toMatch(/denied|403/i);
    expect(await world()).toEqual(before);
  });
  it('the pusher copying other/secret (which they may not read) into team/copy: refused at the source', async () => {
    const before = await world();
    const creds = ['--src-creds', `pusher:${PW}`, '--dest-creds', `pusher:${PW}`];
    const msg = await refused(
      skopeo(
        'copy',
        '--quiet',
        '--src-tls-verify=false',
        '--dest-tls-verify=false',
        ...creds,
        ref('other/secret:1.0'),
        ref('team/copy:1.0'),
      ),
    );
    expect(msg).toMatch(/initializing source.*denied: pusher may not pull repository other\/secret/);
    expect(await world()).toEqual(before);
  });
  it('the pusher copying pub/base into team/copy: done, as the pusher', async () => {
    const creds = ['--src-creds', `pusher:${PW}`, '--dest-creds', `pusher:${PW}`];
    await skopeo(
      'copy',
      '--quiet',
      '--src-tls-verify=false',
      '--dest-tls-verify=false',
      ...creds,
      ref('pub/base:1.0'),
      ref('team/copy:1.0'),
    );
    expect(await lastPusher('team/copy')).toBe('pusher');
    const a = await asAdmin('inspect', '--raw', '--tls-verify=false', ref('pub/base:1.0'));
    const b = await asAdmin('inspect', '--raw', '--tls-verify=false', ref('team/copy:1.0'));
    expect(b).toBe(a);
  });
});

const podman = async (...args: string[]): Promise<string> =>
  (await run(
    'podman',
    [
      '--root',
      join(work, 'podman', 'root'),
      '--runroot',
      join(work, 'podman', 'run'),
      '--tmpdir',
      join(work, 'podman', 'tmp'),
      '--storage-driver',
      'vfs',
      '--events-backend',
      'file',
      ...args,
    ],
    { env: env() },
  )) as string;

describe('podman login', () => {
  itPodman(
    "as the reader: pulls without --creds; the reader's push is refused and changes nothing",
    async () => {
      await podman(
        'login',
        '--tls-verify=false',
        '--authfile',
        authfile,
        '-u',
        'reader',
        '-p',
        PW,
        s.hostPort,
      );
      await podman(
        'pull',
        '--quiet',
        '--tls-verify=false',
        '--authfile',
        authfile,
        `${s.hostPort}/team/app:1.0`,
      );
      const before = await world();
      // the blobs are there already (the reader may see them): only the manifest is refused
      const msg = await refused(
        podman(
          'push',
          '--quiet',
          '--tls-verify=false',
          '--authfile',
          authfile,
          `${s.hostPort}/team/app:1.0`,
          `${s.hostPort}/team/app:podman`,
        ),
      );
      expect(msg).toMatch(/denied|403/i);
      expect(await world()).toEqual(before);
      await podman('logout', '--authfile', authfile, s.hostPort);
      await refused(
        podman('pull', '--quiet', '--tls-verify=false', '--authfile', authfile, `${s.hostPort}/team/app:1.0`),
      );
    },
  );
  itPodman('as the pusher: pushes without --creds, as the pusher', async () => {
    await podman('login', '--tls-verify=false', '--authfile', authfile, '-u', 'pusher', '-p', PW, s.hostPort);
    await podman(
      'push',
      '--quiet',
      '--tls-verify=false',
      '--authfile',
      authfile,
      `${s.hostPort}/team/app:1.0`,
      `${s.hostPort}/team/podman:1.0`,
    );
    expect(await lastPusher('team/podman')).toBe('pusher');
    await podman('logout', '--authfile', authfile, s.hostPort);
  });
});

describe('curl -u straight to /v2/', () => {
  /** status, WWW-Authenticate and body of a request with curl (or node's http when curl is missing) */
  async function curl(
    method: string,
    path: string,
    user?: string,
  ): Promise<{ status: number; challenge?: string; body: string }> {
    if (!hasCommand('curl')) {
      const r = await http(method, `${s.url}${path}`, undefined, {
        authorization: user === undefined ? '' : `Basic ${Buffer.from(user).toString('base64')}`,
      });
      return {
        status: r.status,
        challenge: r.headers['www-authenticate'] as string | undefined,
        body: r.body.toString(),
      };
    }
    const out = (await run('curl', [
      '-sS',
      '-X',
      method,
      '-D',
      '-',
      ...(user === undefined ? [] : ['-u', user]),
      `${s.url}${path}`,
    ])) as string;
    const [head, ...rest] = out.split('\r\n\r\n');
    const status = Number(/^HTTP\/[\d.]+ (\d+)/.exec(head!)![1]);
    const challenge = /^www-authenticate: (.*)$/im.exec(head!)?.[1];
    return { status, ...(challenge === undefined ? {} : { challenge }), body: rest.join('\r\n\r\n') };
  }

  it('password, API token, none, a wrong password; a refused delete changes nothing', async () => {
    const tags = await curl('GET', '/v2/team/app/tags/list', `reader:${PW}`);
    expect(tags.status).toBe(200);
    expect(JSON.parse(tags.body).tags).toContain('1.0');

    const none = await curl('GET', '/v2/team/app/tags/list');
    expect(none.status).toBe(401);
    expect(none.challenge).toBe(
      `Bearer realm="${s.url}/token",service="berth",scope="repository:team/app:pull"`,
    );
    expect((await curl('GET', '/v2/team/app/tags/list', 'reader:wrong-password')).status).toBe(401);

    const catalog = await curl('GET', '/v2/_catalog', `pusher:${tokens.pusher}`);
    expect(catalog.status).toBe(200);
    expect(JSON.parse(catalog.body).repositories).not.toContain('other/secret');
    expect(JSON.parse(catalog.body).repositories).toContain('team/app');

    const before = await world();
    const del = await curl('DELETE', '/v2/team/app/manifests/1.0', `reader:${PW}`);
    expect(del.status).toBe(403);
    expect(JSON.parse(del.body).errors[0].code).toBe('DENIED');
    expect(await world()).toEqual(before);

    expect((await curl('GET', '/api/v1/users', `admin:${tokens.scoped}`)).status).toBe(403);
  });
});
