// `berth quota set|remove|list`, `berth du [REPO]` and the usage lines of `berth repo show`, against a server.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBerth } from '../helpers/cli.js';
import { startTestServer, type TestServer } from '../helpers/in-process.js';
import { ociImage, Registry } from '../registry/oci.js';

let s: TestServer;
let reg: Registry;
beforeAll(async () => {
  s = await startTestServer('cli-quotas');
  reg = new Registry(s.url);
});
afterAll(async () => s?.close());

const berth = (...args: string[]) => runBerth(s.url, ...args);

describe('berth quota', () => {
  it('set takes sizes like 500MiB and 2GiB, list shows limit and usage, remove takes it away', async () => {
    const set = await berth('quota', 'set', 'cq/*', '500MiB');
    expect(set.code, set.err).toBe(0);
    expect(set.out).toBe('cq/* may hold 500 MiB (524288000 bytes); the repositories matching it hold 0 B\n');
    expect((await berth('quota', 'set', 'cq/app', '2GiB')).code).toBe(0);
    await reg.pushBlob('cq/app', randomBytes(2048));
    const list = await berth('quota', 'list');
    expect(list.out.split('\n')).toEqual([
      'PATTERN  LIMIT     USED      USED %',
      'cq/*     500 MiB   2.00 KiB  0%',
      'cq/app   2.00 GiB  2.00 KiB  0%',
      '',
    ]);
    const json = JSON.parse((await berth('quota', 'list', '--json')).out);
    expect(json.quotas.map((q: { limit: number }) => q.limit)).toEqual([500 * 1024 ** 2, 2 * 1024 ** 3]);
    const rm = await berth('quota', 'remove', 'cq/app');
    expect(rm.code, rm.err).toBe(0);
    expect(rm.out).toBe('removed the quota on cq/app\n');
    const again = await berth('quota', 'remove', 'cq/app');
    expect(again.code).toBe(1);
    expect(again.err).toMatch(/no quota on "cq\/app"/);
  });

  it('a size that is not one is a usage error (exit 2) and reaches no server', async () => {
    const r = await berth('quota', 'set', 'cq/*', 'lots');
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/"lots" is not a size/);
    expect((await s.berth.quotas.list()).find((q) => q.pattern === 'cq/*')!.limit).toBe(500 * 1024 ** 2);
  });

  it('a bad pattern is refused by the server (exit 1), naming the pattern', async () => {
    const r = await berth('quota', 'set', 'CQ/*', '1GiB');
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/"CQ\/\*" is not a repository pattern/);
  });
});

describe('berth repo show and berth du', () => {
  it('repo show prints the usage and each quota on the repository', async () => {
    await reg.pushImage('cq/shown', ociImage({ n: 1 }), 'v1');
    const r = await berth('repo', 'show', 'cq/shown');
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/\nusage +1\.\d\d KiB \(latest version and pending pushes\)\n/);
    expect(r.out).toMatch(/\nquota cq\/\* +\d\.\d\d KiB of 500 MiB \(0%\)\ntags/);
  });

  it('du prints every repository and the store; du REPO one; --json the API answer', async () => {
    const all = await berth('du');
    expect(all.code, all.err).toBe(0);
    expect(all.out).toMatch(/^REPOSITORY +LATEST +PENDING +RETAINED +UNIQUE\n/);
    expect(all.out).toMatch(/\ncq\/app +0 B +2\.00 KiB +0 B +2\.00 KiB\n/);
    expect(all.out).toMatch(/\nupload sessions +0 B +0 sessions\n/);
    const json = JSON.parse((await berth('du', '--json')).out);
    expect(json.store.referenced.count).toBeGreaterThan(0);
    const one = await berth('du', 'cq/app');
    expect(one.out).toMatch(
      /^REPOSITORY +LATEST +PENDING +RETAINED +UNIQUE\ncq\/app +0 B +2\.00 KiB +0 B +2\.00 KiB\n/,
    );
    expect(one.out).toContain('quota cq/*: ');
    const oneJson = JSON.parse((await berth('du', 'cq/app', '--json')).out);
    expect(oneJson).toMatchObject({ name: 'cq/app', latest: 0, pending: 2048, retained: 0, unique: 2048 });
    const bad = await berth('du', 'Not/A/Name');
    expect(bad.code).toBe(2);
    const none = await berth('du', 'cq/none');
    expect(none.code).toBe(1);
    expect(none.err).toMatch(/repository cq\/none does not exist/);
  });
});
