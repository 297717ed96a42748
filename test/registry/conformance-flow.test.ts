// The four OCI conformance workflows (pull, push, content discovery, content management) replayed in order on one repository, with their statuses.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { http, startTestServer, type HttpResult, type TestServer } from '../helpers/in-process.js';
import { sha } from '../helpers/images.js';
import {
  desc,
  OCI_CONFIG,
  OCI_EMPTY,
  OCI_INDEX,
  OCI_LAYER,
  OCI_MANIFEST,
  Registry,
  sep,
  type Descriptor,
} from './oci.js';

// The suite's shapes: tab-indented JSON, a config descriptor with `data` and an unknown field, one shared layer.
const indented = (v: unknown) => Buffer.from(JSON.stringify(v, null, '\t'));
const configs = Array.from({ length: 5 }, () =>
  indented({
    author: randomBytes(8).toString('hex'),
    architecture: 'amd64',
    os: 'linux',
    rootfs: { type: 'layers', diff_ids: [] },
  }),
);
const layer = randomBytes(180);
const manifests = configs.map((c) =>
  indented({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: desc(OCI_CONFIG, c, { data: c.toString('base64'), newUnspecifiedField: 'aGVsbG8gd29ybGQ=' }),
    layers: [desc(OCI_LAYER, layer)],
  }),
);
const emptyLayer = indented({ schemaVersion: 2, config: desc(OCI_CONFIG, configs[1]!), layers: [] });
const blobA = randomBytes(42);
const blobB = randomBytes(42);
const dummy = sha('hello world');
const NONEXISTENT = '.INVALID_MANIFEST_NAME';
const emptyJson = Buffer.from('{}');
const refBlobA = Buffer.from('peanut butter on a bagel');
const refBlobB = Buffer.from('strawberry jam on a croissant');
const TYPE_A = 'application/vnd.example.peanut.butter';
const TYPE_B = 'application/vnd.example.strawberry.jam';
const KEY = 'org.example.conformance';
const subjectOf = (m: Buffer) => desc(OCI_MANIFEST, m);
const refManifest = (
  config: Descriptor,
  layers: Descriptor[],
  subject: Buffer,
  note?: string,
  artifactType?: string,
) =>
  indented({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    ...(artifactType ? { artifactType } : {}),
    config,
    subject: subjectOf(subject),
    layers,
    ...(note ? { annotations: { [KEY]: note } } : {}),
  });
const refsAConfig = refManifest(
  desc(TYPE_A, refBlobA),
  [desc(OCI_EMPTY, emptyJson)],
  manifests[4]!,
  'config a',
);
const refsALayer = refManifest(
  desc(OCI_EMPTY, emptyJson),
  [desc(TYPE_A, refBlobA)],
  manifests[4]!,
  'layer a',
  TYPE_A,
);
const refsBConfig = refManifest(
  desc(TYPE_B, refBlobB),
  [desc(OCI_EMPTY, emptyJson)],
  manifests[4]!,
  'config b',
);
const refsBLayer = refManifest(
  desc(OCI_EMPTY, emptyJson),
  [desc(TYPE_B, refBlobB)],
  manifests[4]!,
  'layer b',
  TYPE_B,
);
const refsCLayer = refManifest(
  desc(OCI_EMPTY, emptyJson),
  [desc(TYPE_B, refBlobB)],
  manifests[3]!,
  undefined,
  TYPE_B,
);
const refsIndex = indented({
  schemaVersion: 2,
  mediaType: OCI_INDEX,
  artifactType: 'application/vnd.example.food.stand',
  manifests: [desc(OCI_MANIFEST, refsAConfig), desc(OCI_MANIFEST, refsALayer)],
  subject: subjectOf(manifests[4]!),
  annotations: { [KEY]: 'index' },
});

let s: TestServer;
let reg: Registry;
const NAME = 'conformance/test';
const CROSS = 'conformance/crossmount';

beforeAll(async () => {
  s = await startTestServer('conformance');
  reg = new Registry(s.url);
});
afterAll(async () => s?.close());

const is2xx = (r: HttpResult) => {
  expect(r.status, r.body.toString()).toBeGreaterThanOrEqual(200);
  expect(r.status, r.body.toString()).toBeLessThan(300);
};
/** POST, then PUT the whole blob to the Location: the suite's way of populating blobs. */
async function populate(bytes: Buffer, repo = NAME) {
  const start = await reg.startSession(repo);
  const put = await http(
    'PUT',
    `${reg.url(start.headers.location)}${sep(start.headers.location)}digest=${sha(bytes)}`,
    bytes,
    {
      'content-type': 'application/octet-stream',
    },
  );
  is2xx(put);
}
const putManifest = (ref: string, bytes: Buffer, type = OCI_MANIFEST) =>
  reg.putManifest(NAME, ref, bytes, type);
const v2 = (method: string, path: string, headers: Record<string, string> = {}) =>
  reg.req(method, `/v2/${NAME}/${path}`, undefined, headers);
const accept = { accept: OCI_MANIFEST };
const tagList = async (): Promise<string[]> => (await v2('GET', 'tags/list')).json().tags;

describe('pull', () => {
  it('setup: blobs, a manifest by tag, another by digest', async () => {
    for (const b of [configs[0]!, configs[1]!, layer]) await populate(b);
    is2xx(await putManifest('tagtest0', manifests[0]!));
    is2xx(await putManifest(sha(manifests[1]!), manifests[1]!));
  });
  it('blobs: HEAD/GET of a nonexistent one 404, of an existing one 200 with its digest', async () => {
    expect((await v2('HEAD', `blobs/${dummy}`)).status).toBe(404);
    const head = await v2('HEAD', `blobs/${sha(configs[0]!)}`);
    expect(head.status).toBe(200);
    expect(head.headers['docker-content-digest']).toBe(sha(configs[0]!));
    expect((await v2('GET', `blobs/${dummy}`)).status).toBe(404);
    expect((await v2('GET', `blobs/${sha(configs[0]!)}`)).status).toBe(200);
  });
  it('manifests: HEAD/GET of a nonexistent reference 404; by digest and by tag 200 with the right digest', async () => {
    expect((await v2('HEAD', `manifests/${NONEXISTENT}`)).status).toBe(404);
    expect((await v2('GET', `manifests/${NONEXISTENT}`)).status).toBe(404);
    for (const [ref, m] of [
      [sha(manifests[0]!), manifests[0]!],
      [sha(manifests[1]!), manifests[1]!],
      ['tagtest0', manifests[0]!],
    ] as const) {
      for (const method of ['HEAD', 'GET']) {
        const r = await v2(method, `manifests/${ref}`, accept);
        expect(r.status, `${method} ${ref}`).toBe(200);
        expect(r.headers['docker-content-digest']).toBe(sha(m));
      }
    }
  });
  it('an invalid digest reference: 400 with an OCI error code', async () => {
    const r = await v2('GET', 'manifests/sha256:totallywrong');
    expect(r.status).toBe(400);
    expect(r.json().errors[0].code).toBe('DIGEST_INVALID');
  });
  it('teardown: manifests deleted, then blobs (2xx)', async () => {
    for (const m of [manifests[0]!, manifests[1]!]) is2xx(await v2('DELETE', `manifests/${sha(m)}`));
    for (const b of [configs[0]!, configs[1]!, layer]) {
      const r = await v2('DELETE', `blobs/${sha(b)}`);
      expect([202, 404], r.body.toString()).toContain(r.status);
    }
  });
});

describe('push', () => {
  let last: HttpResult;
  let first: HttpResult;
  it('streamed: POST, PATCH with the blob 202, PUT with the digest 201 with a Location', async () => {
    const start = await reg.startSession(NAME);
    expect(start.headers.location).toBeTruthy();
    last = await http('PATCH', reg.url(start.headers.location), blobA, {
      'content-type': 'application/octet-stream',
    });
    expect(last.status).toBe(202);
    const put = await http('PUT', `${reg.url(last.headers.location)}?digest=${sha(blobA)}`, undefined, {
      'content-length': '0',
    });
    expect(put.status).toBe(201);
    expect(put.headers.location).toBeTruthy();
  });
  it('monolithic: POST ?digest= 201 then GET 200; POST + PUT 201 then GET 200; a layer too', async () => {
    expect((await v2('GET', `blobs/${dummy}`)).status).toBe(404);
    const mono = await reg.monolithic(NAME, configs[1]!);
    expect(mono.status).toBe(201);
    expect(mono.headers.location).toBeTruthy();
    expect((await v2('GET', `blobs/${sha(configs[1]!)}`)).status).toBe(200);
    await populate(configs[1]!);
    await populate(layer);
    expect((await v2('GET', `blobs/${sha(layer)}`)).status).toBe(200);
  });
  it('chunked: an out-of-order chunk 416; first chunk 202 with its Range; a retried chunk 416; status 204', async () => {
    const c1 = blobB.subarray(0, 22);
    const c2 = blobB.subarray(22);
    const early = await reg.startSession(NAME);
    const bad = await http('PATCH', reg.url(early.headers.location), c2, {
      'content-type': 'application/octet-stream',
      'content-range': '22-41',
    });
    expect(bad.status).toBe(416);
    first = await reg.startSession(NAME);
    last = await http('PATCH', reg.url(first.headers.location), c1, {
      'content-type': 'application/octet-stream',
      'content-range': '0-21',
    });
    expect(last.status).toBe(202);
    expect(last.headers.range).toBe('0-21');
    const retry = await http('PATCH', reg.url(first.headers.location), c1, {
      'content-type': 'application/octet-stream',
      'content-range': '0-21',
    });
    expect(retry.status).toBe(416);
    const status = await http('GET', reg.url(first.headers.location));
    expect(status.status).toBe(204);
    expect(status.headers.location).toBeTruthy();
    expect(status.headers.range).toBe('0-21');
    last = await http('PATCH', reg.url(status.headers.location), c2, {
      'content-type': 'application/octet-stream',
      'content-range': '22-41',
    });
    expect(last.status).toBe(202);
    expect(last.headers.location).toBeTruthy();
    const put = await http('PUT', `${reg.url(last.headers.location)}?digest=${sha(blobB)}`, undefined, {
      'content-length': '0',
    });
    expect(put.status).toBe(201);
    expect(put.headers.location).toBeTruthy();
  });
  it('cross-repository mount: without from 202; from the repository 201 and the blob there 200', async () => {
    const noFrom = await reg.req('POST', `/v2/${CROSS}/blobs/uploads/?mount=${dummy}`);
    expect(noFrom.status).toBe(202);
    expect(noFrom.headers.location).toBeTruthy();
    const m = await reg.req('POST', `/v2/${CROSS}/blobs/uploads/?mount=${sha(blobA)}&from=${NAME}`);
    expect(m.status).toBe(201);
    expect(m.headers.location).toBe(`/v2/${CROSS}/blobs/${sha(blobA)}`);
    expect((await http('GET', reg.url(m.headers.location))).status).toBe(200);
    const again = await reg.req('POST', `/v2/${CROSS}/blobs/uploads/?mount=${sha(blobA)}`);
    expect(again.status).toBe(202); // no automatic content discovery
  });
  it('manifests: GET nonexistent 404; PUT under 4 tags 201; the empty-layer manifest 201; GET by digest 200', async () => {
    expect((await v2('GET', `manifests/${NONEXISTENT}`)).status).toBe(404);
    for (let i = 0; i < 4; i++) {
      const r = await putManifest(`test${i}`, manifests[1]!);
      expect(r.status).toBe(201);
      expect(r.headers.location).toBeTruthy();
    }
    const empty = await putManifest('emptylayer', emptyLayer);
    expect(empty.status).toBe(201);
    expect(empty.headers.location).toBeTruthy();
    expect((await v2('GET', `manifests/${sha(manifests[1]!)}`, accept)).status).toBe(200);
  });
  it('teardown: manifests, then blobs', async () => {
    is2xx(await v2('DELETE', `manifests/${sha(manifests[1]!)}`));
    is2xx(await v2('DELETE', `manifests/${sha(emptyLayer)}`));
    for (const b of [configs[1]!, layer]) {
      const r = await v2('DELETE', `blobs/${sha(b)}`);
      expect([202, 404]).toContain(r.status);
    }
  });
});

describe('content discovery', () => {
  it('setup: blobs, 4 tags, referrers before and after their subject (each answering OCI-Subject)', async () => {
    await populate(configs[2]!);
    await populate(layer);
    for (let i = 0; i < 4; i++) is2xx(await putManifest(`test${i}`, manifests[2]!));
    await populate(emptyJson);
    await populate(refBlobA);
    for (const m of [refsAConfig, refsALayer]) {
      const r = await putManifest(sha(m), m);
      is2xx(r);
      expect(r.headers['oci-subject']).toBe(sha(manifests[4]!));
    }
    const idx = await putManifest(sha(refsIndex), refsIndex, OCI_INDEX);
    is2xx(idx);
    expect(idx.headers['oci-subject']).toBe(sha(manifests[4]!));
    await populate(configs[4]!);
    await populate(layer);
    is2xx(await putManifest('tagtest0', manifests[4]!));
    await populate(refBlobB);
    for (const m of [refsBConfig, refsBLayer]) {
      const r = await putManifest(sha(m), m);
      is2xx(r);
      expect(r.headers['oci-subject']).toBe(sha(manifests[4]!));
    }
    const c = await putManifest(sha(refsCLayer), refsCLayer);
    is2xx(c);
    expect(c.headers['oci-subject']).toBe(sha(manifests[3]!));
  });
  it('tags: list 200; n limits; last continues', async () => {
    const all = await tagList();
    expect(all).toEqual(['tagtest0', 'test0', 'test1', 'test2', 'test3']);
    const half = Math.floor(all.length / 2);
    const page = (await v2('GET', `tags/list?n=${half}`)).json().tags;
    expect(page.length).toBe(half);
    const next = await v2('GET', `tags/list?n=${half}&last=${page[half - 1]}`);
    expect(next.status).toBe(200);
    expect(next.json().tags).toEqual(all.slice(half, 2 * half));
  });
  it('referrers: none 200 empty; five for the subject with annotations; two with the filter; one for the absent subject', async () => {
    const none = await v2('GET', `referrers/${dummy}`);
    expect(none.status).toBe(200);
    expect(none.headers['content-type']).toBe(OCI_INDEX);
    expect(none.json().manifests).toEqual([]);
    const all = await v2('GET', `referrers/${sha(manifests[4]!)}`);
    expect(all.status).toBe(200);
    expect(all.headers['content-type']).toBe(OCI_INDEX);
    const list: { digest: string; annotations: Record<string, string> }[] = all.json().manifests;
    expect(list.length).toBe(5);
    const notes = new Map([
      [sha(refsAConfig), 'config a'],
      [sha(refsALayer), 'layer a'],
      [sha(refsBConfig), 'config b'],
      [sha(refsBLayer), 'layer b'],
      [sha(refsIndex), 'index'],
    ]);
    for (const m of list) expect(m.annotations).toEqual({ [KEY]: notes.get(m.digest) });
    const filtered = await v2(
      'GET',
      `referrers/${sha(manifests[4]!)}?artifactType=${encodeURIComponent(TYPE_A)}`,
    );
    expect(filtered.headers['content-type']).toBe(OCI_INDEX);
    expect(filtered.headers['oci-filters-applied']).toBe('artifactType');
    expect(
      filtered
        .json()
        .manifests.map((m: { digest: string }) => m.digest)
        .sort(),
    ).toEqual([sha(refsAConfig), sha(refsALayer)].sort());
    const absent = await v2('GET', `referrers/${sha(manifests[3]!)}`);
    expect(absent.status).toBe(200);
    expect(absent.json().manifests.map((m: { digest: string }) => m.digest)).toEqual([sha(refsCLayer)]);
  });
  it('teardown: manifests and tags (2xx or 404), then blobs (2xx)', async () => {
    for (const ref of [
      sha(refsIndex),
      sha(manifests[2]!),
      sha(manifests[4]!),
      sha(refsAConfig),
      sha(refsALayer),
      'tagtest0',
      sha(refsBConfig),
      sha(refsBLayer),
      sha(refsCLayer),
    ]) {
      const r = await v2('DELETE', `manifests/${ref}`);
      expect([202, 404], `${ref}: ${r.body.toString()}`).toContain(r.status);
    }
    // these two must be deletable (2xx): deleting the manifests did not take their blobs away
    is2xx(await v2('DELETE', `blobs/${sha(configs[2]!)}`));
    is2xx(await v2('DELETE', `blobs/${sha(layer)}`));
    for (const b of [configs[4]!, refBlobA, refBlobB, emptyJson]) {
      const r = await v2('DELETE', `blobs/${sha(b)}`);
      expect([202, 404]).toContain(r.status);
    }
  });
});

describe('content management', () => {
  let before = 0;
  it('setup: a config, the layer, a tag', async () => {
    await populate(configs[3]!);
    await populate(layer);
    is2xx(await putManifest('tagtest0', manifests[3]!));
    before = (await tagList()).length;
    expect(before).toBeGreaterThan(0);
  });
  it('DELETE of the tag 202; of the manifest 202 or 404; GET of it then 404; the tag list shorter', async () => {
    expect((await v2('DELETE', 'manifests/tagtest0')).status).toBe(202);
    expect([202, 404]).toContain((await v2('DELETE', `manifests/${sha(manifests[3]!)}`)).status);
    expect((await v2('GET', `manifests/${sha(manifests[3]!)}`)).status).toBe(404);
    const after = await v2('GET', 'tags/list');
    expect(after.status).toBe(200);
    expect(after.json().tags.length).toBeLessThan(before);
  });
  it('DELETE of the config and the layer 202; GET of the config then 404', async () => {
    expect((await v2('DELETE', `blobs/${sha(configs[3]!)}`)).status).toBe(202);
    expect((await v2('DELETE', `blobs/${sha(layer)}`)).status).toBe(202);
    expect((await v2('GET', `blobs/${sha(configs[3]!)}`)).status).toBe(404);
  });
});
