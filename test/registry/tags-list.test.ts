// Tag lists follow every new version, also when the list of an unchanged version is answered from memory.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openBerth, type Berth } from '../../src/app.js';
import { startTestServer, type TestServer } from '../helpers/in-process.js';
import { ociImage, Registry } from './oci.js';

let s: TestServer;
let reg: Registry;
beforeAll(async () => {
  s = await startTestServer('tags-list');
  reg = new Registry(s.url);
});
afterAll(async () => s?.close());

const page = async (repo: string, query: string) => {
  const r = await reg.req('GET', `/v2/${repo}/tags/list${query}`);
  expect(r.status, r.body.toString()).toBe(200);
  return r.json().tags as string[];
};

describe('GET /v2/<name>/tags/list', () => {
  it('lists the latest version after each tag push and delete, pages included', async () => {
    const repo = 'tags/list';
    const img = ociImage({ n: 1 });
    await reg.pushImage(repo, img, 'b');
    await reg.putManifest(repo, 'a', img.bytes, img.mediaType);
    expect(await reg.tags(repo)).toEqual(['a', 'b']);
    expect(await reg.tags(repo)).toEqual(['a', 'b']); // the same version again
    expect(await page(repo, '?n=1')).toEqual(['a']);
    expect((await reg.putManifest(repo, 'c', img.bytes, img.mediaType)).status).toBe(201);
    expect(await reg.tags(repo)).toEqual(['a', 'b', 'c']);
    expect(await page(repo, '?n=1&last=a')).toEqual(['b']);
    expect((await reg.req('DELETE', `/v2/${repo}/manifests/a`)).status).toBe(202);
    expect(await reg.tags(repo)).toEqual(['b', 'c']);
    expect(await page(repo, '?n=1')).toEqual(['b']);
  });

  it('a change made through another instance on the same database shows at once', async () => {
    const repo = 'tags/shared';
    const img = ociImage({ n: 1 });
    await reg.pushImage(repo, img, 'one');
    expect(await reg.tags(repo)).toEqual(['one']);
    let other: Berth | undefined;
    try {
      other = await openBerth({ data: s.data, database: s.berth.config.database });
      await other.manifests.put(repo, { kind: 'tag', tag: 'two' }, img.bytes, img.mediaType);
      expect(await reg.tags(repo)).toEqual(['one', 'two']);
    } finally {
      await other?.close();
    }
  });
});
