// The rewritten OCI conformance suite's (oci-conformance/next) tag-parameter and sparse-manifest flows, replayed with their statuses.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { http, startTestServer, type HttpResult, type TestServer } from '../helpers/in-process.js';
import { sha } from '../helpers/images.js';
import { desc, OCI_CONFIG, OCI_INDEX, OCI_LAYER, OCI_MANIFEST, Registry, sep } from './oci.js';

// The suite's shapes: tab-indented JSON, images sharing one layer.
const indented = (v: unknown) => Buffer.from(JSON.stringify(v, null, '\t'));
const configs = Array.from({ length: 3 }, () =>
  indented({
    author: randomBytes(8).toString('hex'),
    architecture: 'amd64',
    os: 'linux',
    rootfs: { type: 'layers', diff_ids: [] },
  }),
);
const layer = randomBytes(180);

let s: TestServer;
let reg: Registry;
const NAME = 'conformance/next';

beforeAll(async () => {
  s = await startTestServer('conformance-next');
  reg = new Registry(s.url);
});
afterAll(async () => s?.close());

/** POST, then PUT the whole blob to the Location: the suite's way of populating blobs. */
async function populate(bytes: Buffer) {
  const start = await reg.startSession(NAME);
  const put = await http(
    'PUT',
    `${reg.url(start.headers.location)}${sep(start.headers.location)}digest=${sha(bytes)}`,
    bytes,
    { 'content-type': 'application/octet-stream' },
  );
  expect(put.status, put.body.toString()).toBe(201);
}
const putManifest = (ref: string, bytes: Buffer, type = OCI_MANIFEST) =>
  reg.putManifest(NAME, ref, bytes, type);
const v2 = (method: string, path: string, headers: Record<string, string> = {}) =>
  reg.req(method, `/v2/${NAME}/${path}`, undefined, headers);
const accept = { accept: OCI_MANIFEST };
const tagList = async (): Promise<string[]> => (await v2('GET', 'tags/list')).json().tags ?? [];

describe('next suite: tag parameters and sparse manifests', () => {
  const image = (i: number) =>
    indented({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: desc(OCI_CONFIG, configs[i]!),
      layers: [desc(OCI_LAYER, layer)],
    });
  const children = [image(0), image(2)];
  const index = indented({
    schemaVersion: 2,
    mediaType: OCI_INDEX,
    manifests: children.map((c, i) =>
      desc(OCI_MANIFEST, c, { platform: { architecture: i ? 'arm64' : 'amd64', os: 'linux' } }),
    ),
  });
  const ociTag = (r: HttpResult) =>
    String(r.headers['oci-tag'] ?? '')
      .split(',')
      .map((t) => t.trim());

  it('tag-param: each manifest pushed by digest with ?tag=, the index with two; OCI-Tag names every tag; each tag pulls', async () => {
    for (const b of [configs[0]!, configs[2]!, layer]) await populate(b);
    const pushed: [Buffer, string[]][] = [
      [children[0]!, ['tag-param-sha256-0']],
      [children[1]!, ['tag-param-sha256-1']],
      [index, ['tag-param-sha256', 'tag-param-sha256-2']],
    ];
    for (const [bytes, tags] of pushed) {
      const type = bytes === index ? OCI_INDEX : OCI_MANIFEST;
      const r = await putManifest(`${sha(bytes)}?${tags.map((t) => `tag=${t}`).join('&')}`, bytes, type);
      expect(r.status, r.body.toString()).toBe(201);
      expect(r.headers['docker-content-digest']).toBe(sha(bytes));
      expect(ociTag(r)).toEqual(tags);
      for (const t of tags) {
        const got = await v2('GET', `manifests/${t}`, { accept: type });
        expect(got.status, t).toBe(200);
        expect(got.body.equals(bytes)).toBe(true);
      }
    }
    expect(await tagList()).toEqual(expect.arrayContaining(pushed.flatMap(([, t]) => t)));
  });

  it('sparse-index: an index naming an image and a random digest is accepted; the random child answers 404', async () => {
    const imageDigest = sha(children[0]!);
    const random = randomBytes(1024);
    const sparse = indented({
      schemaVersion: 2,
      mediaType: OCI_INDEX,
      manifests: [
        { ...desc(OCI_MANIFEST, children[0]!), platform: { architecture: 'amd64', os: 'linux' } },
        {
          mediaType: OCI_MANIFEST,
          digest: sha(random),
          size: 1024,
          platform: { architecture: 'arm64', os: 'linux' },
        },
      ],
    });
    const r = await putManifest('sparse-index', sparse, OCI_INDEX);
    expect(r.status, r.body.toString()).toBe(201);
    expect((await v2('GET', 'manifests/sparse-index', { accept: OCI_INDEX })).body.equals(sparse)).toBe(true);
    expect((await v2('GET', `manifests/${imageDigest}`, accept)).status).toBe(200);
    for (const method of ['GET', 'HEAD']) {
      expect((await v2(method, `manifests/${sha(random)}`, accept)).status).toBe(404);
    }
  });

  it('sparse-image: an image missing a layer is refused by design: 400 MANIFEST_BLOB_UNKNOWN naming the layer', async () => {
    const absentLayer = randomBytes(300);
    const sparse = indented({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: desc(OCI_CONFIG, configs[0]!),
      layers: [desc(OCI_LAYER, layer), desc(OCI_LAYER, absentLayer)],
    });
    const r = await putManifest('sparse-image', sparse);
    expect(r.status).toBe(400);
    expect(r.json().errors[0].code).toBe('MANIFEST_BLOB_UNKNOWN');
    expect(r.json().errors[0].message).toContain(sha(absentLayer));
    expect((await v2('GET', 'manifests/sparse-image')).status).toBe(404);
  });

  it('teardown: the index, its children and the sparse index by digest (202), then the blobs', async () => {
    for (const tag of ['sparse-index', 'tag-param-sha256']) {
      const d = (await v2('HEAD', `manifests/${tag}`, { accept: OCI_INDEX })).headers[
        'docker-content-digest'
      ];
      expect((await v2('DELETE', `manifests/${String(d)}`)).status).toBe(202);
    }
    for (const c of children) expect((await v2('DELETE', `manifests/${sha(c)}`)).status).toBe(202);
    for (const b of [configs[0]!, configs[2]!, layer])
      expect((await v2('DELETE', `blobs/${sha(b)}`)).status).toBe(202);
    expect(await tagList()).not.toContain('tag-param-sha256-0');
  });
});
