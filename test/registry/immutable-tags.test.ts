// Tag immutability: rules set by administrators (audited); every write path that would move or delete a protected
// tag is refused with DENIED naming the rule, and the refusal changes nothing (every table and the store).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, http, basic, type TestServer, type HttpResult } from '../helpers/in-process.js';
import { dirImage, tarOf } from '../helpers/images.js';
import { snapshot } from '../helpers/state.js';
import { ociImage, Registry, type Image } from './oci.js';
import { commitVersion } from '../../src/repo/versions.js';
import { BerthError } from '../../src/core/errors.js';

let s: TestServer;
let reg: Registry;
const json = { 'content-type': 'application/json' };
const rules = () => `${s.url}/api/v1/immutable-tags`;
const addRule = (repository: string, tag: string, headers: Record<string, string> = json) =>
  http('POST', rules(), JSON.stringify({ repository, tag }), headers);
const removeRule = (repository: string, tag: string) =>
  http('DELETE', `${rules()}?repository=${encodeURIComponent(repository)}&tag=${encodeURIComponent(tag)}`);

const REPO = 'team/app';
let one: Image;
let two: Image;
/** pushed as blobs only: its manifest is stored by no one yet, so a refused PUT of it must store nothing */
let three: Image;

/** The request is refused 403 DENIED naming the rule and the tag, and every table and file is as before. */
async function denied(request: () => Promise<HttpResult>, tag: string): Promise<string> {
  const before = await snapshot(s.berth, s.data);
  const r = await request();
  expect(r.status, r.body.toString()).toBe(403);
  const e = r.json().errors[0];
  expect(e.code).toBe('DENIED');
  expect(e.message).toContain(`tag ${tag} of ${REPO} is immutable (rule: repositories team/*, tags v*)`);
  expect(e.message).toContain("berth immutable remove 'team/*' 'v*'");
  expect(await snapshot(s.berth, s.data)).toEqual(before);
  return e.message;
}

beforeAll(async () => {
  s = await startTestServer('immutable-tags');
  reg = new Registry(s.url);
  one = ociImage();
  two = ociImage();
  await reg.pushImage(REPO, one, 'v1'); // version 1: v1 → one
  await reg.pushImage(REPO, two, 'latest'); // version 2
  three = await pushed(REPO);
  const u = await http(
    'POST',
    `${s.url}/api/v1/users`,
    JSON.stringify({ name: 'dev', password: 'dev-pass-1234' }),
    json,
  );
  expect(u.status, u.body.toString()).toBe(201);
});
afterAll(async () => s?.close());

describe('immutability rules', () => {
  it('an administrator adds a rule (201, then 200 when it is there already), lists it; both audited', async () => {
    const r = await addRule('team/*', 'v*');
    expect(r.status, r.body.toString()).toBe(201);
    expect(r.json()).toMatchObject({ repository: 'team/*', tag: 'v*', createdBy: 'admin' });
    expect((await addRule('team/*', 'v*')).status).toBe(200);
    const list = (await http('GET', rules())).json();
    expect(list.rules).toEqual([expect.objectContaining({ repository: 'team/*', tag: 'v*' })]);
    const audit = (await http('GET', `${s.url}/api/v1/audit?action=immutable.add`)).json();
    expect(audit.entries[0].detail).toMatchObject({ repositoryPattern: 'team/*', tagPattern: 'v*' });
  });

  it('other users may not list, add or remove rules (403), and bad patterns are 400 naming them', async () => {
    const dev = { authorization: basic('dev', 'dev-pass-1234'), ...json };
    expect((await http('GET', rules(), undefined, dev)).status).toBe(403);
    expect((await addRule('*', '*', dev)).status).toBe(403);
    expect((await http('DELETE', `${rules()}?repository=team/*&tag=v*`, undefined, dev)).status).toBe(403);
    for (const [repository, tag, named] of [
      ['Team/App', 'v*', 'Team/App'],
      ['team/*', 'v 1', 'v 1'],
      ['team/*', '', '""'],
    ] as const) {
      const before = await snapshot(s.berth, s.data);
      const r = await addRule(repository, tag);
      expect(r.status).toBe(400);
      expect(r.json().errors[0].message).toContain(named);
      expect(await snapshot(s.berth, s.data)).toEqual(before);
    }
    const unknown = await removeRule('team/*', 'x*');
    expect(unknown.status).toBe(404);
    expect(unknown.json().errors[0].message).toContain(
      'no immutability rule for repositories team/* and tags x*',
    );
  });
});

describe('every write path that would move or delete a protected tag is refused and changes nothing', () => {
  it('registry PUT of another manifest to the tag; the same manifest again is fine', async () => {
    const message = await denied(() => reg.putManifest(REPO, 'v1', two.bytes, two.mediaType), 'v1');
    expect(message).toContain(`it points to ${one.digest} and cannot be moved to ${two.digest}`);
    // by digest with ?tag=v1 too
    await denied(
      () =>
        reg.req('PUT', `/v2/${REPO}/manifests/${two.digest}?tag=v1`, two.bytes, {
          'content-type': two.mediaType,
        }),
      'v1',
    );
    // a manifest berth never stored: refused before its file is written
    await denied(() => reg.putManifest(REPO, 'v1', three.bytes, three.mediaType), 'v1');
    const again = await reg.putManifest(REPO, 'v1', one.bytes, one.mediaType);
    expect(again.status, again.body.toString()).toBe(201);
  });

  it('registry DELETE of the tag, and of the manifest it points to', async () => {
    await denied(() => reg.req('DELETE', `/v2/${REPO}/manifests/v1`), 'v1');
    const m = await denied(() => reg.req('DELETE', `/v2/${REPO}/manifests/${one.digest}`), 'v1');
    expect(m).toContain('cannot be deleted');
  });

  it("the management API's tag and image deletes (berth tag delete, berth image delete)", async () => {
    const api = `${s.url}/api/v1/repositories/${REPO}`;
    await denied(() => http('DELETE', `${api}/-/tags/v1`), 'v1');
    await denied(() => http('DELETE', `${api}/-/manifests/${one.digest}`), 'v1');
    await denied(() => http('DELETE', `${api}/-/manifests/v1`), 'v1');
    await denied(() => http('DELETE', api), 'v1');
  });

  it('an archive upload that would retag it', async () => {
    const img = dirImage({ n: 1 });
    const tar = await tarOf(img.entries);
    await denied(() => http('POST', `${s.url}/api/v1/repositories/${REPO}/-/archives?tag=v1`, tar), 'v1');
  });

  it('a restore of a version where the tag was absent or pointed elsewhere', async () => {
    // version 0 has no v1: restoring it would delete v1
    await denied(() => http('POST', `${s.url}/api/v1/repositories/${REPO}/-/versions/0/restore`), 'v1');
  });

  it('any path that commits a version gets the check (a future sync or CLI tag delete): refused in the commit', async () => {
    const before = await snapshot(s.berth, s.data);
    const commit = commitVersion(s.berth.db.kysely, REPO, { create: false }, async () => [
      { op: 'remove', kind: 'tag', key: 'v1' },
    ]);
    await expect(commit).rejects.toThrow(BerthError);
    await expect(commit).rejects.toMatchObject({ code: 'DENIED' });
    expect(await snapshot(s.berth, s.data)).toEqual(before);
  });

  it('tags the rule does not match move and go as before; a new protected tag can be created', async () => {
    const moved = await reg.putManifest(REPO, 'latest', one.bytes, one.mediaType);
    expect(moved.status, moved.body.toString()).toBe(201);
    expect((await reg.req('DELETE', `/v2/${REPO}/manifests/latest`)).status).toBe(202);
    const created = await reg.putManifest(REPO, 'v2', two.bytes, two.mediaType);
    expect(created.status, created.body.toString()).toBe(201);
    // other repositories are not under team/*
    await reg.pushImage('other/app', ociImage(), 'v1');
    const elsewhere = await reg.putManifest(
      'other/app',
      'v1',
      (await pushed('other/app')).bytes,
      'application/vnd.oci.image.manifest.v1+json',
    );
    expect(elsewhere.status, elsewhere.body.toString()).toBe(201);
  });

  it('after the rule is removed (audited), the tag moves again', async () => {
    const r = await removeRule('team/*', 'v*');
    expect(r.status).toBe(204);
    const audit = (await http('GET', `${s.url}/api/v1/audit?action=immutable.remove`)).json();
    expect(audit.entries[0].detail).toMatchObject({ repositoryPattern: 'team/*', tagPattern: 'v*' });
    const moved = await reg.putManifest(REPO, 'v1', two.bytes, two.mediaType);
    expect(moved.status, moved.body.toString()).toBe(201);
  });
});

/** Pushes a fresh image's blobs to `repo` and answers it (its manifest not yet pushed). */
async function pushed(repo: string): Promise<Image> {
  const img = ociImage();
  for (const b of img.blobs) await reg.pushBlob(repo, b);
  return img;
}
