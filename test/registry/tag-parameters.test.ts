// Manifest pushes with tag parameters (?tag=a&tag=b): every tag in the push's one version and in OCI-Tag; a bad tag changes nothing.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type HttpResult, type TestServer } from '../helpers/in-process.js';
import { snapshot } from '../helpers/state.js';
import { MAX_TAGS_PER_PUSH } from '../../src/core/references.js';
import {
  code,
  indexOf,
  OCI_INDEX,
  OCI_MANIFEST,
  ociImage,
  Registry,
  expectPushed,
  expectServed,
} from './oci.js';

let s: TestServer;
let reg: Registry;

beforeAll(async () => {
  s = await startTestServer('tag-parameters');
  reg = new Registry(s.url);
});
afterAll(async () => s?.close());

const refused = (r: HttpResult, status: number, errorCode: string) => {
  expect(r.status, r.body.toString()).toBe(status);
  expect(code(r)).toBe(errorCode);
  return r.json().errors[0] as { message: string; detail?: Record<string, unknown> };
};

describe('tag parameters: PUT /v2/<name>/manifests/<digest>?tag=a&tag=b', () => {
  const repo = 'tagparam/app';
  const ociTags = (r: HttpResult): string[] =>
    String(r.headers['oci-tag'] ?? '')
      .split(',')
      .map((t) => t.trim())
      .filter((t) => t !== '');

  beforeAll(async () => {
    await reg.pushImage(repo, ociImage(), 'seed'); // the repository exists
  });

  it('tags the manifest with every tag, answers OCI-Tag naming each, and makes exactly one version', async () => {
    const old = ociImage();
    await reg.pushImage(repo, old, 'b'); // b is moved by the push below
    const img = ociImage({ n: 1 });
    for (const b of img.blobs) await reg.pushBlob(repo, b);
    const before = await reg.versionCount(repo);
    const r = await reg.putManifest(repo, `${img.digest}?tag=a&tag=b&tag=1.2.3`, img.bytes, OCI_MANIFEST);
    expectPushed(r, repo, img);
    expect(ociTags(r)).toEqual(['a', 'b', '1.2.3']);
    const versions = await reg.versions(repo);
    expect(versions.length).toBe(before + 1);
    // the manifest, its config and layer, three tags (b moved: one removed, one added)
    expect(versions.at(-1)).toMatchObject({ added: 6, removed: 1 });
    const content = await reg.versionContent(repo, before);
    for (const t of ['a', 'b', '1.2.3']) {
      expect(content.tags).toContainEqual({ name: t, digest: img.digest });
      await expectServed(reg, repo, t, img, OCI_MANIFEST);
    }
    expect((await reg.req('HEAD', `/v2/${repo}/manifests/${old.digest}`)).status).toBe(200);
  });

  it('an index and its children pushed by digest with tags, as the conformance suite does; a repeated tag counts once', async () => {
    const child = ociImage();
    for (const b of child.blobs) await reg.pushBlob(repo, b);
    const c = await reg.putManifest(repo, `${child.digest}?tag=child-0`, child.bytes, OCI_MANIFEST);
    expect(ociTags(c)).toEqual(['child-0']);
    const idx = indexOf([child]);
    const before = await reg.versionCount(repo);
    const r = await reg.putManifest(repo, `${idx.digest}?tag=idx&tag=idx-1&tag=idx`, idx.bytes, OCI_INDEX);
    expectPushed(r, repo, idx);
    expect(ociTags(r)).toEqual(['idx', 'idx-1']);
    expect(await reg.versionCount(repo)).toBe(before + 1);
    await expectServed(reg, repo, 'idx-1', idx, OCI_INDEX);
    await expectServed(reg, repo, 'child-0', child, OCI_MANIFEST);
  });

  it('with a tag as the reference, the tag parameters are applied beside it', async () => {
    const img = ociImage();
    for (const b of img.blobs) await reg.pushBlob(repo, b);
    const r = await reg.putManifest(repo, 'main?tag=extra', img.bytes, OCI_MANIFEST);
    expectPushed(r, repo, img);
    expect(ociTags(r)).toEqual(['extra']);
    await expectServed(reg, repo, 'main', img, OCI_MANIFEST);
    await expectServed(reg, repo, 'extra', img, OCI_MANIFEST);
  });

  it(`${MAX_TAGS_PER_PUSH} tags in one push: all applied in one version`, async () => {
    const img = ociImage();
    for (const b of img.blobs) await reg.pushBlob(repo, b);
    const tags = Array.from({ length: MAX_TAGS_PER_PUSH }, (_, i) => `many-${i}`);
    const before = await reg.versionCount(repo);
    const r = await reg.putManifest(
      repo,
      `${img.digest}?${tags.map((t) => `tag=${t}`).join('&')}`,
      img.bytes,
      OCI_MANIFEST,
    );
    expectPushed(r, repo, img);
    expect(ociTags(r)).toEqual(tags);
    expect(await reg.versionCount(repo)).toBe(before + 1);
    expect((await reg.tags(repo)).filter((t) => t.startsWith('many-')).length).toBe(MAX_TAGS_PER_PUSH);
  });

  it('one invalid tag among valid ones refuses the whole request: 400 TAG_INVALID naming it, and nothing changes', async () => {
    const img = ociImage();
    for (const b of img.blobs) await reg.pushBlob(repo, b);
    for (const bad of ['-dash', '', 'x'.repeat(129), 'a%2Fb', '%C3%A9t%C3%A9']) {
      const before = await snapshot(s.berth, s.data);
      const r = await reg.putManifest(repo, `${img.digest}?tag=good&tag=${bad}`, img.bytes, OCI_MANIFEST);
      const e = refused(r, 400, 'TAG_INVALID');
      expect(e.message, bad).toContain(`"${decodeURIComponent(bad)}"`);
      expect(r.headers['oci-tag']).toBeUndefined();
      expect(await snapshot(s.berth, s.data), bad).toEqual(before);
    }
    expect(await reg.tags(repo)).not.toContain('good');
    expect((await reg.req('HEAD', `/v2/${repo}/manifests/${img.digest}`)).status).toBe(404);
  });

  it(`more than ${MAX_TAGS_PER_PUSH} tags: 414 TOO_MANY_TAGS saying how many, and nothing changes`, async () => {
    const img = ociImage();
    for (const b of img.blobs) await reg.pushBlob(repo, b);
    const before = await snapshot(s.berth, s.data);
    const query = Array.from({ length: MAX_TAGS_PER_PUSH + 1 }, (_, i) => `tag=t${i}`).join('&');
    const e = refused(
      await reg.putManifest(repo, `${img.digest}?${query}`, img.bytes, OCI_MANIFEST),
      414,
      'TOO_MANY_TAGS',
    );
    expect(e.message).toContain(String(MAX_TAGS_PER_PUSH + 1));
    expect(await snapshot(s.berth, s.data)).toEqual(before);
  });

  it('a manifest refused for a missing blob applies none of its tags', async () => {
    const img = ociImage({ n: 1 });
    await reg.pushBlob(repo, img.config!);
    const before = await snapshot(s.berth, s.data);
    refused(
      await reg.putManifest(repo, `${img.digest}?tag=never`, img.bytes, OCI_MANIFEST),
      400,
      'MANIFEST_BLOB_UNKNOWN',
    );
    expect(await snapshot(s.berth, s.data)).toEqual(before);
  });
});
