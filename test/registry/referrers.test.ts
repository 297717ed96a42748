// The referrers API over HTTP: an image index of the manifests whose subject is a digest, filtered by artifactType.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type HttpResult, type TestServer } from '../helpers/in-process.js';
import { sha } from '../helpers/images.js';
import {
  code,
  descriptorOf,
  indexOf,
  OCI_EMPTY,
  OCI_INDEX,
  OCI_MANIFEST,
  ociImage,
  Registry,
} from './oci.js';

let s: TestServer;
let reg: Registry;
const REPO = 'refs/app';
const TYPE_A = 'application/vnd.example.peanut.butter';
const TYPE_B = 'application/vnd.example.strawberry.jam';
const TYPE_INDEX = 'application/vnd.example.food.stand';
const KEY = 'org.example.test';
const empty = Buffer.from('{}');

const subject = ociImage({ n: 1 });
const absentSubject = ociImage({ n: 1 }); // never pushed
// config media type as the artifact type
const configA = ociImage({
  config: randomBytes(33),
  configType: TYPE_A,
  layers: [empty],
  subject: descriptorOf(subject),
  annotations: { [KEY]: 'config a' },
});
// artifactType field, empty config
const layerA = ociImage({
  config: empty,
  configType: OCI_EMPTY,
  layers: [randomBytes(40)],
  artifactType: TYPE_A,
  subject: descriptorOf(subject),
  annotations: { [KEY]: 'layer a' },
});
const layerB = ociImage({
  config: empty,
  configType: OCI_EMPTY,
  layers: [randomBytes(40)],
  artifactType: TYPE_B,
  subject: descriptorOf(subject),
  annotations: { [KEY]: 'layer b' },
});
// an index referrer, listing two of the others
const indexRef = indexOf([configA, layerA], {
  artifactType: TYPE_INDEX,
  subject: descriptorOf(subject),
  annotations: { [KEY]: 'index' },
});
// a referrer to a subject that is not in the repository
const orphan = ociImage({
  config: empty,
  configType: OCI_EMPTY,
  layers: [randomBytes(40)],
  artifactType: TYPE_B,
  subject: descriptorOf(absentSubject),
});

const referrers = (digest: string, query = '', repo = REPO) =>
  reg.req('GET', `/v2/${repo}/referrers/${digest}${query}`);

function index(r: HttpResult): {
  schemaVersion: number;
  mediaType: string;
  manifests: Record<string, unknown>[];
} {
  expect(r.status, r.body.toString()).toBe(200);
  expect(r.headers['content-type']).toBe(OCI_INDEX);
  const body = r.json();
  expect(body.schemaVersion).toBe(2);
  expect(body.mediaType).toBe(OCI_INDEX);
  expect(Array.isArray(body.manifests)).toBe(true);
  return body;
}

const digests = (body: { manifests: Record<string, unknown>[] }) =>
  body.manifests.map((m) => m.digest).sort();

beforeAll(async () => {
  s = await startTestServer('referrers');
  reg = new Registry(s.url);
  // referrers first, their subject after: the order of pushes must not matter
  for (const img of [configA, layerA]) {
    const r = await reg.pushImage(REPO, img);
    expect(r.headers['oci-subject']).toBe(subject.digest);
  }
  const r = await reg.pushImage(REPO, indexRef);
  expect(r.headers['oci-subject']).toBe(subject.digest);
  await reg.pushImage(REPO, subject, 'v1');
  for (const img of [layerB, orphan]) await reg.pushImage(REPO, img);
});
afterAll(async () => s?.close());

describe('GET /v2/<name>/referrers/<digest>', () => {
  it('a digest with no referrers: 200 with an empty image index, never 404', async () => {
    for (const digest of [sha('hello world'), configA.digest]) {
      const body = index(await referrers(digest));
      expect(body.manifests).toEqual([]);
    }
  });

  it('lists every referrer with mediaType, digest, size, artifactType and annotations', async () => {
    const r = await referrers(subject.digest);
    expect(r.headers['oci-filters-applied']).toBeUndefined();
    const body = index(r);
    expect(digests(body)).toEqual([configA.digest, layerA.digest, layerB.digest, indexRef.digest].sort());
    const byDigest = new Map(body.manifests.map((m) => [m.digest, m]));
    expect(byDigest.get(configA.digest)).toEqual({
      mediaType: OCI_MANIFEST,
      digest: configA.digest,
      size: configA.bytes.length,
      artifactType: TYPE_A, // the config's media type, as there is no artifactType field
      annotations: { [KEY]: 'config a' },
    });
    expect(byDigest.get(layerA.digest)).toEqual({
      mediaType: OCI_MANIFEST,
      digest: layerA.digest,
      size: layerA.bytes.length,
      artifactType: TYPE_A,
      annotations: { [KEY]: 'layer a' },
    });
    expect(byDigest.get(layerB.digest)).toMatchObject({
      artifactType: TYPE_B,
      annotations: { [KEY]: 'layer b' },
    });
    expect(byDigest.get(indexRef.digest)).toEqual({
      mediaType: OCI_INDEX,
      digest: indexRef.digest,
      size: indexRef.bytes.length,
      artifactType: TYPE_INDEX,
      annotations: { [KEY]: 'index' },
    });
  });

  it('a referrer whose subject is not in the repository is listed under that subject', async () => {
    const body = index(await referrers(absentSubject.digest));
    expect(body.manifests.map((m) => m.digest)).toEqual([orphan.digest]);
    expect(body.manifests[0]).not.toHaveProperty('annotations');
  });

  it('?artifactType= filters and says so with OCI-Filters-Applied: artifactType', async () => {
    const a = await referrers(subject.digest, `?artifactType=${encodeURIComponent(TYPE_A)}`);
    expect(a.headers['oci-filters-applied']).toBe('artifactType');
    expect(digests(index(a))).toEqual([configA.digest, layerA.digest].sort());
    const b = await referrers(subject.digest, `?artifactType=${encodeURIComponent(TYPE_B)}`);
    expect(b.headers['oci-filters-applied']).toBe('artifactType');
    expect(digests(index(b))).toEqual([layerB.digest]);
    const none = await referrers(
      subject.digest,
      `?artifactType=${encodeURIComponent('application/vnd.none')}`,
    );
    expect(none.headers['oci-filters-applied']).toBe('artifactType');
    expect(index(none).manifests).toEqual([]);
  });

  it('is scoped to the repository: the same referrers elsewhere are not listed', async () => {
    await reg.pushImage('refs/other', subject, 'v1');
    expect(index(await referrers(subject.digest, '', 'refs/other')).manifests).toEqual([]);
  });

  it('a referrer pushed by digest with ?tag= answers OCI-Subject and OCI-Tag, and is listed (one version)', async () => {
    const repo = 'refs/tagged';
    const base = ociImage();
    await reg.pushImage(repo, base, 'v1');
    const sig = ociImage({
      config: empty,
      configType: OCI_EMPTY,
      layers: [randomBytes(8)],
      artifactType: TYPE_A,
      subject: descriptorOf(base),
    });
    for (const b of sig.blobs) await reg.pushBlob(repo, b);
    const before = await reg.versionCount(repo);
    const r = await reg.putManifest(repo, `${sig.digest}?tag=sig&tag=sig-latest`, sig.bytes, OCI_MANIFEST);
    expect(r.status, r.body.toString()).toBe(201);
    expect(r.headers['oci-subject']).toBe(base.digest);
    expect(r.headers['oci-tag']).toBe('sig, sig-latest');
    expect(await reg.versionCount(repo)).toBe(before + 1);
    expect(digests(index(await referrers(base.digest, '', repo)))).toEqual([sig.digest]);
    expect(await reg.tags(repo)).toEqual(['sig', 'sig-latest', 'v1']);
  });

  it('a sparse index referrer (its children never pushed) is accepted and listed under its subject', async () => {
    const repo = 'refs/sparse';
    const base = ociImage();
    await reg.pushImage(repo, base, 'v1');
    const sparse = indexOf([ociImage(), ociImage()], {
      artifactType: TYPE_INDEX,
      subject: descriptorOf(base),
      annotations: { [KEY]: 'sparse' },
    });
    const r = await reg.putManifest(repo, sparse.digest, sparse.bytes, OCI_INDEX);
    expect(r.status, r.body.toString()).toBe(201);
    expect(r.headers['oci-subject']).toBe(base.digest);
    const body = index(await referrers(base.digest, '', repo));
    expect(body.manifests).toEqual([
      {
        mediaType: OCI_INDEX,
        digest: sparse.digest,
        size: sparse.bytes.length,
        artifactType: TYPE_INDEX,
        annotations: { [KEY]: 'sparse' },
      },
    ]);
  });

  it('a malformed digest: 400 DIGEST_INVALID', async () => {
    const r = await referrers('sha256:nothex');
    expect(r.status).toBe(400);
    expect(code(r)).toBe('DIGEST_INVALID');
  });

  it('a referrer deleted disappears from the list; its tagless siblings stay', async () => {
    const repo = 'refs/deleting';
    const base = ociImage();
    const sig = ociImage({
      config: empty,
      configType: OCI_EMPTY,
      layers: [randomBytes(8)],
      artifactType: TYPE_A,
      subject: descriptorOf(base),
    });
    const sbom = ociImage({
      config: empty,
      configType: OCI_EMPTY,
      layers: [randomBytes(8)],
      artifactType: TYPE_B,
      subject: descriptorOf(base),
    });
    await reg.pushImage(repo, base, 'v1');
    await reg.pushImage(repo, sig);
    await reg.pushImage(repo, sbom);
    expect(digests(index(await referrers(base.digest, '', repo)))).toEqual([sig.digest, sbom.digest].sort());
    const d = await reg.req('DELETE', `/v2/${repo}/manifests/${sig.digest}`);
    expect(d.status).toBe(202);
    expect(digests(index(await referrers(base.digest, '', repo)))).toEqual([sbom.digest]);
    // deleting the subject does not remove the referrers of its digest
    expect((await reg.req('DELETE', `/v2/${repo}/manifests/${base.digest}`)).status).toBe(202);
    expect(digests(index(await referrers(base.digest, '', repo)))).toEqual([sbom.digest]);
  });
});
