// The management API's repositories and versions: each upload is one new version; content and diffs per version.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, http, type TestServer } from '../helpers/in-process.js';
import { dirImage, sha, tarOf } from '../helpers/images.js';

let s: TestServer;
const a = dirImage({ n: 2 });
const b = dirImage({ layers: [a.layers[0]!, Buffer.from('a layer of b')] });
const api = (path: string) => http('GET', `${s.url}/api/v1/repositories${path}`);

beforeAll(async () => {
  s = await startTestServer('versions');
  for (const [img, tag] of [
    [a, 'latest'],
    [b, 'latest'],
  ] as const) {
    const r = await http(
      'POST',
      `${s.url}/api/v1/repositories/team/app/-/archives?tag=${tag}`,
      await tarOf(img.entries),
    );
    expect(r.status, r.body.toString()).toBe(201);
  }
});
afterAll(async () => s?.close());

describe('repositories and versions', () => {
  it('lists repositories and shows one with its latest version', async () => {
    expect((await api('')).json().repositories.map((r: { name: string }) => r.name)).toEqual(['team/app']);
    const r = (await api('/team/app')).json();
    expect(r.name).toBe('team/app');
    expect(r.latestVersion).toBe(2);
    expect(new Date(r.createdAt).getTime()).toBeGreaterThan(0);
  });
  it('an unknown repository: 404 NAME_UNKNOWN', async () => {
    const r = await api('/no/such');
    expect(r.status).toBe(404);
    expect(r.json().errors[0].code).toBe('NAME_UNKNOWN');
  });
  it('lists versions 0..2 with what each added and removed', async () => {
    const v = (await api('/team/app/-/versions')).json().versions;
    expect(v.map((x: { number: number }) => x.number)).toEqual([0, 1, 2]);
    expect(v[0]).toMatchObject({ added: 0, removed: 0 });
    // version 1: manifest, config, 2 layers, tag = 5 units
    expect(v[1]).toMatchObject({ added: 5, removed: 0 });
    // version 2: manifest, config, 1 new layer (the shared one is there already), tag moved (1 removed, 1 added)
    expect(v[2]).toMatchObject({ added: 4, removed: 1 });
  });
  it("shows each version's content", async () => {
    const v0 = (await api('/team/app/-/versions/0')).json();
    expect(v0.content).toEqual({ manifests: [], blobs: [], tags: [] });
    const v1 = (await api('/team/app/-/versions/1')).json();
    expect(v1.content.tags).toEqual([{ name: 'latest', digest: a.digest }]);
    expect(v1.content.manifests).toEqual([
      { digest: a.digest, mediaType: 'application/vnd.oci.image.manifest.v1+json' },
    ]);
    expect(v1.content.blobs.map((x: { digest: string }) => x.digest).sort()).toEqual(
      [sha(a.config), ...a.layerDigests].sort(),
    );
    const v2 = (await api('/team/app/-/versions/2')).json();
    expect(v2.content.tags).toEqual([{ name: 'latest', digest: b.digest }]);
    expect(v2.content.manifests.map((m: { digest: string }) => m.digest).sort()).toEqual(
      [a.digest, b.digest].sort(),
    );
  });
  it('diffs two versions, both ways', async () => {
    const d = (await api('/team/app/-/versions/2/diff?from=1')).json();
    expect(d.from).toBe(1);
    expect(d.to).toBe(2);
    expect(d.added.tags).toEqual([{ name: 'latest', digest: b.digest }]);
    expect(d.removed.tags).toEqual([{ name: 'latest', digest: a.digest }]);
    expect(d.added.manifests.map((m: { digest: string }) => m.digest)).toEqual([b.digest]);
    expect(d.added.blobs.map((x: { digest: string }) => x.digest).sort()).toEqual(
      [sha(b.config), sha(b.layers[1]!)].sort(),
    );
    const back = (await api('/team/app/-/versions/1/diff?from=2')).json();
    expect(back.added).toEqual(d.removed);
    expect(back.removed).toEqual(d.added);
  });
  it('an unknown version: 404 VERSION_UNKNOWN; a bad number: 400', async () => {
    const r = await api('/team/app/-/versions/9');
    expect(r.status).toBe(404);
    expect(r.json().errors[0].code).toBe('VERSION_UNKNOWN');
    expect((await api('/team/app/-/versions/x')).status).toBe(400);
    expect((await api('/team/app/-/versions/2/diff?from=7')).status).toBe(404);
  });
  it('blobs/present answers by digest and by diff ID, only for this repository', async () => {
    const unknown = sha('nothing');
    const r = await http(
      'POST',
      `${s.url}/api/v1/repositories/team/app/-/blobs/present`,
      JSON.stringify({ digests: [a.layerDigests[0], unknown, sha(b.config)] }),
      { 'content-type': 'application/json' },
    );
    expect(r.status).toBe(200);
    expect(r.json().present).toEqual([a.layerDigests[0], sha(b.config)]);
    const none = await http(
      'POST',
      `${s.url}/api/v1/repositories/no/such/-/blobs/present`,
      JSON.stringify({ digests: [a.layerDigests[0]] }),
      {
        'content-type': 'application/json',
      },
    );
    expect(none.json().present).toEqual([]);
    const bad = await http(
      'POST',
      `${s.url}/api/v1/repositories/team/app/-/blobs/present`,
      JSON.stringify({ digests: ['x'] }),
      {
        'content-type': 'application/json',
      },
    );
    expect(bad.status).toBe(400);
    expect(bad.json().errors[0].code).toBe('PARAMETER_INVALID');
  });
});
