// `berth remote add|list|show|edit|rm` against the real `berth serve` (its secret key file given by option): the
// remote's password read from stdin is never printed, logged or answered; bad input is a usage error or the server's.
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBerth, runBerthWith } from '../helpers/cli.js';
import { ADMIN, http } from '../helpers/in-process.js';
import { startRealServer, type RealServer } from '../helpers/real-server.js';

const PASSWORD = 'upstream-token-7c1f3e9a';
let s: RealServer;
let keys: string;

beforeAll(async () => {
  keys = mkdtempSync(join(tmpdir(), 'cli-remotes-keys-'));
  s = await startRealServer('cli-remotes', {
    args: ['--secret-key-file', join(keys, 'berth.key')],
    env: { BERTH_LOG_LEVEL: 'trace' },
  });
}, 60_000);
afterAll(async () => {
  await s?.stop();
  rmSync(keys, { recursive: true, force: true });
});

/** `berth remote …` as the administrator through BERTH_USERNAME/BERTH_PASSWORD (--username is the remote's). */
async function remote(args: string[], stdin?: string) {
  const saved = { u: process.env.BERTH_USERNAME, p: process.env.BERTH_PASSWORD };
  process.env.BERTH_USERNAME = ADMIN.user;
  process.env.BERTH_PASSWORD = ADMIN.password;
  try {
    return await runBerthWith(
      { server: s.url, ...(stdin === undefined ? {} : { stdin }) },
      'remote',
      ...args,
    );
  } finally {
    if (saved.u === undefined) delete process.env.BERTH_USERNAME;
    else process.env.BERTH_USERNAME = saved.u;
    if (saved.p === undefined) delete process.env.BERTH_PASSWORD;
    else process.env.BERTH_PASSWORD = saved.p;
  }
}

describe('berth remote', () => {
  it('add with the password from stdin; the key file is made with mode 0600 where --secret-key-file says', async () => {
    const r = await remote(
      [
        'add',
        'hub',
        'https://registry-1.docker.io',
        '--username',
        'me',
        '--password-stdin',
        '--include',
        '3.*',
        '--include',
        'latest',
        '--exclude',
        '*-rc',
        '--platform',
        'linux/amd64',
        '--platform',
        'linux/arm64',
        '--policy',
        'on_demand',
        '--referrers',
        'application/vnd.dev.cosign.artifact.sig.v1+json,application/spdx+json',
        '--concurrency',
        '8',
        '--rate',
        '20',
      ],
      `${PASSWORD}\n`,
    );
    expect(r.code, r.err).toBe(0);
    expect(r.out).toBe(
      'added remote hub (https://registry-1.docker.io): on_demand, 3.*, latest, linux/amd64, linux/arm64\n',
    );
    expect(statSync(join(keys, 'berth.key')).mode & 0o777).toBe(0o600);
  });

  it('list and show print the settings and never the password', async () => {
    const list = await runBerth(s.url, 'remote', 'list');
    expect(list.code, list.err).toBe(0);
    expect(list.out).toMatch(
      /^NAME +URL +USER +POLICY +INCLUDE +PLATFORMS +RATE LIMIT LEFT\nhub +https:\/\/registry-1\.docker\.io +me +on_demand +3\.\*, latest +linux\/amd64, linux\/arm64 +-\n$/,
    );
    const show = await runBerth(s.url, 'remote', 'show', 'hub');
    expect(show.code, show.err).toBe(0);
    expect(show.out).toContain('credentials:     me, password set\n');
    expect(show.out).toContain('tls:             verified\n');
    expect(show.out).toContain('exclude:         *-rc\n');
    expect(show.out).toContain(
      'referrers:       application/vnd.dev.cosign.artifact.sig.v1+json, application/spdx+json\n',
    );
    expect(show.out).toContain('rate:            20 requests/s\n');
    const json = JSON.parse((await runBerth(s.url, 'remote', 'show', 'hub', '--json')).out);
    expect(json).toMatchObject({ name: 'hub', hasPassword: true, concurrency: 8, requestsPerSecond: 20 });
    for (const out of [list.out, show.out, JSON.stringify(json)]) expect(out).not.toContain(PASSWORD);
  });

  it('edit changes what is given; --no-… options clear a setting', async () => {
    const r = await remote([
      'edit',
      'hub',
      '--include',
      'v1',
      '--no-rate',
      '--no-platform',
      '--clear-credentials',
    ]);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toContain('changed remote hub:\n');
    expect(r.out).toContain('include:         v1\n');
    expect(r.out).toContain('platforms:       every platform\n');
    expect(r.out).toContain('rate:            unlimited\n');
    expect(r.out).toContain('credentials:     none (anonymous)\n');
    expect(r.out).toContain('concurrency:     8\n');
  });

  it('usage errors exit 2 and send nothing; what the server refuses exits 1 with its message', async () => {
    const zero = await remote(['add', 'x', 'http://127.0.0.1:1', '--concurrency', '0']);
    expect(zero.code).toBe(2);
    expect(zero.err).toContain('"0" is not a number of requests from 1 to 64');
    const nothing = await remote(['edit', 'hub']);
    expect(nothing.code).toBe(2);
    expect(nothing.err).toContain('say what to change');
    const both = await remote(['edit', 'hub', '--clear-credentials', '--username', 'x']);
    expect(both.code).toBe(2);
    const noCa = await remote(['add', 'x', 'https://r.example', '--ca-file', join(keys, 'none.pem')]);
    expect(noCa.code).toBe(2);
    expect(noCa.err).toContain(`cannot read --ca-file ${join(keys, 'none.pem')}`);
    const badName = await remote(['add', 'Bad!', 'http://127.0.0.1:1']);
    expect(badName.code).toBe(1);
    expect(badName.err).toContain('"Bad!" is not a remote name');
    const ftp = await remote(['add', 'x', 'ftp://example.com']);
    expect(ftp.code).toBe(1);
    expect(ftp.err).toContain('is not a registry URL');
    const taken = await remote(['add', 'hub', 'http://127.0.0.1:1']);
    expect(taken.code).toBe(1);
    expect(taken.err).toContain('a remote named hub exists already');
    const unknown = await runBerth(s.url, 'remote', 'show', 'nope');
    expect(unknown.code).toBe(1);
    expect(unknown.err).toContain('there is no remote nope');
    const list = await http('GET', `${s.url}/api/v1/remotes`);
    expect(list.json().remotes.map((r: { name: string }) => r.name)).toEqual(['hub']);
  });

  it('rm removes it; the server logged no password all along', async () => {
    const r = await runBerth(s.url, 'remote', 'rm', 'hub');
    expect(r.code, r.err).toBe(0);
    expect(r.out).toBe('removed remote hub\n');
    expect((await runBerth(s.url, 'remote', 'rm', 'hub')).code).toBe(1);
    expect(s.output()).toContain('"url":"/api/v1/remotes"'); // the log at trace level has the requests
    expect(s.output()).not.toContain(PASSWORD);
  });
});
