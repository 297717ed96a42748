// The management API's history endpoints: PATCH a repository's retention, DELETE a version, restore a version.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, http, type TestServer } from '../helpers/in-process.js';
import { dirImage, tarOf } from '../helpers/images.js';
import { snapshot } from '../helpers/state.js';

let s: TestServer;
const a = dirImage({ n: 2 });
const b = dirImage({ layers: [a.layers[0]!, Buffer.from('a layer of b')] });
const c = dirImage({ layers: [Buffer.from('a layer of c')] });
const repo = (path = '') => `${s.url}/api/v1/repositories/team/app${path}`;
const get = async (path = '') => (await http('GET', repo(path))).json();
const json = { 'content-type': 'application/json' };
const patch = (body: string, url = repo()) => http('PATCH', url, body, json);
const numbers = async () => (await get('/-/versions')).versions.map((v: { number: number }) => v.number);

async function upload(img: typeof a, tag: string): Promise<number> {
  const r = await http('POST', repo(`/-/archives?tag=${tag}`), await tarOf(img.entries));
  expect(r.status, r.body.toString()).toBe(201);
  return r.json().version;
}

/** The request fails with `status` and `code`, and changes no row and no file. */
async function refused(
  request: () => Promise<{ status: number; json(): { errors: { code: string; message: string }[] } }>,
  status: number,
  code: string,
): Promise<string> {
  const before = await snapshot(s.berth, s.data);
  const versionsBefore = await get('/-/versions');
  const repoBefore = await get();
  const r = await request();
  expect(r.status).toBe(status);
  const error = r.json().errors[0]!;
  expect(error.code).toBe(code);
  expect(await snapshot(s.berth, s.data)).toEqual(before);
  expect(await get('/-/versions')).toEqual(versionsBefore);
  expect(await get()).toEqual(repoBefore);
  return error.message;
}

beforeAll(async () => {
  s = await startTestServer('version-history');
  await upload(a, 'latest'); // 1
  await upload(b, 'latest'); // 2
  await upload(c, 'latest'); // 3
});
afterAll(async () => s?.close());

describe('bad input changes nothing', () => {
  it('DELETE of the latest version: 400 PARAMETER_INVALID saying why', async () => {
    const message = await refused(() => http('DELETE', repo('/-/versions/3')), 400, 'PARAMETER_INVALID');
    expect(message).toMatch(/version 3 is the latest version of team\/app/);
  });
  it('DELETE or restore of an unknown version: 404 VERSION_UNKNOWN', async () => {
    await refused(() => http('DELETE', repo('/-/versions/9')), 404, 'VERSION_UNKNOWN');
    await refused(() => http('POST', repo('/-/versions/9/restore')), 404, 'VERSION_UNKNOWN');
  });
  it('a version number that is not one: 400 PARAMETER_INVALID', async () => {
    await refused(() => http('DELETE', repo('/-/versions/x')), 400, 'PARAMETER_INVALID');
    await refused(() => http('POST', repo('/-/versions/-1/restore')), 400, 'PARAMETER_INVALID');
  });
  it('an unknown repository: 404 NAME_UNKNOWN for every endpoint', async () => {
    const other = `${s.url}/api/v1/repositories/no/such`;
    await refused(() => http('DELETE', `${other}/-/versions/0`), 404, 'NAME_UNKNOWN');
    await refused(() => http('POST', `${other}/-/versions/0/restore`), 404, 'NAME_UNKNOWN');
    await refused(() => patch('{"retainVersions": 2}', other), 404, 'NAME_UNKNOWN');
  });
  it.each([
    ['0', '{"retainVersions": 0}'],
    ['-1', '{"retainVersions": -1}'],
    ['"x"', '{"retainVersions": "x"}'],
    ['1.5', '{"retainVersions": 1.5}'],
    ['missing', '{}'],
    ['an unknown field', '{"retainVersions": 2, "keep": 1}'],
    ['bad JSON', '{"retainVersions": '],
    ['no body', ''],
  ])('PATCH with retainVersions %s: 400 PARAMETER_INVALID naming the field', async (_, body) => {
    const message = await refused(() => patch(body), 400, 'PARAMETER_INVALID');
    expect(message).toContain('retainVersions');
  });
});

describe('history endpoints', () => {
  it('GET of a repository shows its retention: a new one keeps the latest 10 versions and those of 30 days', async () => {
    expect(await get()).toMatchObject({
      name: 'team/app',
      latestVersion: 3,
      retainVersions: 10,
      retainDays: 30,
    });
  });

  it('DELETE of a version: 204; its changes fold into the next one', async () => {
    const v3 = await get('/-/versions/3');
    const diff13 = await get('/-/versions/3/diff?from=1');
    const r = await http('DELETE', repo('/-/versions/2'));
    expect(r.status).toBe(204);
    expect(r.body.length).toBe(0);
    expect(await numbers()).toEqual([0, 1, 3]);
    expect((await get('/-/versions/3')).content).toEqual(v3.content);
    expect((await http('GET', repo('/-/versions/2'))).status).toBe(404);
    // the default `from` of a diff is the version before, which is now 1
    const d = await get('/-/versions/3/diff');
    expect(d).toEqual({ ...diff13, from: 1, to: 3 });
    const added = d.added.manifests.length + d.added.blobs.length + d.added.tags.length;
    const removed = d.removed.manifests.length + d.removed.blobs.length + d.removed.tags.length;
    expect((await get('/-/versions')).versions[2]).toMatchObject({ number: 3, added, removed });
  });

  it("restore: 201 with a new version whose content is the old version's; the tag pulls the old image", async () => {
    const r = await http('POST', repo('/-/versions/1/restore'));
    expect(r.status, r.body.toString()).toBe(201);
    expect(r.json()).toMatchObject({ number: 4, added: expect.any(Number), removed: expect.any(Number) });
    expect((await get('/-/versions/4')).content).toEqual((await get('/-/versions/1')).content);
    const pulled = await http('GET', `${s.url}/v2/team/app/manifests/latest`, undefined, {
      accept: 'application/vnd.oci.image.manifest.v1+json',
    });
    expect(pulled.status).toBe(200);
    expect(pulled.headers['docker-content-digest']).toBe(a.digest);
  });

  it('PATCH retainVersions: answers the repository, keeps the latest N now and after every new version', async () => {
    const v4 = await get('/-/versions/4');
    const r = await patch('{"retainVersions": 2}');
    expect(r.status, r.body.toString()).toBe(200);
    // the rule is set as a whole: retainDays left out is no age rule
    expect(r.json()).toMatchObject({
      name: 'team/app',
      latestVersion: 4,
      retainVersions: 2,
      retainDays: null,
    });
    expect(r.json().removedVersions).toEqual([0, 1]);
    expect(await numbers()).toEqual([3, 4]);
    expect((await get('/-/versions/4')).content).toEqual(v4.content);
    expect(await upload(b, 'latest')).toBe(5);
    expect(await numbers()).toEqual([4, 5]);
    expect(await get()).toMatchObject({ retainVersions: 2 });
    const off = await patch('{"retainVersions": null}');
    expect(off.json()).toMatchObject({ retainVersions: null });
    await upload(c, 'latest');
    expect(await numbers()).toEqual([4, 5, 6]);
  });
});
