// The registry's read side over HTTP: /v2/, manifests and blobs (GET, HEAD, Range), tags and catalog pagination.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, http, type TestServer } from '../helpers/in-process.js';
import { dirImage, dockerImage, sha, tarOf } from '../helpers/images.js';

let s: TestServer;
const img = dirImage({ layers: [Buffer.from('0123456789abcdefghij'), Buffer.alloc(3000, 1)] });
const other = dirImage({ n: 1 });

const upload = async (repo: string, body: Buffer, tag?: string) => {
  const r = await http(
    'POST',
    `${s.url}/api/v1/repositories/${repo}/-/archives${tag ? `?tag=${tag}` : ''}`,
    body,
  );
  expect(r.status, r.body.toString()).toBe(201);
  return r.json();
};

beforeAll(async () => {
  s = await startTestServer('registry');
  await upload('team/app', await tarOf(img.entries), 'v1');
  await upload('team/other', await tarOf(other.entries), 'x');
  for (const t of ['b', 'a', 'c', 'A', '1.0', 'latest'])
    await upload('team/tags', await tarOf(dockerImage({ repoTags: [`t/t:${t}`] }).entries));
  for (const r of ['zz/last', 'aa/first', 'mm/middle'])
    await upload(r, await tarOf(dirImage({ n: 1 }).entries));
});
afterAll(async () => s?.close());

const v2 = (path: string, headers: Record<string, string> = {}, method = 'GET') =>
  http(method, `${s.url}/v2/${path}`, undefined, headers);

describe('GET /v2/', () => {
  it('answers 200 with the API version header', async () => {
    const r = await v2('');
    expect(r.status).toBe(200);
    expect(r.headers['docker-distribution-api-version']).toBe('registry/2.0');
  });
});

describe('manifests', () => {
  for (const ref of ['v1', img.digest]) {
    it(`GET by ${ref === 'v1' ? 'tag' : 'digest'}: exact bytes, type, digest and length`, async () => {
      const r = await v2(`team/app/manifests/${ref}`);
      expect(r.status).toBe(200);
      expect(r.body.equals(img.manifestBytes)).toBe(true);
      expect(r.headers['content-type']).toBe('application/vnd.oci.image.manifest.v1+json');
      expect(r.headers['docker-content-digest']).toBe(img.digest);
      expect(Number(r.headers['content-length'])).toBe(img.manifestBytes.length);
    });
    it(`HEAD by ${ref === 'v1' ? 'tag' : 'digest'}: the same headers, no body`, async () => {
      const r = await v2(`team/app/manifests/${ref}`, {}, 'HEAD');
      expect(r.status).toBe(200);
      expect(r.body.length).toBe(0);
      expect(r.headers['docker-content-digest']).toBe(img.digest);
      expect(Number(r.headers['content-length'])).toBe(img.manifestBytes.length);
      expect(r.headers['content-type']).toBe('application/vnd.oci.image.manifest.v1+json');
    });
  }
  it('unknown tag: 404 MANIFEST_UNKNOWN', async () => {
    const r = await v2('team/app/manifests/nope');
    expect(r.status).toBe(404);
    expect(r.json().errors[0].code).toBe('MANIFEST_UNKNOWN');
  });
  it("another repository's manifest: 404 MANIFEST_UNKNOWN", async () => {
    const r = await v2(`team/app/manifests/${other.digest}`);
    expect(r.status).toBe(404);
    expect(r.json().errors[0].code).toBe('MANIFEST_UNKNOWN');
  });
  it('unknown repository: 404 NAME_UNKNOWN', async () => {
    const r = await v2('no/such/manifests/v1');
    expect(r.status).toBe(404);
    expect(r.json().errors[0].code).toBe('NAME_UNKNOWN');
  });
  it('invalid name: 400 NAME_INVALID; invalid digest: 400 DIGEST_INVALID; a tag outside the grammar: 404 MANIFEST_UNKNOWN', async () => {
    expect((await v2('Team/App/manifests/v1')).json().errors[0].code).toBe('NAME_INVALID');
    expect((await v2('team/app/manifests/sha256:1234')).json().errors[0].code).toBe('DIGEST_INVALID');
    // the OCI conformance suite reads ".INVALID_MANIFEST_NAME" and expects 404: no manifest can have such a tag
    for (const tag of ['-x', '.INVALID_MANIFEST_NAME']) {
      const bad = await v2(`team/app/manifests/${tag}`);
      expect(bad.status, tag).toBe(404);
      expect(bad.json().errors[0].code).toBe('MANIFEST_UNKNOWN');
      expect((await v2(`team/app/manifests/${tag}`, {}, 'HEAD')).status).toBe(404);
    }
  });
  it('a HEAD of an unknown manifest answers 404 with no body', async () => {
    const r = await v2('team/app/manifests/nope', {}, 'HEAD');
    expect(r.status).toBe(404);
    expect(r.body.length).toBe(0);
  });
});

describe('blobs', () => {
  const layer = img.layers[0]!;
  const digest = img.layerDigests[0]!;
  it('GET: the bytes, with digest and length', async () => {
    const r = await v2(`team/app/blobs/${digest}`);
    expect(r.status).toBe(200);
    expect(r.body.equals(layer)).toBe(true);
    expect(r.headers['docker-content-digest']).toBe(digest);
    expect(Number(r.headers['content-length'])).toBe(layer.length);
  });
  it('HEAD: length and digest, no body', async () => {
    const r = await v2(`team/app/blobs/${digest}`, {}, 'HEAD');
    expect(r.status).toBe(200);
    expect(r.body.length).toBe(0);
    expect(Number(r.headers['content-length'])).toBe(layer.length);
    expect(r.headers['docker-content-digest']).toBe(digest);
  });
  it('Range bytes=2-5: 206 with Content-Range', async () => {
    const r = await v2(`team/app/blobs/${digest}`, { range: 'bytes=2-5' });
    expect(r.status).toBe(206);
    expect(r.body.toString()).toBe('2345');
    expect(r.headers['content-range']).toBe(`bytes 2-5/${layer.length}`);
    expect(Number(r.headers['content-length'])).toBe(4);
  });
  it('Range bytes=-3 (suffix) and bytes=18- (open end)', async () => {
    expect((await v2(`team/app/blobs/${digest}`, { range: 'bytes=-3' })).body.toString()).toBe('hij');
    expect((await v2(`team/app/blobs/${digest}`, { range: 'bytes=18-' })).body.toString()).toBe('ij');
  });
  it('an unsatisfiable range: 416 with Content-Range bytes */size', async () => {
    const r = await v2(`team/app/blobs/${digest}`, { range: 'bytes=100-200' });
    expect(r.status).toBe(416);
    expect(r.headers['content-range']).toBe(`bytes */${layer.length}`);
    expect(r.json().errors[0].code).toBe('RANGE_INVALID');
  });
  it('a blob held only by another repository: 404 BLOB_UNKNOWN (GET and HEAD)', async () => {
    const theirs = other.layerDigests[0]!;
    expect((await v2(`team/other/blobs/${theirs}`)).status).toBe(200);
    const r = await v2(`team/app/blobs/${theirs}`);
    expect(r.status).toBe(404);
    expect(r.json().errors[0].code).toBe('BLOB_UNKNOWN');
    expect((await v2(`team/app/blobs/${theirs}`, {}, 'HEAD')).status).toBe(404);
  });
  it('the config blob and the manifest bytes are served as blobs too', async () => {
    const c = await v2(`team/app/blobs/${sha(img.config)}`);
    expect(c.status).toBe(200);
    expect(c.body.equals(img.config)).toBe(true);
  });
  it('a method the endpoint does not have: 405', async () => {
    const r = await v2(`team/app/blobs/${digest}`, {}, 'PATCH');
    expect(r.status).toBe(405);
  });
});

describe('tags list', () => {
  it('lists every tag in lexical order', async () => {
    const r = await v2('team/tags/tags/list');
    expect(r.status).toBe(200);
    expect(r.json()).toEqual({ name: 'team/tags', tags: ['1.0', 'A', 'a', 'b', 'c', 'latest'] });
  });
  it('paginates with n and last, with a Link to the next page', async () => {
    const p1 = await v2('team/tags/tags/list?n=2');
    expect(p1.json().tags).toEqual(['1.0', 'A']);
    expect(p1.headers.link).toBe('</v2/team/tags/tags/list?n=2&last=A>; rel="next"');
    const p2 = await v2('team/tags/tags/list?n=2&last=A');
    expect(p2.json().tags).toEqual(['a', 'b']);
    const p3 = await v2('team/tags/tags/list?n=2&last=b');
    expect(p3.json().tags).toEqual(['c', 'latest']);
    expect(p3.headers.link).toBeUndefined();
    expect((await v2('team/tags/tags/list?last=c')).json().tags).toEqual(['latest']);
  });
  it('unknown repository: 404 NAME_UNKNOWN; bad n: 400', async () => {
    expect((await v2('no/such/tags/list')).json().errors[0].code).toBe('NAME_UNKNOWN');
    expect((await v2('team/tags/tags/list?n=-1')).status).toBe(400);
  });
});

describe('catalog', () => {
  it('lists repositories in lexical order, paginated', async () => {
    const all = (await v2('_catalog')).json().repositories;
    expect(all).toEqual([...all].sort());
    expect(all).toEqual(expect.arrayContaining(['aa/first', 'mm/middle', 'team/app', 'zz/last']));
    const p1 = await v2('_catalog?n=2');
    expect(p1.json().repositories).toEqual(all.slice(0, 2));
    expect(p1.headers.link).toBe(`</v2/_catalog?n=2&last=${encodeURIComponent(all[1])}>; rel="next"`);
    const p2 = await v2(`_catalog?n=2&last=${encodeURIComponent(all[1])}`);
    expect(p2.json().repositories).toEqual(all.slice(2, 4));
  });
});
