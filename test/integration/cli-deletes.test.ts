// `berth tag delete`, `berth image delete` and `berth repo delete` against a server: the version each makes, what it
// removes, a deleted repository hidden from the catalog and the listing with its history kept, access and bad input.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBerth } from '../helpers/cli.js';
import { fixture, http, startTestServer, type TestServer } from '../helpers/in-process.js';

let s: TestServer;
beforeAll(async () => {
  s = await startTestServer('cli-deletes');
});
afterAll(async () => s?.close());

const berth = (...args: string[]) => runBerth(s.url, ...args);
const as = (user: string, ...args: string[]) =>
  runBerth(s.url, ...args, '--username', user, '--password', `${user}-password-1`);

const latest = async (name: string): Promise<number> =>
  (await http('GET', `${s.url}/api/v1/repositories/${name}`)).json().latestVersion;
const tags = async (name: string): Promise<string[]> =>
  (await http('GET', `${s.url}/v2/${name}/tags/list`)).json().tags;
const upload = async (file: string, target: string) => {
  const r = await berth('upload', '--json', fixture(file), target);
  expect(r.code, r.err).toBe(0);
  return JSON.parse(r.out).manifests[0].digest as string;
};
const catalog = async (): Promise<string[]> =>
  (await http('GET', `${s.url}/v2/_catalog`)).json().repositories;
const listing = async (query = ''): Promise<{ name: string; deletedInVersion: number | null }[]> =>
  (await http('GET', `${s.url}/api/v1/repositories${query}`)).json().repositories;

let base = '';
let app = '';
beforeAll(async () => {
  base = await upload('base.dir.tar', 'team/app:1.0');
  await upload('base.dir.tar', 'team/app:stable');
  app = await upload('app.docker.tar', 'team/app:2.0');
  await upload('base.dir.tar', 'team/other:1.0');
  const user = (name: string) =>
    http('POST', `${s.url}/api/v1/users`, JSON.stringify({ name, password: `${name}-password-1` }), {
      'content-type': 'application/json',
    });
  expect((await user('reader')).status).toBe(201);
  expect((await user('pusher')).status).toBe(201);
  expect((await berth('permission', 'grant', 'reader', 'team/*', 'pull')).code).toBe(0);
  expect((await berth('permission', 'grant', 'pusher', 'team/*', 'pull,push')).code).toBe(0);
});

describe('berth tag delete', () => {
  it('removes the tag in a new version it prints; the image stays under its other tag', async () => {
    const before = await latest('team/app');
    const r = await berth('tag', 'delete', 'team/app', 'stable');
    expect(r.code, r.err).toBe(0);
    expect(r.out).toBe(`team/app: deleted tag stable in version ${before + 1}\n`);
    expect(await latest('team/app')).toBe(before + 1);
    expect(await tags('team/app')).toEqual(['1.0', '2.0']);
    expect((await http('GET', `${s.url}/v2/team/app/manifests/${base}`)).status).toBe(200);
  });

  it('refuses a tag the repository lacks, a bad tag (exit 2), a reader and a pusher without delete: no version', async () => {
    const before = await latest('team/app');
    const r = await berth('tag', 'delete', 'team/app', 'nope');
    expect(r.code).toBe(1);
    expect(r.err).toContain('MANIFEST_UNKNOWN: repository team/app has no tag nope');
    expect((await berth('tag', 'delete', 'team/app', '.bad')).code).toBe(2);
    const bad = await http('DELETE', `${s.url}/api/v1/repositories/team/app/-/tags/.bad`);
    expect(bad.status).toBe(400);
    expect(bad.json().errors[0].code).toBe('TAG_INVALID');
    const reader = await as('reader', 'tag', 'delete', 'team/app', '1.0');
    expect(reader.code).toBe(1);
    expect(reader.err).toContain('DENIED: reader may not delete repository team/app');
    const pusher = await as('pusher', 'tag', 'delete', 'team/app', '1.0');
    expect(pusher.err).toContain('DENIED: pusher may not delete repository team/app');
    expect((await berth('tag', 'delete', 'no/such', '1.0')).err).toContain('NAME_UNKNOWN');
    expect(await latest('team/app')).toBe(before);
    expect(await tags('team/app')).toEqual(['1.0', '2.0']);
  });
});

describe('berth image delete', () => {
  it('by tag: removes the manifest the tag names and every tag on it, in one version', async () => {
    // (app.docker.tar's RepoTags took 1.0 over: base holds "again" and "more")
    await upload('base.dir.tar', 'team/app:again');
    await upload('base.dir.tar', 'team/app:more');
    const before = await latest('team/app');
    const r = await berth('image', 'delete', 'team/app', 'again');
    expect(r.code, r.err).toBe(0);
    expect(r.out).toBe(`team/app: deleted image ${base} and its tags again, more in version ${before + 1}\n`);
    expect(await tags('team/app')).toEqual(['1.0', '2.0']);
    expect((await http('GET', `${s.url}/v2/team/app/manifests/${base}`)).status).toBe(404);
    // the other repository's copy is untouched
    expect((await http('GET', `${s.url}/v2/team/other/manifests/1.0`)).status).toBe(200);
  });

  it('by digest, with --json; an unknown digest or a bad reference changes nothing', async () => {
    const before = await latest('team/app');
    const unknown = await berth('image', 'delete', 'team/app', base);
    expect(unknown.code).toBe(1);
    expect(unknown.err).toContain(`has no manifest ${base}`);
    expect((await berth('image', 'delete', 'team/app', 'sha256:nothex')).code).toBe(2);
    expect(await latest('team/app')).toBe(before);
    const r = await berth('image', 'delete', '--json', 'team/app', app);
    expect(r.code, r.err).toBe(0);
    expect(JSON.parse(r.out)).toMatchObject({
      repository: 'team/app',
      digest: app,
      tags: ['1.0', '2.0'],
      version: { number: before + 1 },
    });
    expect(await tags('team/app')).toEqual([]);
  });
});

describe('berth repo delete', () => {
  it('empties the repository in a version it prints, hides it from the catalog and the listing, keeps its history', async () => {
    await upload('base.dir.tar', 'team/app:3.0');
    const before = await latest('team/app');
    const r = await berth('repo', 'delete', 'team/app');
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(
      new RegExp(`^team/app: deleted in version ${before + 1} \\(\\d+ removed\\); hidden`),
    );
    expect(await catalog()).toEqual(['team/other']);
    expect((await listing()).map((x) => x.name)).toEqual(['team/other']);
    expect(await listing('?includeDeleted=true')).toMatchObject([
      { name: 'team/app', deletedInVersion: before + 1 },
      { name: 'team/other', deletedInVersion: null },
    ]);
    expect((await http('GET', `${s.url}/api/v1/repositories?includeDeleted=maybe`)).status).toBe(400);
    // its pages link on with the deleted ones
    const page = await http('GET', `${s.url}/api/v1/repositories?includeDeleted=true&n=1`);
    expect(page.headers.link).toBe(
      '</api/v1/repositories?n=1&last=team%2Fapp&includeDeleted=true>; rel="next"',
    );
    // the history is there: the latest version is empty, the one before still holds 3.0
    const versions = (await http('GET', `${s.url}/api/v1/repositories/team/app/-/versions`)).json().versions;
    expect(versions.at(-1).number).toBe(before + 1);
    const v = (await http('GET', `${s.url}/api/v1/repositories/team/app/-/versions/${before + 1}`)).json();
    expect(v.content).toEqual({ manifests: [], blobs: [], tags: [] });
    const prev = (await http('GET', `${s.url}/api/v1/repositories/team/app/-/versions/${before}`)).json();
    expect(prev.content.tags.map((t: { name: string }) => t.name)).toEqual(['3.0']);
    const audit = (await http('GET', `${s.url}/api/v1/audit`)).json().entries;
    expect(audit.some((e: { action: string }) => e.action === 'repository.delete')).toBe(true);
  });

  it('refuses a repository deleted already, an unknown one and a reader: no version', async () => {
    const before = await latest('team/app');
    const again = await berth('repo', 'delete', 'team/app');
    expect(again.code).toBe(1);
    expect(again.err).toContain(`repository team/app was deleted in version ${before}`);
    expect((await berth('repo', 'delete', 'no/such')).err).toContain('NAME_UNKNOWN');
    const reader = await as('reader', 'repo', 'delete', 'team/other');
    expect(reader.err).toContain('DENIED: reader may not delete repository team/other');
    expect(await latest('team/app')).toBe(before);
    expect(await catalog()).toEqual(['team/other']);
  });

  it('a new push brings it back', async () => {
    await upload('base.dir.tar', 'team/app:4.0');
    expect(await catalog()).toEqual(['team/app', 'team/other']);
    expect(await listing()).toMatchObject([
      { name: 'team/app', deletedInVersion: null },
      { name: 'team/other' },
    ]);
    expect(await tags('team/app')).toEqual(['4.0']);
  });
});
