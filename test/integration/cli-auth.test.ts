// The access commands of `berth` against a server: users, permissions, public patterns, tokens, audit, whoami,
// login and logout (the stored token file), and what a scoped token may do.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { credentialsFile, storedLogin, storeLogin } from '../../src/cli/logins.js';
import { runBerth, runBerthWith } from '../helpers/cli.js';
import { ADMIN, basic, fixture, http, startTestServer, type TestServer } from '../helpers/in-process.js';
import { BIN, ROOT } from '../helpers/real-server.js';

let s: TestServer;
beforeAll(async () => {
  // Many refusals here come from 127.0.0.1 to one server: the failed-login waits (tested in
  // test/auth/abuse.test.ts) would otherwise slow the later tests down.
  s = await startTestServer('cli-auth', {
    auth: { loginPolicy: { free: 1000, baseDelayMs: 1000, maxDelayMs: 60_000, windowMs: 900_000 } },
  });
});
afterAll(async () => {
  await s?.close();
});

/** As the administrator. */
const berth = (...args: string[]) => runBerth(s.url, ...args);
/** As the administrator, with `stdin` as standard input. */
const piped = (stdin: string, ...args: string[]) =>
  runBerthWith({ server: s.url, stdin }, ...args, '-u', ADMIN.user, '-p', ADMIN.password);
/** As USER with PASSWORD (or an API token). */
const as = (user: string, password: string, ...args: string[]) =>
  runBerth(s.url, ...args, '-u', user, '--password', password);
/** With no credentials but what the command finds: the stored login. */
const bare = (...args: string[]) => runBerthWith({ server: s.url }, ...args);

const TOKEN = /^berth_[a-z0-9]{12}_[A-Za-z0-9_-]{43}$/;
const mode = (path: string): number => statSync(path).mode & 0o777;

describe('berth user', () => {
  let alicePassword = '';

  it('add prints a generated password once; it works', async () => {
    const r = await berth('user', 'add', 'alice');
    expect(r.code, r.err).toBe(0);
    const m = /^created user alice\npassword: (\S{24})\n\(it is shown only this once: .*\)\n$/.exec(r.out);
    expect(m, r.out).not.toBeNull();
    alicePassword = m![1]!;
    const who = await as('alice', alicePassword, 'whoami');
    expect(who.code, who.err).toBe(0);
    expect(who.out).toMatch(/^user +alice$/m);
    expect(who.out).toMatch(/^authenticated by +password$/m);
  });

  it('add --password-stdin --admin takes the password from stdin; --json prints the user', async () => {
    const r = await piped('bob-password-1\n', 'user', 'add', 'bob', '--admin', '--password-stdin', '--json');
    expect(r.code, r.err).toBe(0);
    expect(JSON.parse(r.out)).toMatchObject({ name: 'bob', admin: true });
    expect(r.out).not.toContain('bob-password-1');
    expect((await as('bob', 'bob-password-1', 'user', 'list')).code).toBe(0);
    const gen = JSON.parse((await berth('user', 'add', 'gina', '--json')).out);
    expect(gen).toMatchObject({ name: 'gina', admin: false, password: expect.stringMatching(/^\S{24}$/) });
  });

  it('add refuses what the server refuses, with its message', async () => {
    let r = await berth('user', 'add', 'alice');
    expect(r).toMatchObject({ code: 1, out: '', err: 'berth: ALREADY_EXISTS: user alice already exists\n' });
    r = await berth('user', 'add', 'Not A Name');
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^berth: PARAMETER_INVALID: "Not A Name" is not a user name/);
    r = await piped('short\n', 'user', 'add', 'carl', '--password-stdin');
    expect(r.code).toBe(1);
    expect(r.err).toContain('PARAMETER_INVALID: a password must be 8 to 1024 characters long');
    r = await piped('', 'user', 'add', 'carl', '--password-stdin');
    expect(r).toMatchObject({ code: 2, err: 'berth: --password-stdin: standard input held no password\n' });
  });

  it('list and show print tables; a non-administrator is DENIED', async () => {
    const list = await berth('user', 'list');
    expect(list.code, list.err).toBe(0);
    expect(list.out).toMatch(/^NAME +ADMINISTRATOR +CREATED\nadmin +yes +\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ\n/);
    expect(list.out).toMatch(/^alice +no +/m);
    expect(list.out).toMatch(/^bob +yes +/m);
    const show = await berth('user', 'show', 'alice');
    expect(show.code, show.err).toBe(0);
    expect(show.out).toMatch(/^name +alice\nadministrator +no\ncreated +\S+ \S+\npermissions +none\n$/);
    const denied = await as('alice', alicePassword, 'user', 'list');
    expect(denied).toMatchObject({ code: 1, err: 'berth: DENIED: alice is not an administrator\n' });
    const unknown = await berth('user', 'show', 'nobody');
    expect(unknown).toMatchObject({ code: 1, err: 'berth: USER_UNKNOWN: user nobody does not exist\n' });
  });

  it('a wrong password is refused with the server’s message', async () => {
    const r = await as('alice', 'not-her-password', 'repo', 'list');
    expect(r).toMatchObject({ code: 1, out: '' });
    expect(r.err).toBe('berth: UNAUTHORIZED: wrong user name or password for alice\n');
  });

  it('passwd sets a password from stdin, or generates one without a terminal and says so', async () => {
    let r = await piped('alice-password-2\n', 'user', 'passwd', 'alice', '--password-stdin');
    expect(r).toMatchObject({ code: 0, out: 'changed the password of alice\n' });
    expect((await as('alice', alicePassword, 'whoami')).code).toBe(1);
    expect((await as('alice', 'alice-password-2', 'whoami')).code).toBe(0);
    // her own, with her own password
    r = await runBerthWith(
      { server: s.url, stdin: 'alice-password-3' },
      ...['user', 'passwd', 'alice', '--password-stdin', '-u', 'alice', '-p', 'alice-password-2'],
    );
    expect(r.code, r.err).toBe(0);
    r = await berth('user', 'passwd', 'gina');
    expect(r.code, r.err).toBe(0);
    const m =
      /^changed the password of gina\ngenerated \(no --password-stdin, no terminal to ask on\): (\S+)\n/;
    const generated = m.exec(r.out)?.[1];
    expect(generated, r.out).toBeDefined();
    expect((await as('gina', generated!, 'whoami')).code).toBe(0);
    r = await berth('user', 'passwd', 'nobody', '--json');
    expect(r).toMatchObject({ code: 1, err: 'berth: USER_UNKNOWN: user nobody does not exist\n' });
  });

  it('remove removes a user; the last administrator stays', async () => {
    expect(await berth('user', 'remove', 'gina')).toMatchObject({
      code: 0,
      out: 'removed user gina with their permissions and API tokens\n',
    });
    expect((await berth('user', 'remove', 'gina')).err).toBe(
      'berth: USER_UNKNOWN: user gina does not exist\n',
    );
    expect((await berth('user', 'remove', 'bob')).code).toBe(0);
    const last = await berth('user', 'remove', 'admin');
    expect(last).toMatchObject({ code: 1 });
    expect(last.err).toContain('DENIED: admin is the last administrator');
    expect((await as('alice', 'alice-password-3', 'user', 'remove', 'alice')).err).toBe(
      'berth: DENIED: alice is not an administrator\n',
    );
  });
});

describe('berth permission and berth public', () => {
  beforeAll(async () => {
    expect((await piped('carol-password', 'user', 'add', 'carol', '--password-stdin')).code).toBe(0);
  });

  it('grant, list and revoke a permission', async () => {
    let r = await berth('permission', 'grant', 'carol', 'team/*', 'push,pull');
    expect(r).toMatchObject({ code: 0, out: 'carol may pull,push in team/*\n' });
    expect((await berth('permission', 'grant', 'carol', 'docs/site', 'pull')).code).toBe(0);
    r = await berth('permission', 'list', 'carol');
    expect(r.out).toBe('PATTERN    ACTIONS\ndocs/site  pull\nteam/*     pull,push\n');
    // carol may read her own
    r = await as('carol', 'carol-password', 'permission', 'list', 'carol', '--json');
    expect(JSON.parse(r.out)).toMatchObject({ user: 'carol', admin: false, permissions: [{}, {}] });
    expect((await berth('user', 'show', 'carol')).out).toMatch(/^permissions\n {2}docs\/site +pull\n/m);
    r = await berth('permission', 'revoke', 'carol', 'docs/site');
    expect(r).toMatchObject({ code: 0, out: 'revoked what carol was granted in docs/site\n' });
    expect((await berth('permission', 'list', 'admin')).out).toBe(
      'admin is an administrator: every action on every repository\n',
    );
  });

  it('refusals: a bad pattern or action, an unknown user, nothing to revoke, a non-administrator', async () => {
    let r = await berth('permission', 'grant', 'carol', 'Team/*', 'pull');
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^berth: PARAMETER_INVALID: "Team\/\*" is not a repository pattern: /);
    r = await berth('permission', 'grant', 'carol', 'team/*', 'pull,fly');
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^berth: PARAMETER_INVALID: "pull,fly" is not a list of actions/);
    r = await berth('permission', 'grant', 'nobody', 'team/*', 'pull');
    expect(r).toMatchObject({ code: 1, err: 'berth: USER_UNKNOWN: user nobody does not exist\n' });
    r = await berth('permission', 'revoke', 'carol', 'docs/site');
    expect(r).toMatchObject({
      code: 1,
      err: 'berth: NOT_FOUND: user carol has no permission on "docs/site"\n',
    });
    r = await as('carol', 'carol-password', 'permission', 'grant', 'carol', '*', 'admin');
    expect(r).toMatchObject({ code: 1, err: 'berth: DENIED: carol is not an administrator\n' });
    expect((await berth('permission', 'grant', 'carol')).code).toBe(2);
  });

  it('public add, list and remove', async () => {
    expect((await berth('public', 'list')).out).toBe(
      'no public patterns: anonymous callers may pull nothing\n',
    );
    let r = await berth('public', 'add', 'library/*');
    expect(r).toMatchObject({ code: 0, out: 'anyone may now pull from library/*, without credentials\n' });
    expect((await berth('public', 'add', 'docs/site')).code).toBe(0);
    expect((await berth('public', 'list')).out).toBe('PATTERN\ndocs/site\nlibrary/*\n');
    expect(JSON.parse((await berth('public', 'list', '--json')).out)).toEqual({
      patterns: ['docs/site', 'library/*'],
    });
    r = await berth('public', 'remove', 'docs/site');
    expect(r).toMatchObject({ code: 0, out: 'docs/site is no longer public\n' });
    r = await berth('public', 'remove', 'docs/site');
    expect(r).toMatchObject({ code: 1, err: 'berth: NOT_FOUND: "docs/site" is not public\n' });
    r = await berth('public', 'add', 'bad pattern');
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^berth: PARAMETER_INVALID: "bad pattern" is not a repository pattern/);
    r = await as('carol', 'carol-password', 'public', 'add', 'team/*');
    expect(r).toMatchObject({ code: 1, err: 'berth: DENIED: carol is not an administrator\n' });
  });
});

describe('berth token', () => {
  it('create prints only the secret on stdout, with a note on stderr that it is shown only now', async () => {
    const r = await berth('token', 'create', '--name', 'laptop');
    expect(r.code, r.err).toBe(0);
    expect(r.out.trimEnd()).toMatch(TOKEN);
    expect(r.err).toMatch(
      /^created API token [a-z0-9]{12} "laptop" for admin: everything admin may do; expires /,
    );
    expect(r.err).toContain('shown only now');
    const who = await runBerthWith({ server: s.url }, 'whoami', '--password', r.out.trim(), '--json');
    expect(JSON.parse(who.out)).toMatchObject({ user: 'admin', authenticatedBy: 'api-token' });
  });

  it('create --user --scope --expires --json, list and revoke', async () => {
    const r = await berth(
      ...['token', 'create', '--user', 'carol', '--name', 'ci', '--json'],
      ...['--scope', 'repository:team/*:pull,push', '--scope', 'repository:docs/*:pull', '--expires', '30d'],
    );
    expect(r.code, r.err).toBe(0);
    const made = JSON.parse(r.out);
    expect(made).toMatchObject({
      user: 'carol',
      name: 'ci',
      scopes: ['repository:team/*:pull,push', 'repository:docs/*:pull'],
      token: expect.stringMatching(TOKEN),
    });
    const days = (Date.parse(made.expiresAt) - Date.now()) / 86_400_000;
    expect(days).toBeGreaterThan(29.9);
    expect(days).toBeLessThanOrEqual(30);
    let list = await berth('token', 'list', '--user', 'carol');
    expect(list.out).toMatch(/^ID +USER +NAME +SCOPES +EXPIRES +LAST USED +STATUS\n/);
    expect(list.out).toMatch(
      new RegExp(
        `^${made.id} +carol +ci +repository:team/\\*:pull,push repository:docs/\\*:pull +\\S+ \\S+ +never +active$`,
        'm',
      ),
    );
    expect(await berth('token', 'revoke', made.id)).toMatchObject({
      code: 0,
      out: `revoked API token ${made.id}\n`,
    });
    list = await berth('token', 'list', '--user', 'carol');
    expect(list.out).toMatch(new RegExp(`^${made.id} .* revoked$`, 'm'));
    const used = await runBerthWith({ server: s.url }, 'whoami', '--password', made.token);
    expect(used).toMatchObject({
      code: 1,
      err: `berth: UNAUTHORIZED: API token ${made.id} was revoked: create a new one\n`,
    });
  });

  it('a user lists only their own; refusals come with the server’s message', async () => {
    const own = await as('carol', 'carol-password', 'token', 'list', '--json');
    expect(JSON.parse(own.out).tokens.every((t: { user: string }) => t.user === 'carol')).toBe(true);
    let r = await as('carol', 'carol-password', 'token', 'list', '--user', 'admin');
    expect(r).toMatchObject({ code: 1, err: 'berth: DENIED: carol may not manage user admin\n' });
    r = await berth('token', 'create', '--scope', 'team/*:pull');
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^berth: PARAMETER_INVALID: "team\/\*:pull" is not a token scope/);
    r = await berth('token', 'create', '--expires', 'soon');
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^berth: PARAMETER_INVALID: "soon" is not a duration/);
    r = await berth('token', 'create', '--user', 'nobody');
    expect(r).toMatchObject({ code: 1, err: 'berth: USER_UNKNOWN: user nobody does not exist\n' });
    r = await berth('token', 'revoke', 'nosuchtoken0');
    expect(r).toMatchObject({ code: 1, err: 'berth: TOKEN_UNKNOWN: there is no API token nosuchtoken0\n' });
  });

  it('a token with scopes, used as --password, pushes and pulls only within them', async () => {
    expect((await berth('upload', fixture('base.dir.tar'), 'shared/base:1')).code).toBe(0);
    expect((await piped('erin-password', 'user', 'add', 'erin', '--password-stdin')).code).toBe(0);
    expect((await berth('permission', 'grant', 'erin', '*', 'push')).code).toBe(0);
    const token = async (scope: string) =>
      (await berth('token', 'create', '--user', 'erin', '--scope', scope)).out.trim();
    const rw = await token('repository:team/*:pull,push');
    // alone (sent as Bearer) or with her name (Basic)
    let r = await runBerthWith({ server: s.url }, 'upload', fixture('base.dir.tar'), 'team/app:1', '-p', rw);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/^team\/app version 1: /);
    r = await as('erin', rw, 'repo', 'versions', 'team/app');
    expect(r.code, r.err).toBe(0);
    r = await as('erin', rw, 'upload', fixture('base.dir.tar'), 'other/app:1');
    expect(r).toMatchObject({ code: 1, err: 'berth: DENIED: erin may not push repository other/app\n' });
    r = await as('erin', rw, 'repo', 'versions', 'shared/base');
    expect(r).toMatchObject({ code: 1, err: 'berth: DENIED: erin may not pull repository shared/base\n' });
    // her password may do both
    expect((await as('erin', 'erin-password', 'repo', 'versions', 'shared/base')).code).toBe(0);

    const ro = await token('repository:team/*:pull');
    r = await as('erin', ro, 'upload', fixture('base.dir.tar'), 'team/app:2');
    expect(r).toMatchObject({ code: 1, err: 'berth: DENIED: erin may not push repository team/app\n' });
    expect((await as('erin', ro, 'repo', 'show', 'team/app')).code).toBe(0);
    // the registry says the same
    const accept = { accept: 'application/vnd.oci.image.manifest.v1+json' };
    const pull = (repo: string) =>
      http('GET', `${s.url}/v2/${repo}/manifests/1`, undefined, {
        ...accept,
        authorization: basic('erin', ro),
      });
    expect((await pull('team/app')).status).toBe(200);
    expect((await pull('shared/base')).status).toBe(403);
  });
});

describe('berth audit', () => {
  it('prints the log as a table, filtered', async () => {
    const r = await berth('audit', '--actor', 'admin', '--action', 'user.create', '--limit', '2');
    expect(r.code, r.err).toBe(0);
    const lines = r.out.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^TIME +ACTOR +ADDRESS +ACTION +REPOSITORY +DETAILS$/);
    expect(lines).toHaveLength(3);
    expect(lines[1]).toMatch(
      /^\S+ \S+Z +admin +127\.0\.0\.1 +user\.create +- +status=201 user=erin admin=false$/,
    );
    const upload = await berth('audit', '--repository', 'team/app', '--json');
    expect(JSON.parse(upload.out).entries[0]).toMatchObject({ actor: 'erin', action: 'archive.upload' });
    expect((await berth('audit', '--action', 'nothing.like.this')).out).toBe('no audit entries\n');
  });

  it('refuses a limit that is not a positive number (usage), and non-administrators (DENIED)', async () => {
    const r = await berth('audit', '--limit', '0');
    expect(r.code).toBe(2);
    expect(r.err).toContain('"0" is not a positive whole number');
    expect((await berth('audit', '--limit', '5000')).err).toBe(
      'berth: PARAMETER_INVALID: limit=5000: ask for 1 to 1000 entries\n',
    );
    expect(await as('carol', 'carol-password', 'audit')).toMatchObject({
      code: 1,
      err: 'berth: DENIED: carol is not an administrator\n',
    });
  });
});

describe('berth login, whoami and logout', () => {
  beforeAll(async () => {
    expect((await piped('dave-password', 'user', 'add', 'dave', '--password-stdin')).code).toBe(0);
    expect((await berth('permission', 'grant', 'dave', 'team/*', 'pull')).code).toBe(0);
  });

  it('whoami without credentials says how to give some', async () => {
    const r = await bare('whoami');
    expect(r).toMatchObject({ code: 1, out: '' });
    expect(r.err).toBe(
      'berth: UNAUTHORIZED: authentication required\n' +
        'berth: log in with berth login, or give --username/--password (BERTH_USERNAME/BERTH_PASSWORD)\n',
    );
  });

  it('login refuses a wrong password with the server’s message, and stores nothing', async () => {
    const r = await bare('login', '-u', 'dave', '--password', 'wrong-password');
    expect(r).toMatchObject({ code: 1, err: 'berth: UNAUTHORIZED: wrong user name or password for dave\n' });
    expect(storedLogin(s.url)).toBeUndefined();
    expect((await bare('login', '--password', 'dave-password')).err).toBe(
      'berth: say who logs in: berth login -u NAME (or BERTH_USERNAME)\n',
    );
    expect((await bare('login', '-u', 'dave')).code).toBe(2);
  });

  let firstTokenId = '';
  it('login stores an API token (not the password) in a 0600 file; commands then use it', async () => {
    const r = await runBerthWith(
      { server: s.url, stdin: 'dave-password\n' },
      'login',
      '-u',
      'dave',
      '--password-stdin',
    );
    expect(r.code, r.err).toBe(0);
    const file = credentialsFile();
    expect(r.out).toMatch(
      new RegExp(
        `^logged in to ${s.url}/ as dave: API token [a-z0-9]{12} \\(expires \\S+ \\S+Z\\) stored in ${file}\\n$`,
      ),
    );
    expect(mode(file)).toBe(0o600);
    expect(mode(join(file, '..'))).toBe(0o700);
    const text = readFileSync(file, 'utf8');
    expect(text).not.toContain('dave-password');
    const stored = storedLogin(s.url)!;
    expect(stored).toMatchObject({ username: 'dave', token: expect.stringMatching(TOKEN) });
    firstTokenId = stored.tokenId;
    const [t] = JSON.parse((await berth('token', 'list', '--user', 'dave', '--json')).out).tokens;
    expect(t).toMatchObject({
      id: stored.tokenId,
      name: expect.stringMatching(/^berth login from /),
      scopes: null,
    });
    expect((Date.parse(t.expiresAt) - Date.now()) / 86_400_000).toBeGreaterThan(89.9);

    const who = await bare('whoami');
    expect(who.code, who.err).toBe(0);
    expect(who.out).toBe(
      [
        'user              dave',
        'administrator     no',
        `authenticated by  API token ${stored.tokenId}`,
        'credentials       stored login',
        `server            ${s.url}/`,
        '',
      ].join('\n'),
    );
    expect((await bare('repo', 'list')).code).toBe(0);
    expect((await bare('whoami', '-u', 'dave')).out).toContain('stored login');
    // options and the environment win over the stored login
    expect((await berth('whoami')).out).toMatch(/^user +admin\n[^]*credentials +options or environment\n/);
    expect((await bare('whoami', '-u', 'someone')).code).toBe(1);
  });

  it('logging in again replaces the stored token and revokes the old one', async () => {
    const r = await bare('login', '-p', 'dave-password', '--json'); // the stored login's user name
    expect(r.code, r.err).toBe(0);
    const answer = JSON.parse(r.out);
    expect(answer).toMatchObject({ user: 'dave', file: credentialsFile() });
    expect(answer.tokenId).not.toBe(firstTokenId);
    expect(r.out).not.toContain(storedLogin(s.url)!.token);
    const tokens = JSON.parse((await berth('token', 'list', '--user', 'dave', '--json')).out).tokens;
    expect(tokens.find((t: { id: string }) => t.id === firstTokenId).revokedAt).not.toBeNull();
  });

  it('logout revokes the token server-side and forgets it', async () => {
    const { token, tokenId } = storedLogin(s.url)!;
    const r = await bare('logout');
    expect(r).toMatchObject({
      code: 0,
      out: `logged out of ${s.url}/: forgot dave's API token ${tokenId} (revoked)\n`,
    });
    expect(storedLogin(s.url)).toBeUndefined();
    const after = await http('GET', `${s.url}/api/v1/whoami`, undefined, {
      authorization: basic('dave', token),
    });
    expect(after.status).toBe(401);
    expect((await bare('logout')).out).toBe(`not logged in to ${s.url}/\n`);
  });

  it('logout forgets a token the server no longer takes, or cannot be asked about (saying so)', async () => {
    expect((await as('dave', 'dave-password', 'login')).code).toBe(0);
    const { tokenId } = storedLogin(s.url)!;
    expect((await berth('token', 'revoke', tokenId)).code).toBe(0);
    let r = await bare('repo', 'list');
    expect(r.code).toBe(1);
    expect(r.err).toBe(
      `berth: UNAUTHORIZED: API token ${tokenId} was revoked: create a new one\n` +
        `berth: the server no longer takes dave's stored login (API token ${tokenId}): run berth login again\n`,
    );
    r = await bare('logout');
    expect(r).toMatchObject({
      code: 0,
      out: `logged out of ${s.url}/: forgot dave's API token ${tokenId} (no longer valid)\n`,
    });

    const gone = 'http://127.0.0.1:9';
    storeLogin(gone, { username: 'dave', token: 'berth_aaaaaaaaaaaa_x', tokenId: 'aaaaaaaaaaaa' });
    r = await runBerthWith({ server: gone }, 'logout');
    expect(r.code).toBe(1);
    expect(r.out).toBe(`logged out of ${gone}/: forgot dave's API token aaaaaaaaaaaa (not revoked)\n`);
    expect(r.err).toMatch(
      /^berth: the server did not revoke API token aaaaaaaaaaaa: cannot reach the berth server/,
    );
    expect(r.err).toContain('revoke it with: berth token revoke aaaaaaaaaaaa --server http://127.0.0.1:9/');
    expect(storedLogin(gone)).toBeUndefined();
  });

  it('logout with credentials the server refuses reports it; a login it cannot store is revoked', async () => {
    expect((await as('dave', 'dave-password', 'login')).code).toBe(0);
    const { tokenId } = storedLogin(s.url)!;
    let r = await as('dave', 'wrong-password', 'logout');
    expect(r.code).toBe(1);
    expect(r.out).toBe(`logged out of ${s.url}/: forgot dave's API token ${tokenId} (not revoked)\n`);
    expect(r.err).toMatch(/^berth: UNAUTHORIZED: the server did not revoke API token \w+: wrong user name/);
    expect((await berth('token', 'revoke', tokenId)).code).toBe(0);

    vi.stubEnv('BERTH_CONFIG_DIR', join(credentialsFile(), 'not-a-dir'));
    try {
      r = await as('dave', 'dave-password', 'login');
    } finally {
      vi.unstubAllEnvs();
    }
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^berth: cannot write .*not-a-dir\/credentials\.json: /);
    const tokens = JSON.parse((await berth('token', 'list', '--user', 'dave', '--json')).out).tokens;
    expect(tokens.filter((t: { revokedAt: string | null }) => t.revokedAt === null)).toEqual([]);
  });

  // the real command, with a real pipe on its standard input (needs the build: npm run build)
  it.skipIf(!existsSync(join(ROOT, 'dist', 'cli', 'main.js')))(
    'works as a process: login --password-stdin from a pipe, then whoami',
    async () => {
      const berthProcess = (args: string[], stdin = '') =>
        new Promise<{ code: number | null; out: string }>((resolve) => {
          const child = spawn(process.execPath, [BIN, ...args, '--server', s.url], { stdio: 'pipe' });
          let out = '';
          child.stdout.on('data', (b: Buffer) => (out += b.toString()));
          child.stderr.on('data', (b: Buffer) => (out += b.toString()));
          child.once('exit', (code) => resolve({ code, out }));
          child.stdin.end(stdin);
        });
      const login = await berthProcess(['login', '-u', 'dave', '--password-stdin'], 'dave-password\n');
      expect(login.code, login.out).toBe(0);
      const who = await berthProcess(['whoami', '--json']);
      expect(who.code, who.out).toBe(0);
      expect(JSON.parse(who.out)).toMatchObject({ user: 'dave', authenticatedBy: 'api-token' });
      expect((await berthProcess(['logout'])).code).toBe(0);
    },
  );
});
