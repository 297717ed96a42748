// Content discovery over HTTP after registry pushes and deletes: tags list, its n/last pagination, the catalog.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/in-process.js';
import { code, ociImage, Registry } from './oci.js';

let s: TestServer;
let reg: Registry;
const REPO = 'disc/app';
const img = ociImage();
const TAGS = ['test0', 'test1', 'test2', 'test3', 'Zeta', 'alpha', '1.0'];

beforeAll(async () => {
  s = await startTestServer('discovery');
  reg = new Registry(s.url);
  await reg.pushImage(REPO, img, TAGS[0]);
  for (const t of TAGS.slice(1)) {
    const r = await reg.putManifest(REPO, t, img.bytes, img.mediaType);
    expect(r.status).toBe(201);
  }
});
afterAll(async () => s?.close());

const list = (query = '', repo = REPO) => reg.req('GET', `/v2/${repo}/tags/list${query}`);
// the order the spec asks for, as berth defines it (byte order of the tag)
const sorted = [...TAGS].sort();

describe('GET /v2/<name>/tags/list', () => {
  it('200 with the name and every pushed tag, in lexical order', async () => {
    const r = await list();
    expect(r.status).toBe(200);
    expect(r.json()).toEqual({ name: REPO, tags: sorted });
  });

  it('n limits the count, last starts after a tag; a Link names the next page while there is one', async () => {
    const half = Math.floor(TAGS.length / 2);
    const p1 = await list(`?n=${half}`);
    expect(p1.status).toBe(200);
    expect(p1.json().tags).toEqual(sorted.slice(0, half));
    expect(p1.headers.link).toBe(`</v2/${REPO}/tags/list?n=${half}&last=${sorted[half - 1]}>; rel="next"`);
    const p2 = await list(`?n=${half}&last=${sorted[half - 1]}`);
    expect(p2.json().tags).toEqual(sorted.slice(half, 2 * half));
    const rest = await list(`?last=${sorted[2 * half - 1]}`);
    expect(rest.json().tags).toEqual(sorted.slice(2 * half));
    const exact = await list(`?n=${TAGS.length}`);
    expect(exact.json().tags).toEqual(sorted);
    expect(exact.headers.link).toBeUndefined();
  });

  it('n=0: an empty list and no Link', async () => {
    const r = await list('?n=0');
    expect(r.status).toBe(200);
    expect(r.json()).toEqual({ name: REPO, tags: [] });
    expect(r.headers.link).toBeUndefined();
  });

  it('last after every tag: an empty list', async () => {
    expect((await list('?last=zzzz')).json().tags).toEqual([]);
  });

  it('follows deletes: a deleted tag, and the tags of a deleted manifest, leave the list', async () => {
    expect((await reg.req('DELETE', `/v2/${REPO}/manifests/test1`)).status).toBe(202);
    expect((await list()).json().tags).toEqual(sorted.filter((t) => t !== 'test1'));
    expect((await reg.req('DELETE', `/v2/${REPO}/manifests/${img.digest}`)).status).toBe(202);
    const r = await list();
    expect(r.status).toBe(200);
    expect(r.json()).toEqual({ name: REPO, tags: [] });
  });

  it('a repository never pushed to: 404 NAME_UNKNOWN', async () => {
    const r = await list('', 'disc/never');
    expect(r.status).toBe(404);
    expect(code(r)).toBe('NAME_UNKNOWN');
  });
});

describe('GET /v2/_catalog', () => {
  it('lists a repository once a manifest is pushed to it', async () => {
    const other = ociImage();
    await reg.pushBlob('disc/blobs-only', other.config!);
    let repos: string[] = (await reg.req('GET', '/v2/_catalog')).json().repositories;
    expect(repos).toContain(REPO);
    expect(repos).not.toContain('disc/blobs-only');
    await reg.pushImage('disc/blobs-only', other, 'v1');
    repos = (await reg.req('GET', '/v2/_catalog')).json().repositories;
    expect(repos).toContain('disc/blobs-only');
    expect(repos).toEqual([...repos].sort());
  });
});
