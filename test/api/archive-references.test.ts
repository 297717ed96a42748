// Archives checked as strictly as pushes: every file against the digest naming it, and an index's children by kind, one rule for both paths.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { startTestServer, http, type TestServer } from '../helpers/in-process.js';
import { dirImage, hex, sha, tarOf, type DirImage, type Entry } from '../helpers/images.js';
import { snapshot } from '../helpers/state.js';

const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

let s: TestServer;
/** an image whose manifest, config and layer the repository kinds/app holds */
let base: DirImage;
beforeAll(async () => {
  s = await startTestServer('archive-references');
  base = dirImage({ layers: [randomBytes(2000)] });
  expect((await upload('kinds/app', await tarOf(base.entries), 'base')).status).toBe(201);
});
afterAll(async () => s?.close());

const upload = (repo: string, body: Buffer, tag?: string) =>
  http('POST', `${s.url}/api/v1/repositories/${repo}/-/archives${tag ? `?tag=${tag}` : ''}`, body, {
    'content-type': 'application/x-tar',
  });
const putIndex = (repo: string, tag: string, bytes: Buffer) =>
  http('PUT', `${s.url}/v2/${repo}/manifests/${tag}`, bytes, { 'content-type': OCI_INDEX });
const getManifest = (repo: string, ref: string) =>
  http('GET', `${s.url}/v2/${repo}/manifests/${ref}`, undefined, {
    accept: `${OCI_INDEX}, ${OCI_MANIFEST}`,
  });

/** An OCI index naming `children` (digest and size; all as image manifests). */
function indexOf(children: { digest: string; size: number }[]): Buffer {
  return Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_INDEX,
      manifests: children.map((c) => ({ mediaType: OCI_MANIFEST, digest: c.digest, size: c.size })),
    }),
  );
}
const described = (img: DirImage) => ({ digest: img.digest, size: img.manifestBytes.length });

/** A multi-image skopeo dir: the index as manifest.json, each carried child as <hex>.manifest.json, its blobs. */
function multiDir(index: Buffer, carried: DirImage[], files: Record<string, Buffer> = {}): Entry[] {
  const entries: Entry[] = [
    { name: 'version', data: 'Directory Transport Version: 1.1\n' },
    { name: 'manifest.json', data: index },
  ];
  for (const img of carried) {
    entries.push({ name: `${hex(img.digest)}.manifest.json`, data: files[img.digest] ?? img.manifestBytes });
    entries.push({ name: hex(sha(img.config)), data: img.config });
    img.layers.forEach((l, i) => entries.push({ name: hex(img.layerDigests[i]!), data: l }));
  }
  return entries;
}

/** Runs `act`, expects a 400 with `code` whose message matches, and that nothing changed. */
async function refusedUnchanged(act: () => ReturnType<typeof http>, code: string, message: RegExp) {
  const before = await snapshot(s.berth, s.data);
  const r = await act();
  expect(r.status, r.body.toString()).toBe(400);
  const err = r.json().errors[0];
  expect(err.code).toBe(code);
  expect(err.message).toMatch(message);
  expect(await snapshot(s.berth, s.data)).toEqual(before);
  return err;
}

describe('every file of an archive is verified against the digest that names it', () => {
  it('a multi-image dir is accepted, its children pulled back by digest', async () => {
    const [a, b] = [dirImage(), dirImage()];
    const index = indexOf([described(a), described(b)]);
    const r = await upload('kinds/multi', await tarOf(multiDir(index, [a, b])), 'm');
    expect(r.status, r.body.toString()).toBe(201);
    for (const img of [a, b]) {
      const got = await getManifest('kinds/multi', img.digest);
      expect(got.status).toBe(200);
      expect(got.body.equals(img.manifestBytes)).toBe(true);
    }
  });

  it('a child <hex>.manifest.json holding other bytes of the same size: 400 DIGEST_INVALID, nothing changed', async () => {
    // a, b and c have one layer of 2000 bytes each: their manifests are of one size
    const [a, b, c] = [0, 1, 2].map(() => dirImage({ layers: [randomBytes(2000)] }));
    expect(c!.manifestBytes.length).toBe(a!.manifestBytes.length);
    const index = indexOf([described(a!), described(b!)]);
    const entries = multiDir(index, [a!, b!, c!], { [a!.digest]: c!.manifestBytes });
    const err = await refusedUnchanged(
      async () => upload('kinds/tampered', await tarOf(entries), 'x'),
      'DIGEST_INVALID',
      /does not match/,
    );
    expect(err.message).toContain(`${hex(a!.digest)}.manifest.json`);
    expect((await getManifest('kinds/tampered', 'x')).status).toBe(404);
  });
});

describe("an index's children: one check for a registry push and an archive upload", () => {
  const asBlobs = () => [
    { digest: sha(base.config), size: base.config.length },
    { digest: base.layerDigests[0]!, size: base.layers[0]!.length },
  ];
  const heldAsBlobs = /holds as blobs, not as manifests/;

  it('archive: a child left out that the repository holds only as a blob (a config, a layer): 400 MANIFEST_BLOB_UNKNOWN', async () => {
    for (const child of asBlobs()) {
      const index = indexOf([described(base), child]);
      const err = await refusedUnchanged(
        async () => upload('kinds/app', await tarOf(multiDir(index, [])), 'bad'),
        'MANIFEST_BLOB_UNKNOWN',
        heldAsBlobs,
      );
      expect(err.detail.missing).toEqual([child.digest]);
    }
  });

  it('registry: the same index pushed: the same 400 MANIFEST_BLOB_UNKNOWN, nothing changed', async () => {
    for (const child of asBlobs()) {
      const index = indexOf([described(base), child]);
      const err = await refusedUnchanged(
        () => putIndex('kinds/app', 'bad', index),
        'MANIFEST_BLOB_UNKNOWN',
        heldAsBlobs,
      );
      expect(err.detail.missing).toEqual([child.digest]);
      expect(err.message).toContain(child.digest);
    }
  });

  it('a blob pushed and awaiting its manifest counts as a blob on both paths: refused as a child', async () => {
    const pending = Buffer.from(JSON.stringify({ pushed: 'as a blob', n: randomBytes(8).toString('hex') }));
    const post = await http('POST', `${s.url}/v2/kinds/app/blobs/uploads/?digest=${sha(pending)}`, pending, {
      'content-type': 'application/octet-stream',
    });
    expect(post.status, post.body.toString()).toBe(201);
    const index = indexOf([described(base), { digest: sha(pending), size: pending.length }]);
    await refusedUnchanged(
      async () => upload('kinds/app', await tarOf(multiDir(index, [])), 'bad'),
      'MANIFEST_BLOB_UNKNOWN',
      heldAsBlobs,
    );
    await refusedUnchanged(() => putIndex('kinds/app', 'bad', index), 'MANIFEST_BLOB_UNKNOWN', heldAsBlobs);
  });

  it('children the repository does not hold at all (a sparse index): accepted on both paths, 404 there', async () => {
    const never = { digest: sha(randomBytes(32)), size: 500 };
    const index = indexOf([described(base), never]);
    const archived = await upload('kinds/app', await tarOf(multiDir(index, [])), 'sparse-archive');
    expect(archived.status, archived.body.toString()).toBe(201);
    expect((await putIndex('kinds/app', 'sparse-push', index)).status).toBe(201);
    for (const tag of ['sparse-archive', 'sparse-push']) {
      const got = await getManifest('kinds/app', tag);
      expect(got.status).toBe(200);
      expect(got.body.equals(index)).toBe(true);
    }
    expect((await getManifest('kinds/app', base.digest)).status).toBe(200);
    expect((await getManifest('kinds/app', never.digest)).status).toBe(404);
    // in a repository that holds none of them (another one holds base): accepted alike, the children 404 there
    expect((await upload('kinds/elsewhere', await tarOf(multiDir(index, [])), 'e')).status).toBe(201);
    expect((await putIndex('kinds/elsewhere-push', 'e', index)).status).toBe(201);
    for (const repo of ['kinds/elsewhere', 'kinds/elsewhere-push']) {
      expect((await getManifest(repo, 'e')).status).toBe(200);
      expect((await getManifest(repo, base.digest)).status).toBe(404);
    }
  });
});
