// Sparse image indexes: accepted without their children; the children the repository does not hold answer 404 there.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/in-process.js';
import {
  code,
  dockerImage,
  indexOf,
  OCI_INDEX,
  ociImage,
  Registry,
  expectPushed,
  expectServed,
} from './oci.js';

let s: TestServer;
let reg: Registry;

beforeAll(async () => {
  s = await startTestServer('sparse-indexes');
  reg = new Registry(s.url);
});
afterAll(async () => s?.close());

describe('sparse indexes', () => {
  const repo = 'sparse/app';

  it('an index naming children the repository does not hold: 201; the absent child answers 404 there, the present one 200', async () => {
    const present = ociImage();
    await reg.pushImage(repo, present);
    for (const docker of [false, true]) {
      const absent = docker ? dockerImage() : ociImage();
      const child = docker ? dockerImage() : present;
      if (docker) await reg.pushImage(repo, child);
      for (const b of absent.blobs) await reg.pushBlob(repo, b); // its blobs, never its manifest
      const idx = indexOf([child, absent], { docker });
      const tag = docker ? 'list' : 'index';
      const before = await reg.versionCount(repo);
      expectPushed(await reg.putManifest(repo, tag, idx.bytes, idx.mediaType), repo, idx);
      await expectServed(reg, repo, tag, idx, idx.mediaType);
      await expectServed(reg, repo, idx.digest, idx, idx.mediaType);
      await expectServed(reg, repo, child.digest, child, child.mediaType);
      for (const method of ['GET', 'HEAD']) {
        const r = await reg.req(method, `/v2/${repo}/manifests/${absent.digest}`);
        expect(r.status, `${method} of the absent child`).toBe(404);
        if (method === 'GET') expect(code(r)).toBe('MANIFEST_UNKNOWN');
      }
      // one version: the index and its tag; the absent child is not part of the repository
      expect(await reg.versionCount(repo)).toBe(before + 1);
      const content = await reg.versionContent(repo, before);
      expect(content.manifests.map((m) => m.digest)).toContain(idx.digest);
      expect(content.manifests.map((m) => m.digest)).not.toContain(absent.digest);
    }
  });

  it('a child that only another repository holds stays unknown here, as manifest and as blob', async () => {
    const elsewhere = ociImage();
    await reg.pushImage('sparse/other', elsewhere, 'v1');
    const idx = indexOf([elsewhere]);
    expectPushed(await reg.putManifest(repo, 'mirror', idx.bytes, OCI_INDEX), repo, idx);
    expect((await reg.req('GET', `/v2/${repo}/manifests/${elsewhere.digest}`)).status).toBe(404);
    expect((await reg.req('HEAD', `/v2/${repo}/blobs/${elsewhere.digest}`)).status).toBe(404);
    expect((await reg.req('GET', `/v2/sparse/other/manifests/${elsewhere.digest}`)).status).toBe(200);
  });

  it('an index whose children are all absent, pushed by digest into a new repository: 201', async () => {
    const idx = indexOf([ociImage(), dockerImage()]);
    expectPushed(
      await reg.putManifest('sparse/fresh', idx.digest, idx.bytes, OCI_INDEX),
      'sparse/fresh',
      idx,
    );
    await expectServed(reg, 'sparse/fresh', idx.digest, idx, OCI_INDEX);
  });
});
