// Deletes over HTTP (OCI "content management"): manifests by digest, tags, blobs; each a new version; shared content stays.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type HttpResult, type TestServer } from '../helpers/in-process.js';
import { sha } from '../helpers/images.js';
import type { Digest } from '../../src/core/digest.js';
import { code, indexOf, ociImage, Registry } from './oci.js';

let s: TestServer;
let reg: Registry;

beforeAll(async () => {
  s = await startTestServer('deletes');
  reg = new Registry(s.url);
});
afterAll(async () => s?.close());

const del = (path: string) => reg.req('DELETE', `/v2/${path}`);
const get = (path: string) => reg.req('GET', `/v2/${path}`);
const head = (path: string) => reg.req('HEAD', `/v2/${path}`);
const expectError = (r: HttpResult, status: number, errorCode: string) => {
  expect(r.status, r.body.toString()).toBe(status);
  expect(code(r)).toBe(errorCode);
};

describe('DELETE /v2/<name>/manifests/<digest>', () => {
  it('answers 202; the manifest answers 404 MANIFEST_UNKNOWN, its tags are gone, one new version', async () => {
    const repo = 'del/manifest';
    const img = ociImage({ n: 1 });
    const keep = ociImage({ n: 1 });
    await reg.pushImage(repo, img, 'a');
    await reg.putManifest(repo, 'b', img.bytes, img.mediaType);
    await reg.pushImage(repo, keep, 'keep');
    const tagsBefore = await reg.tags(repo);
    expect(tagsBefore).toEqual(['a', 'b', 'keep']);
    const versions = await reg.versionCount(repo);

    const r = await del(`${repo}/manifests/${img.digest}`);
    expect(r.status, r.body.toString()).toBe(202);
    expectError(await get(`${repo}/manifests/${img.digest}`), 404, 'MANIFEST_UNKNOWN');
    expect((await head(`${repo}/manifests/${img.digest}`)).status).toBe(404);
    expectError(await get(`${repo}/manifests/a`), 404, 'MANIFEST_UNKNOWN');
    expectError(await get(`${repo}/manifests/b`), 404, 'MANIFEST_UNKNOWN');
    expect(await reg.tags(repo)).toEqual(['keep']);
    expect((await get(`${repo}/manifests/keep`)).status).toBe(200);

    const v = await reg.versions(repo);
    expect(v.length).toBe(versions + 1);
    expect(v.at(-1)).toMatchObject({ added: 0, removed: 3 }); // the manifest and its two tags
  });

  it("the manifest's blobs stay in the repository, and can then be deleted themselves (202)", async () => {
    const repo = 'del/blobs-stay';
    const img = ociImage({ n: 1 });
    await reg.pushImage(repo, img, 'v1');
    expect((await del(`${repo}/manifests/${img.digest}`)).status).toBe(202);
    for (const b of img.blobs) expect((await head(`${repo}/blobs/${sha(b)}`)).status).toBe(200);
    for (const b of img.blobs) expect((await del(`${repo}/blobs/${sha(b)}`)).status).toBe(202);
    for (const b of img.blobs) expect((await head(`${repo}/blobs/${sha(b)}`)).status).toBe(404);
  });

  it('deleting an index leaves its children', async () => {
    const repo = 'del/index';
    const child = ociImage();
    await reg.pushImage(repo, child);
    const idx = indexOf([child]);
    await reg.pushImage(repo, idx, 'multi');
    expect((await del(`${repo}/manifests/${idx.digest}`)).status).toBe(202);
    expect((await get(`${repo}/manifests/${child.digest}`)).status).toBe(200);
    expectError(await get(`${repo}/manifests/multi`), 404, 'MANIFEST_UNKNOWN');
  });

  it('deleted once, a second DELETE answers 404 MANIFEST_UNKNOWN and makes no version', async () => {
    const repo = 'del/twice';
    const img = ociImage();
    await reg.pushImage(repo, img, 'v1');
    expect((await del(`${repo}/manifests/${img.digest}`)).status).toBe(202);
    const versions = await reg.versionCount(repo);
    expectError(await del(`${repo}/manifests/${img.digest}`), 404, 'MANIFEST_UNKNOWN');
    expect(await reg.versionCount(repo)).toBe(versions);
  });

  it('a manifest pushed again after its delete is back, in a new version', async () => {
    const repo = 'del/again';
    const img = ociImage();
    await reg.pushImage(repo, img, 'v1');
    expect((await del(`${repo}/manifests/${img.digest}`)).status).toBe(202);
    const r = await reg.putManifest(repo, 'v1', img.bytes, img.mediaType);
    expect(r.status).toBe(201);
    expect((await get(`${repo}/manifests/v1`)).body.equals(img.bytes)).toBe(true);
  });
});

describe('DELETE /v2/<name>/manifests/<tag>', () => {
  it('answers 202 and removes only that tag, in one new version', async () => {
    const repo = 'del/tag';
    const img = ociImage();
    await reg.pushImage(repo, img, 'one');
    await reg.putManifest(repo, 'two', img.bytes, img.mediaType);
    const versions = await reg.versions(repo);
    const r = await del(`${repo}/manifests/one`);
    expect(r.status, r.body.toString()).toBe(202);
    expect(await reg.tags(repo)).toEqual(['two']);
    expectError(await get(`${repo}/manifests/one`), 404, 'MANIFEST_UNKNOWN');
    expect((await get(`${repo}/manifests/two`)).status).toBe(200);
    expect((await get(`${repo}/manifests/${img.digest}`)).status).toBe(200);
    const after = await reg.versions(repo);
    expect(after.length).toBe(versions.length + 1);
    expect(after.at(-1)).toMatchObject({ added: 0, removed: 1 });
    const content = await reg.versionContent(repo, after.at(-1)!.number);
    expect(content.tags).toEqual([{ name: 'two', digest: img.digest }]);
    expect(content.manifests.map((m) => m.digest)).toEqual([img.digest]);
  });

  it('an unknown tag: 404 MANIFEST_UNKNOWN, no version', async () => {
    const repo = 'del/tag';
    const versions = await reg.versionCount(repo);
    expectError(await del(`${repo}/manifests/never`), 404, 'MANIFEST_UNKNOWN');
    expect(await reg.versionCount(repo)).toBe(versions);
  });
});

describe('DELETE /v2/<name>/blobs/<digest>', () => {
  it('answers 202; then HEAD and GET answer 404; one new version without it', async () => {
    const repo = 'del/blob';
    const img = ociImage({ n: 2 });
    await reg.pushImage(repo, img, 'v1');
    const layer = sha(img.layers[0]!);
    const other = ociImage({ n: 1 });
    await reg.pushImage(repo, other, 'v2');
    // once its manifest is deleted, no manifest of the latest version needs the layer
    expect((await del(`${repo}/manifests/${img.digest}`)).status).toBe(202);
    const versions = await reg.versions(repo);
    const r = await del(`${repo}/blobs/${layer}`);
    expect(r.status, r.body.toString()).toBe(202);
    expect((await head(`${repo}/blobs/${layer}`)).status).toBe(404);
    expectError(await get(`${repo}/blobs/${layer}`), 404, 'BLOB_UNKNOWN');
    const after = await reg.versions(repo);
    expect(after.length).toBe(versions.length + 1);
    expect(after.at(-1)).toMatchObject({ added: 0, removed: 1 });
    const content = await reg.versionContent(repo, after.at(-1)!.number);
    expect(content.blobs.map((b) => b.digest)).not.toContain(layer);
    expect(content.blobs.map((b) => b.digest)).toContain(sha(img.layers[1]!));
    // the other blobs and the other manifest stay
    expect((await head(`${repo}/blobs/${sha(img.layers[1]!)}`)).status).toBe(200);
    expect((await get(`${repo}/manifests/v2`)).status).toBe(200);
  });

  it('a blob only pushed, awaiting a manifest: 202, then 404; no version is made for it', async () => {
    const repo = 'del/blob';
    const blob = randomBytes(300);
    await reg.pushBlob(repo, blob);
    expect((await head(`${repo}/blobs/${sha(blob)}`)).status).toBe(200);
    const versions = await reg.versionCount(repo);
    expect((await del(`${repo}/blobs/${sha(blob)}`)).status).toBe(202);
    expect((await head(`${repo}/blobs/${sha(blob)}`)).status).toBe(404);
    expect(await reg.versionCount(repo)).toBe(versions);
  });

  it('an unknown blob, or one deleted already: 404 BLOB_UNKNOWN', async () => {
    const repo = 'del/blob';
    expectError(await del(`${repo}/blobs/${sha('never pushed')}`), 404, 'BLOB_UNKNOWN');
    const img = ociImage();
    await reg.pushImage(repo, img, 'v3');
    expect((await del(`${repo}/manifests/${img.digest}`)).status).toBe(202);
    expect((await del(`${repo}/blobs/${sha(img.config!)}`)).status).toBe(202);
    expectError(await del(`${repo}/blobs/${sha(img.config!)}`), 404, 'BLOB_UNKNOWN');
  });

  it('concurrent deletes of one blob make exactly one version: one 202, the others 404 BLOB_UNKNOWN', async () => {
    const repo = 'del/concurrent';
    const img = ociImage({ n: 1 });
    await reg.pushImage(repo, img, 'v1');
    expect((await del(`${repo}/manifests/${img.digest}`)).status).toBe(202);
    const layer = sha(img.layers[0]!);
    const versions = await reg.versionCount(repo);
    // called side by side in one process, so that their statements interleave on either backend
    const answers = await Promise.allSettled(
      Array.from({ length: 4 }, () => s.berth.blobs.delete(repo, layer as Digest)),
    );
    expect(answers.filter((a) => a.status === 'fulfilled')).toHaveLength(1);
    for (const a of answers.filter((x) => x.status === 'rejected'))
      expect((a as PromiseRejectedResult).reason).toMatchObject({ code: 'BLOB_UNKNOWN' });
    const after = await reg.versions(repo);
    expect(after.length).toBe(versions + 1); // no empty version
    expect(after.at(-1)).toMatchObject({ added: 0, removed: 1 });
  });

  it('a malformed digest: 400 DIGEST_INVALID', async () => {
    expectError(await del('del/blob/blobs/sha256:zz'), 400, 'DIGEST_INVALID');
    expectError(await del('del/blob/manifests/sha256:zz'), 400, 'DIGEST_INVALID');
  });
});

describe('shared content', () => {
  it('deleting a manifest, a tag and a blob in one repository leaves another repository holding them intact', async () => {
    const img = ociImage({ n: 2 });
    await reg.pushImage('share/a', img, 'v1');
    await reg.pushImage('share/b', img, 'v1');
    expect((await del(`share/a/manifests/v1`)).status).toBe(202);
    expect((await del(`share/a/manifests/${img.digest}`)).status).toBe(202);
    for (const b of img.blobs) expect((await del(`share/a/blobs/${sha(b)}`)).status).toBe(202);

    const m = await get('share/b/manifests/v1');
    expect(m.status).toBe(200);
    expect(m.body.equals(img.bytes)).toBe(true);
    for (const b of img.blobs) {
      const r = await get(`share/b/blobs/${sha(b)}`);
      expect(r.status).toBe(200);
      expect(r.body.equals(b)).toBe(true);
    }
    expect(await reg.tags('share/b')).toEqual(['v1']);
    expect(await reg.tags('share/a')).toEqual([]);
  });
});

describe('unknown repository', () => {
  it('DELETE of a manifest, tag or blob in a repository that does not exist: 404', async () => {
    expectError(await del(`no/such/manifests/${sha('x')}`), 404, 'NAME_UNKNOWN');
    expectError(await del('no/such/manifests/latest'), 404, 'NAME_UNKNOWN');
    expectError(await del(`no/such/blobs/${sha('x')}`), 404, 'NAME_UNKNOWN');
  });
});
