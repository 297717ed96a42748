// `berth cache add|list|show|edit|rm` against an in-process server: what each prints, --json, usage errors (exit 2) and refusals (exit 1).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBerth } from '../helpers/cli.js';
import { startTestServer, type TestServer } from '../helpers/in-process.js';

let s: TestServer;
beforeAll(async () => {
  s = await startTestServer('cli-caches');
  await s.berth.remotes.add({ name: 'hub', url: 'https://registry-1.docker.io' });
});
afterAll(async () => s?.close());

const berth = (...args: string[]) => runBerth(s.url, ...args);

describe('berth cache', () => {
  it('add, list, show, edit, rm', async () => {
    expect((await berth('cache', 'list')).out).toMatch(/^no pull-through caches/);
    const add = await berth(
      'cache',
      'add',
      'hub',
      '--remote',
      'hub',
      '--prefix',
      'cache/hub',
      '--retain-days',
      '30',
    );
    expect(add.code, add.err).toBe(0);
    expect(add.out).toBe(
      'cache hub: pulls of cache/hub/NAME resolve NAME at remote hub; tags checked upstream at most every 300 s, ' +
        'served up to 86400 s after their last check when upstream fails; content not pulled for 30 days removed by cleanup\n',
    );
    const list = await berth('cache', 'list');
    expect(list.out).toMatch(
      /^NAME +PREFIX +REMOTE +CHECK +STALE +RETAIN +REPOSITORIES +ADDED\nhub +cache\/hub +hub +300 s +86400 s +30 d +0 +\S/,
    );
    const json = JSON.parse((await berth('cache', 'show', 'hub', '--json')).out);
    expect(json).toMatchObject({ name: 'hub', prefix: 'cache/hub', retainDays: 30 });
    await s.berth.remotes.add({ name: 'quay', url: 'https://quay.io' });
    const edit = await berth('cache', 'edit', 'hub', '--remote', 'quay', '--check-seconds', '60');
    expect(edit.code, edit.err).toBe(0);
    expect(edit.out).toBe(
      'changed cache hub: pulls of cache/hub/NAME resolve NAME at remote quay; tags checked upstream at most every 60 s, ' +
        'served up to 86400 s after their last check when upstream fails; content not pulled for 30 days removed by cleanup\n',
    );
    const kept = JSON.parse((await berth('cache', 'edit', 'hub', '--no-retain-days', '--json')).out);
    expect(kept).toMatchObject({ remote: 'quay', checkSeconds: 60, retainDays: null });
    expect(await s.berth.caches.show('hub')).toMatchObject({
      remote: 'quay',
      checkSeconds: 60,
      retainDays: null,
    });
    const rm = await berth('cache', 'rm', 'hub');
    expect([rm.code, rm.out]).toEqual([
      0,
      'removed cache hub: the repositories it made stay, as ordinary repositories\n',
    ]);
  });

  it('usage errors exit 2; refusals exit 1 with the server’s message', async () => {
    const noRemote = await berth('cache', 'add', 'x', '--prefix', 'x');
    expect(noRemote.code).toBe(2);
    expect(noRemote.err).toMatch(/--remote/);
    const badPrefix = await berth('cache', 'add', 'x', '--remote', 'hub', '--prefix', 'Bad');
    expect(badPrefix.code).toBe(2);
    expect(badPrefix.err).toMatch(/lowercase/);
    const badSeconds = await berth(
      'cache',
      'add',
      'x',
      '--remote',
      'hub',
      '--prefix',
      'x',
      '--check-seconds',
      'soon',
    );
    expect(badSeconds.code).toBe(2);
    expect(badSeconds.err).toMatch(/"soon" is not a whole number of seconds/);
    const unknownRemote = await berth('cache', 'add', 'x', '--remote', 'nope', '--prefix', 'x');
    expect(unknownRemote.code).toBe(1);
    expect(unknownRemote.err).toMatch(/remote nope does not exist/);
    const nothing = await berth('cache', 'edit', 'x');
    expect([nothing.code, nothing.err]).toEqual([2, expect.stringMatching(/say what to change/)]);
    const badDays = await berth('cache', 'edit', 'x', '--retain-days', 'ever');
    expect([badDays.code, badDays.err]).toEqual([
      2,
      expect.stringMatching(/"ever" is not a whole number of days/),
    ]);
    const editUnknown = await berth('cache', 'edit', 'nope', '--check-seconds', '5');
    expect([editUnknown.code, editUnknown.err]).toEqual([
      1,
      expect.stringMatching(/cache nope does not exist/),
    ]);
    const unknown = await berth('cache', 'rm', 'nope');
    expect(unknown.code).toBe(1);
    expect(unknown.err).toMatch(/cache nope does not exist/);
  });
});
