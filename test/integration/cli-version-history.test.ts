// `berth version delete|restore` and `berth repo retain` against an in-process server: texts, --json, errors.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBerth } from '../helpers/cli.js';
import { fixture, startTestServer, type TestServer } from '../helpers/in-process.js';

let s: TestServer;
beforeAll(async () => {
  s = await startTestServer('cli-history');
});
afterAll(async () => s?.close());

const berth = (...args: string[]) => runBerth(s.url, ...args);

const versions = async () =>
  JSON.parse((await berth('repo', 'versions', '--json', 'library/app')).out).versions.map(
    (v: { number: number }) => v.number,
  );

describe('berth version and berth repo retain', () => {
  it('uploads three versions to work on', async () => {
    for (const [f, tag] of [
      ['base.dir.tar', 'base'],
      ['app.docker.tar', '1.0'],
      ['base.dir.tar', '2.0'],
    ]) {
      const r = await berth('upload', fixture(f!), `library/app:${tag}`);
      expect(r.code, r.err).toBe(0);
    }
    expect(await versions()).toEqual([0, 1, 2, 3]);
  });

  it('version delete: deletes a version and says so; the latest is refused with the reason, exit 1', async () => {
    const r = await berth('version', 'delete', 'library/app', '2');
    expect(r.code, r.err).toBe(0);
    expect(r.out).toBe('library/app: deleted version 2\n');
    expect(await versions()).toEqual([0, 1, 3]);
    const latest = await berth('version', 'delete', 'library/app', '3');
    expect(latest.code).toBe(1);
    expect(latest.err).toMatch(/version 3 is the latest version of library\/app/);
    const unknown = await berth('version', 'delete', '--json', 'library/app', '2');
    expect(unknown.code).toBe(1);
    expect(unknown.err).toMatch(/no version 2/);
    expect(await versions()).toEqual([0, 1, 3]);
  });

  it('version restore: prints the new version; --json prints the answer', async () => {
    const r = await berth('version', 'restore', 'library/app', '1');
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/^library\/app version 4 restores version 1: \d+ added, \d+ removed\n$/);
    const j = await berth('version', 'restore', '--json', 'library/app', '3');
    expect(j.code, j.err).toBe(0);
    expect(JSON.parse(j.out)).toMatchObject({ number: 5 });
    const v3 = JSON.parse((await berth('repo', 'diff', '--json', 'library/app', '3', '5')).out);
    expect(v3.added).toEqual({ manifests: [], blobs: [], tags: [] });
    expect(v3.removed).toEqual({ manifests: [], blobs: [], tags: [] });
  });

  it('repo retain --dry-run shows which versions would go and changes nothing', async () => {
    const r = await berth('repo', 'retain', 'library/app', '--versions', '2', '--dry-run');
    expect(r.code, r.err).toBe(0);
    expect(r.out).toBe(
      'library/app would keep the latest 2 versions (dry run: nothing changed)\nwould remove 3 versions: 0, 1, 3\n',
    );
    expect(await versions()).toEqual([0, 1, 3, 4, 5]);
  });

  it('repo retain N keeps the latest N and prints the versions it removed; none keeps all; bad values are usage errors (exit 2)', async () => {
    const r = await berth('repo', 'retain', 'library/app', '2');
    expect(r.code, r.err).toBe(0);
    expect(r.out).toBe('library/app keeps the latest 2 versions\nremoved 3 versions: 0, 1, 3\n');
    expect(await versions()).toEqual([4, 5]);
    const j = await berth('repo', 'retain', '--json', 'library/app', 'none');
    expect(j.code, j.err).toBe(0);
    expect(JSON.parse(j.out)).toMatchObject({ name: 'library/app', retainVersions: null });
    for (const bad of ['0', '-1', 'x']) {
      const b = await berth('repo', 'retain', 'library/app', bad);
      expect(b.code, bad).toBe(2);
      expect(b.err).toMatch(/is not a number of versions/);
    }
    const days = await berth('repo', 'retain', 'library/app', '--versions', '5', '--days', '7');
    expect(days.code, days.err).toBe(0);
    expect(days.out).toBe(
      'library/app keeps the latest 5 versions and versions younger than 7 days\nremoved no version\n',
    );
    for (const [args, said] of [
      [['library/app', '2', '--days', '3'], /either N, or --versions/],
      [['library/app'], /say what to keep/],
      [['library/app', '--days', '0'], /is not a number of days/],
      [['library/app', '--versions', 'x'], /is not a number of versions/],
    ] as const) {
      const b = await berth('repo', 'retain', ...args);
      expect(b.code, args.join(' ')).toBe(2);
      expect(b.err).toMatch(said);
    }
    const missing = await berth('version', 'restore', 'no/such', '1');
    expect(missing.code).toBe(1);
    expect(missing.err).toMatch(/no\/such/);
  });
});
