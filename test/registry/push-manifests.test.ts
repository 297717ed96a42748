// Manifest pushes over HTTP: every manifest type by tag and digest, refusals with their codes, exact bytes, one version per push, concurrency.
import { randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { http, startTestServer, type HttpResult, type TestServer } from '../helpers/in-process.js';
import { sha } from '../helpers/images.js';
import { snapshot } from '../helpers/state.js';
import {
  code,
  desc,
  descriptorOf,
  DOCKER_CONFIG,
  DOCKER_LIST,
  DOCKER_MANIFEST,
  dockerImage,
  type Image,
  indexOf,
  OCI_CONFIG,
  OCI_INDEX,
  OCI_LAYER,
  OCI_MANIFEST,
  ociImage,
  Registry,
  expectPushed,
  expectServed,
} from './oci.js';

let s: TestServer;
let reg: Registry;

beforeAll(async () => {
  s = await startTestServer('push-manifests');
  reg = new Registry(s.url);
});
afterAll(async () => s?.close());

const refused = (r: HttpResult, status: number, errorCode: string) => {
  expect(r.status, r.body.toString()).toBe(status);
  expect(code(r)).toBe(errorCode);
  return r.json().errors[0] as { message: string; detail?: Record<string, unknown> };
};

describe('PUT /v2/<name>/manifests/<reference>: every manifest type, by tag and by digest', () => {
  const repo = 'types/app';
  const oci = ociImage({ n: 2 });
  const oci2 = ociImage({ n: 1 });
  const docker = dockerImage({ n: 2 });
  const docker2 = dockerImage({ n: 1 });
  const ociIdx = indexOf([oci, oci2]);
  const dockerList = indexOf([docker, docker2], { docker: true });
  const cases: [string, Image, Image[], string][] = [
    ['OCI image manifest', oci, [], OCI_MANIFEST],
    ['Docker schema 2 manifest', docker, [], DOCKER_MANIFEST],
    ['OCI image index', ociIdx, [oci, oci2], OCI_INDEX],
    ['Docker manifest list', dockerList, [docker, docker2], DOCKER_LIST],
  ];

  for (const [what, img, children, type] of cases) {
    it(`${what} by tag: 201 with Location and Docker-Content-Digest; GET/HEAD by tag and digest give its bytes and type`, async () => {
      for (const c of children) await reg.pushImage(repo, c);
      for (const b of img.blobs) await reg.pushBlob(repo, b);
      const tag = `tag-${type
        .split('.')
        .slice(-2)
        .join('-')
        .replace(/[^a-z0-9-]/g, '')}`;
      const r = await reg.putManifest(repo, tag, img.bytes, type);
      expectPushed(r, repo, img);
      await expectServed(reg, repo, tag, img, type);
      await expectServed(reg, repo, img.digest, img, type);
      const viaLocation = await http('GET', reg.url(r.headers.location));
      expect(viaLocation.body.equals(img.bytes)).toBe(true);
      expect(await reg.tags(repo)).toContain(tag);
    });
  }

  for (const [what, make, type] of [
    ['OCI image manifest', () => ociImage(), OCI_MANIFEST],
    ['Docker schema 2 manifest', () => dockerImage(), DOCKER_MANIFEST],
  ] as const) {
    it(`${what} by digest: 201, served by digest, no tag made`, async () => {
      const img = make();
      const tagsBefore = await reg.tags(repo);
      for (const b of img.blobs) await reg.pushBlob(repo, b);
      const r = await reg.putManifest(repo, img.digest, img.bytes, type);
      expectPushed(r, repo, img);
      await expectServed(reg, repo, img.digest, img, type);
      expect(await reg.tags(repo)).toEqual(tagsBefore);
    });
  }

  it('an index by digest whose children are in the repository: 201', async () => {
    const child = ociImage();
    await reg.pushImage(repo, child);
    const idx = indexOf([child]);
    expectPushed(await reg.putManifest(repo, idx.digest, idx.bytes, OCI_INDEX), repo, idx);
    await expectServed(reg, repo, idx.digest, idx, OCI_INDEX);
  });

  it('an image manifest with no layers and no mediaType field, typed by Content-Type: 201', async () => {
    const img = ociImage({ layers: [], omitMediaType: true });
    for (const b of img.blobs) await reg.pushBlob(repo, b);
    const r = await reg.putManifest(repo, 'emptylayer', img.bytes, OCI_MANIFEST);
    expectPushed(r, repo, img);
    await expectServed(reg, repo, 'emptylayer', img, OCI_MANIFEST);
  });

  it('pushing again to a tag moves it to the new manifest', async () => {
    const a = ociImage();
    const b = ociImage();
    await reg.pushImage(repo, a, 'moving');
    await reg.pushImage(repo, b, 'moving');
    const r = await reg.req('GET', `/v2/${repo}/manifests/moving`);
    expect(r.headers['docker-content-digest']).toBe(b.digest);
    // the first manifest stays, by digest
    expect((await reg.req('HEAD', `/v2/${repo}/manifests/${a.digest}`)).status).toBe(200);
  });
});

describe('bytes are kept exactly', () => {
  it('odd whitespace, key order and unicode escapes come back byte for byte; the digest is over those bytes', async () => {
    const img = ociImage();
    const layer = img.layers[0]!;
    const text =
      '{\n\t"layers" :[ {"size":' +
      layer.length +
      ',  "digest":"' +
      sha(layer) +
      '","mediaType":"' +
      OCI_LAYER +
      '"} ],\r\n  "config": {"size": ' +
      img.config!.length +
      ', "mediaType": "' +
      OCI_CONFIG +
      '", "digest": "' +
      sha(img.config!) +
      '"},\n"annotations": {"note": "caf\\u00e9 \u00e9"},   "schemaVersion":2 ,"mediaType":"' +
      OCI_MANIFEST +
      '"}\n\n';
    const bytes = Buffer.from(text, 'utf8');
    expect(JSON.stringify(JSON.parse(text))).not.toBe(text); // not the canonical form
    for (const b of img.blobs) await reg.pushBlob('exact/app', b);
    const r = await reg.putManifest('exact/app', 'odd', bytes, OCI_MANIFEST);
    expectPushed(r, 'exact/app', { digest: sha(bytes) });
    await expectServed(reg, 'exact/app', 'odd', { bytes, digest: sha(bytes) }, OCI_MANIFEST);
  });

  it('the Content-Type of a GET is the media type the manifest was pushed with, for every type', async () => {
    const repo = 'exact/types';
    const oci = ociImage();
    const docker = dockerImage();
    await reg.pushImage(repo, oci, 'oci');
    await reg.pushImage(repo, docker, 'docker');
    await reg.pushImage(repo, indexOf([oci]), 'index');
    await reg.pushImage(repo, indexOf([docker], { docker: true }), 'list');
    const types: Record<string, string> = {
      oci: OCI_MANIFEST,
      docker: DOCKER_MANIFEST,
      index: OCI_INDEX,
      list: DOCKER_LIST,
    };
    for (const [tag, type] of Object.entries(types)) {
      expect((await reg.req('GET', `/v2/${repo}/manifests/${tag}`)).headers['content-type'], tag).toBe(type);
    }
  });
});

describe('refusals', () => {
  const repo = 'refuse/app';

  it('Docker schema 1 (by field or by Content-Type): 400 MANIFEST_INVALID saying so', async () => {
    const v1 = Buffer.from(
      JSON.stringify({
        schemaVersion: 1,
        name: repo,
        tag: 'old',
        architecture: 'amd64',
        fsLayers: [],
        history: [],
      }),
    );
    for (const type of [
      'application/vnd.docker.distribution.manifest.v1+prettyjws',
      'application/vnd.docker.distribution.manifest.v1+json',
      'application/json',
    ]) {
      const e = refused(await reg.putManifest(repo, 'old', v1, type), 400, 'MANIFEST_INVALID');
      expect(e.message, type).toMatch(/schema 1/);
    }
    const typed = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.docker.distribution.manifest.v1+json',
        config: desc(DOCKER_CONFIG, Buffer.from('{}')),
        layers: [],
      }),
    );
    const e = refused(await reg.putManifest(repo, 'old', typed), 400, 'MANIFEST_INVALID');
    expect(e.message).toMatch(/schema 1/);
  });

  it('a missing layer (a sparse image, refused by design): 400 MANIFEST_BLOB_UNKNOWN naming its digest; no version, no tag', async () => {
    const img = ociImage({ n: 2 });
    await reg.pushBlob(repo, img.config!);
    await reg.pushBlob(repo, img.layers[0]!);
    const versions = await reg.versionCount(repo);
    const e = refused(
      await reg.putManifest(repo, 'v1', img.bytes, OCI_MANIFEST),
      400,
      'MANIFEST_BLOB_UNKNOWN',
    );
    const missing = sha(img.layers[1]!);
    expect(e.message).toContain(missing);
    expect(e.message).not.toContain(sha(img.layers[0]!));
    expect(e.detail?.missing).toEqual([missing]);
    expect(await reg.versionCount(repo)).toBe(versions);
    expect((await reg.req('GET', `/v2/${repo}/manifests/${img.digest}`)).status).toBe(404);
  });

  it('a missing config: 400 MANIFEST_BLOB_UNKNOWN naming it', async () => {
    const img = ociImage({ n: 1 });
    await reg.pushBlob(repo, img.layers[0]!);
    const e = refused(
      await reg.putManifest(repo, 'v1', img.bytes, OCI_MANIFEST),
      400,
      'MANIFEST_BLOB_UNKNOWN',
    );
    expect(e.message).toContain(sha(img.config!));
  });

  it('a digest in the URL that is not the digest of the body: 400 DIGEST_INVALID, nothing stored', async () => {
    const img = ociImage();
    for (const b of img.blobs) await reg.pushBlob(repo, b);
    const before = await snapshot(s.berth, s.data);
    const other = sha(randomBytes(16));
    const e = refused(await reg.putManifest(repo, other, img.bytes, OCI_MANIFEST), 400, 'DIGEST_INVALID');
    expect(e.message).toContain(img.digest);
    expect(await snapshot(s.berth, s.data)).toEqual(before);
  });

  it('a body that is not JSON: 400 MANIFEST_INVALID; with a malformed digest as reference: 400 DIGEST_INVALID', async () => {
    const bad = refused(
      await reg.putManifest(repo, 'v1', 'blablabla', OCI_MANIFEST),
      400,
      'MANIFEST_INVALID',
    );
    expect(bad.message).toMatch(/JSON/);
    refused(
      await reg.putManifest(repo, 'sha256:totallywrong', 'blablabla', OCI_MANIFEST),
      400,
      'DIGEST_INVALID',
    );
  });

  it('a manifest missing a field, or with a bad descriptor: 400 MANIFEST_INVALID naming the field', async () => {
    const noConfig = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, layers: [] }));
    expect(
      refused(await reg.putManifest(repo, 'v1', noConfig, OCI_MANIFEST), 400, 'MANIFEST_INVALID').message,
    ).toMatch(/config/);
    const badDigest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        config: { mediaType: OCI_CONFIG, digest: 'sha256:nothex', size: 2 },
        layers: [],
      }),
    );
    expect(
      refused(await reg.putManifest(repo, 'v1', badDigest, OCI_MANIFEST), 400, 'MANIFEST_INVALID').message,
    ).toMatch(/config\.digest/);
  });

  it('a Content-Type that contradicts the mediaType field: 400 MANIFEST_INVALID', async () => {
    const img = ociImage();
    for (const b of img.blobs) await reg.pushBlob(repo, b);
    refused(await reg.putManifest(repo, 'v1', img.bytes, DOCKER_MANIFEST), 400, 'MANIFEST_INVALID');
  });

  it('an invalid tag: 400 TAG_INVALID; an invalid name: 400 NAME_INVALID', async () => {
    const img = ociImage();
    refused(await reg.putManifest(repo, '-bad', img.bytes, OCI_MANIFEST), 400, 'TAG_INVALID');
    refused(await reg.putManifest('Bad/Name', 'v1', img.bytes, OCI_MANIFEST), 400, 'NAME_INVALID');
  });
});

describe('foreign layers', () => {
  it('a foreign layer with urls is accepted without its bytes; the manifest is served, the layer answers 404', async () => {
    const foreign = randomBytes(2048);
    const img = dockerImage({ foreign, n: 1 });
    for (const b of img.blobs) await reg.pushBlob('foreign/app', b); // never the foreign layer
    const r = await reg.putManifest('foreign/app', 'win', img.bytes, DOCKER_MANIFEST);
    expectPushed(r, 'foreign/app', img);
    await expectServed(reg, 'foreign/app', 'win', img, DOCKER_MANIFEST);
    expect((await reg.req('HEAD', `/v2/foreign/app/blobs/${sha(foreign)}`)).status).toBe(404);
  });

  it('a non-foreign layer that is missing is still refused next to a foreign one', async () => {
    const img = dockerImage({ foreign: randomBytes(64), n: 1 });
    await reg.pushBlob('foreign/app', img.config!);
    refused(
      await reg.putManifest('foreign/app', 'win2', img.bytes, DOCKER_MANIFEST),
      400,
      'MANIFEST_BLOB_UNKNOWN',
    );
  });
});

describe('subject', () => {
  it('a manifest with a subject answers with OCI-Subject; one without does not', async () => {
    const subject = ociImage();
    await reg.pushImage('subject/app', subject, 'base');
    const plain = await reg.pushImage('subject/app', ociImage());
    expect(plain.headers['oci-subject']).toBeUndefined();
    const ref = ociImage({ subject: descriptorOf(subject), artifactType: 'application/vnd.example.sig' });
    const r = await reg.pushImage('subject/app', ref);
    expect(r.headers['oci-subject']).toBe(subject.digest);
  });

  it('the subject need not exist in the repository', async () => {
    const missing = ociImage();
    const ref = ociImage({ subject: descriptorOf(missing) });
    const r = await reg.pushImage('subject/app', ref);
    expect(r.headers['oci-subject']).toBe(missing.digest);
  });
});

describe('versions', () => {
  it('each manifest push makes exactly one new version holding the manifest, its blobs and the tag', async () => {
    const repo = 'ver/app';
    const img = ociImage({ n: 2 });
    for (const b of img.blobs) await reg.pushBlob(repo, b);
    expect(await reg.versions(repo)).toEqual([]); // blobs alone make no version (nor the repository)
    await reg.putManifest(repo, 'v1', img.bytes, OCI_MANIFEST);
    let v = await reg.versions(repo);
    expect(v.map((x) => x.number)).toEqual([0, 1]);
    expect(v[1]).toMatchObject({ added: 5, removed: 0 }); // manifest, config, 2 layers, tag
    const content = await reg.versionContent(repo, 1);
    expect(content.manifests.map((m) => m.digest)).toEqual([img.digest]);
    expect(content.blobs.map((b) => b.digest).sort()).toEqual(img.blobs.map((b) => sha(b)).sort());
    expect(content.tags).toEqual([{ name: 'v1', digest: img.digest }]);
    // by digest, a second tag, and the same push again: one version each
    const other = ociImage({ layers: [img.layers[0]!] });
    await reg.pushImage(repo, other);
    await reg.putManifest(repo, 'v2', img.bytes, OCI_MANIFEST);
    await reg.putManifest(repo, 'v2', img.bytes, OCI_MANIFEST);
    v = await reg.versions(repo);
    expect(v.map((x) => x.number)).toEqual([0, 1, 2, 3, 4]);
    expect(v[2]).toMatchObject({ added: 2, removed: 0 }); // manifest, config (the layer is there)
    expect(v[3]).toMatchObject({ added: 1, removed: 0 }); // the tag
    expect(v[4]).toMatchObject({ added: 0, removed: 0 });
  });

  it('20 concurrent manifest pushes with different tags to one repository all succeed: 20 versions, 20 tags', async () => {
    const repo = 'ver/concurrent';
    const layer = randomBytes(1000);
    const images = Array.from({ length: 20 }, () => ociImage({ layers: [layer] }));
    await reg.pushBlob(repo, layer);
    for (const img of images) await reg.pushBlob(repo, img.config!);
    await reg.pushImage(repo, ociImage(), 'seed'); // the repository exists with its versions 0 and 1
    const before = await reg.versionCount(repo);
    const results = await Promise.all(
      images.map((img, i) =>
        reg.putManifest(repo, `t${String(i).padStart(2, '0')}`, img.bytes, OCI_MANIFEST),
      ),
    );
    for (const [i, r] of results.entries()) {
      expect(r.status, `push ${i}: ${r.body.toString()}`).toBe(201);
      expect(r.headers['docker-content-digest']).toBe(images[i]!.digest);
    }
    const versions = await reg.versions(repo);
    expect(versions.length - before).toBe(20);
    expect(versions.map((v) => v.number)).toEqual(versions.map((_, i) => i)); // no gap, no duplicate
    const tags = await reg.tags(repo);
    for (let i = 0; i < 20; i++) expect(tags).toContain(`t${String(i).padStart(2, '0')}`);
    for (const [i, img] of images.entries()) {
      const r = await reg.req('GET', `/v2/${repo}/manifests/t${String(i).padStart(2, '0')}`);
      expect(r.body.equals(img.bytes)).toBe(true);
    }
    // the shared layer is in the latest version
    expect((await reg.req('HEAD', `/v2/${repo}/blobs/${sha(layer)}`)).status).toBe(200);
  });

  it('one manifest pushed under 20 tags at once: 20 versions, all 20 tags on it', async () => {
    const repo = 'ver/same';
    const img = ociImage({ n: 1 });
    await reg.pushImage(repo, img, 'first');
    const before = await reg.versionCount(repo);
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) => reg.putManifest(repo, `s${i}`, img.bytes, OCI_MANIFEST)),
    );
    expect(results.map((r) => r.status)).toEqual(results.map(() => 201));
    expect((await reg.versionCount(repo)) - before).toBe(20);
    const tags = await reg.tags(repo);
    expect(tags.length).toBe(21);
    for (const t of tags) {
      const r = await reg.req('HEAD', `/v2/${repo}/manifests/${t}`);
      expect(r.headers['docker-content-digest'], t).toBe(img.digest);
    }
  });

  it('20 concurrent pushes creating a new repository all succeed', async () => {
    const repo = 'ver/fresh';
    const images = Array.from({ length: 20 }, () => ociImage({ n: 1 }));
    for (const img of images) for (const b of img.blobs) await reg.pushBlob(repo, b);
    const results = await Promise.all(
      images.map((img, i) => reg.putManifest(repo, `t${i}`, img.bytes, OCI_MANIFEST)),
    );
    expect(results.map((r) => r.status)).toEqual(results.map(() => 201));
    expect(await reg.versionCount(repo)).toBe(21);
    expect((await reg.tags(repo)).length).toBe(20);
  });
});

describe('temporary files', () => {
  it('manifest pushes, refused or not, leave nothing behind in the upload area', async () => {
    const img = ociImage();
    await reg.pushImage('tmp/app', img, 'v1');
    await reg.putManifest('tmp/app', 'v2', ociImage().bytes, OCI_MANIFEST); // refused: blobs missing
    expect(readdirSync(join(s.data, 'store', 'uploads'))).toEqual([]);
  });
});
