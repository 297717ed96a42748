// sha512 digests wherever sha256 works: uploads, mounts, manifests, indexes, referrers, deletes, cleanup, fsck.
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Digest } from '../../src/core/digest.js';
import { Keys } from '../../src/storage/cas.js';
import { http, startTestServer, type TestServer } from '../helpers/in-process.js';
import { storeFiles } from '../helpers/store-files.js';
import { fileWithBytes, toContentAddress } from '../helpers/blob-layout.js';
import { join } from 'node:path';
import { code, OCI_CONFIG, OCI_INDEX, OCI_LAYER, OCI_MANIFEST, Registry, sep } from './oci.js';

const s512 = (b: Buffer | string): string => `sha512:${createHash('sha512').update(b).digest('hex')}`;
const s256 = (b: Buffer | string): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const octet = { 'content-type': 'application/octet-stream' };

let s: TestServer;
let reg: Registry;
const files = storeFiles(() => s.data);
beforeAll(async () => {
  s = await startTestServer('sha512');
  reg = new Registry(s.url);
});
afterAll(async () => s?.close());

/** the file holding a blob's bytes (its upload's object, or its content address), or where it would be */
const fileOf = (d: string) =>
  fileWithBytes(join(s.data, 'store'), d as Digest) ?? files.file(Keys.blob(d as Digest));
const cleanup = () =>
  http('POST', `${s.url}/api/v1/cleanup`, JSON.stringify({ protectionSeconds: 0 }), {
    'content-type': 'application/json',
  });

/** POST ?digest=sha512:… with the blob: 201. */
async function pushBlob512(repo: string, bytes: Buffer): Promise<string> {
  const r = await reg.req('POST', `/v2/${repo}/blobs/uploads/?digest=${s512(bytes)}`, bytes, octet);
  expect(r.status, r.body.toString()).toBe(201);
  return s512(bytes);
}

const d512 = (mediaType: string, bytes: Buffer, extra: Record<string, unknown> = {}) => ({
  mediaType,
  digest: s512(bytes),
  size: bytes.length,
  ...extra,
});

/** An OCI image whose config and layers are named by sha512 digests, pushed; returns its manifest bytes. */
async function image512(repo: string, extra: Record<string, unknown> = {}): Promise<Buffer> {
  const layer = randomBytes(600);
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', n: Math.random() }));
  await pushBlob512(repo, config);
  await pushBlob512(repo, layer);
  return Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: d512(OCI_CONFIG, config),
      layers: [d512(OCI_LAYER, layer)],
      ...extra,
    }),
  );
}

describe('sha512 blob uploads', () => {
  it("monolithic POST ?digest=sha512: stored at its upload's object, mapped from its digest, pulled by it", async () => {
    const blob = randomBytes(5000);
    const d = s512(blob);
    const r = await reg.req('POST', `/v2/s512/blobs/blobs/uploads/?digest=${d}`, blob, octet);
    expect(r.status, r.body.toString()).toBe(201);
    expect(r.headers['docker-content-digest']).toBe(d);
    expect(r.headers.location).toBe(`/v2/s512/blobs/blobs/${d}`);
    const mapped = await s.berth.db.kysely
      .selectFrom('blobs')
      .select('object_key')
      .where('digest', '=', d)
      .executeTakeFirstOrThrow();
    expect(mapped.object_key).toMatch(/^objects\//);
    expect(fileOf(d)).toBe(files.file(mapped.object_key!));
    const get = await reg.req('GET', `/v2/s512/blobs/blobs/${d}`);
    expect(get.status).toBe(200);
    expect(get.headers['docker-content-digest']).toBe(d);
    expect(get.body.equals(blob)).toBe(true);
    expect((await reg.req('HEAD', `/v2/s512/blobs/blobs/${s256(blob)}`)).status).toBe(404);
  });

  it('POST then PUT with the body, and chunked PATCHes then PUT ?digest=sha512', async () => {
    const one = randomBytes(3000);
    const start = await reg.startSession('s512/blobs');
    const put = await http(
      'PUT',
      `${reg.url(start.headers.location)}${sep(start.headers.location)}digest=${s512(one)}`,
      one,
      octet,
    );
    expect(put.status, put.body.toString()).toBe(201);

    const chunks = [randomBytes(70_000), randomBytes(1), randomBytes(30_000)];
    const blob = Buffer.concat(chunks);
    let loc = (await reg.startSession('s512/blobs')).headers.location;
    let at = 0;
    for (const c of chunks) {
      const r = await http('PATCH', reg.url(loc), c, {
        ...octet,
        'content-range': `${at}-${at + c.length - 1}`,
      });
      expect(r.status, r.body.toString()).toBe(202);
      at += c.length;
      loc = r.headers.location;
    }
    const last = randomBytes(100);
    const whole = Buffer.concat([blob, last]);
    const fin = await http('PUT', `${reg.url(loc)}${sep(loc)}digest=${s512(whole)}`, last, octet);
    expect(fin.status, fin.body.toString()).toBe(201);
    expect((await reg.req('GET', `/v2/s512/blobs/blobs/${s512(whole)}`)).body.equals(whole)).toBe(true);
    expect((await reg.req('HEAD', `/v2/s512/blobs/blobs/${s512(one)}`)).status).toBe(200);
  });

  it('a wrong sha512 digest: DIGEST_INVALID naming the actual sha512 of the bytes, nothing stored', async () => {
    const blob = randomBytes(1000);
    const wrong = s512('something else');
    const r = await reg.req('POST', `/v2/s512/blobs/blobs/uploads/?digest=${wrong}`, blob, octet);
    expect(r.status).toBe(400);
    expect(r.json().errors[0].code).toBe('DIGEST_INVALID');
    expect(r.json().errors[0].detail).toEqual({ digest: wrong, actual: s512(blob) });
    expect(existsSync(fileOf(wrong))).toBe(false);
    expect(existsSync(fileOf(s512(blob)))).toBe(false);
  });

  it('an unknown algorithm answers DIGEST_INVALID naming it, everywhere a digest is taken', async () => {
    const sha384 = `sha384:${'ab'.repeat(48)}`;
    const answers = [
      await reg.req('POST', `/v2/s512/blobs/blobs/uploads/?digest=${sha384}`, 'x', octet),
      await reg.req('GET', `/v2/s512/blobs/blobs/${sha384}`),
      await reg.req('GET', `/v2/s512/blobs/manifests/${sha384}`),
      await reg.req('PUT', `/v2/s512/blobs/manifests/${sha384}`, '{}', { 'content-type': OCI_MANIFEST }),
      await reg.req('GET', `/v2/s512/blobs/referrers/${sha384}`),
    ];
    for (const r of answers) {
      expect(r.status, r.body.toString()).toBe(400);
      expect(code(r)).toBe('DIGEST_INVALID');
      expect(r.json().errors[0].message).toContain('unsupported algorithm sha384');
    }
  });

  it('mounts a sha512 blob from a repository holding it', async () => {
    const blob = randomBytes(2000);
    const d = await pushBlob512('s512/source', blob);
    const r = await reg.req('POST', `/v2/s512/target/blobs/uploads/?mount=${d}&from=s512/source`, undefined, {
      'content-length': '0',
    });
    expect(r.status, r.body.toString()).toBe(201);
    expect(r.headers['docker-content-digest']).toBe(d);
    expect((await reg.req('GET', `/v2/s512/target/blobs/${d}`)).body.equals(blob)).toBe(true);
  });
  it('the management API answers which sha512 blobs the latest version of a repository holds (blobs/present)', async () => {
    const m = await image512('s512/present');
    expect((await reg.putManifest('s512/present', s512(m), m, OCI_MANIFEST)).status).toBe(201);
    const held = JSON.parse(m.toString()).layers[0].digest as string;
    const absent = s512('absent');
    const r = await http(
      'POST',
      `${s.url}/api/v1/repositories/s512/present/-/blobs/present`,
      JSON.stringify({ digests: [held, absent] }),
      { 'content-type': 'application/json' },
    );
    expect(r.status, r.body.toString()).toBe(200);
    expect(r.json().present).toEqual([held]);
  });
});

describe('sha512 manifests, indexes and referrers', () => {
  it('a manifest pushed by its sha512 digest is stored under it; its sha256 names nothing', async () => {
    const m = await image512('s512/app');
    const d = s512(m);
    const put = await reg.putManifest('s512/app', d, m, OCI_MANIFEST);
    expect(put.status, put.body.toString()).toBe(201);
    expect(put.headers['docker-content-digest']).toBe(d);
    expect(put.headers.location).toBe(`/v2/s512/app/manifests/${d}`);
    expect(existsSync(fileOf(d))).toBe(true);
    const get = await reg.req('GET', `/v2/s512/app/manifests/${d}`, undefined, { accept: OCI_MANIFEST });
    expect(get.status).toBe(200);
    expect(get.headers['docker-content-digest']).toBe(d);
    expect(get.body.equals(m)).toBe(true);
    expect((await reg.req('GET', `/v2/s512/app/manifests/${s256(m)}`)).status).toBe(404);
  });

  it('a manifest whose bytes do not hash to the sha512 of the URL is refused', async () => {
    const m = await image512('s512/app');
    const wrong = s512('other');
    const put = await reg.putManifest('s512/app', wrong, m, OCI_MANIFEST);
    expect(put.status).toBe(400);
    expect(code(put)).toBe('DIGEST_INVALID');
    expect(put.json().errors[0].detail).toEqual({ digest: wrong, actual: s512(m) });
  });

  it('an index naming its children by sha512, pushed by tag and by sha512 digest', async () => {
    const a = await image512('s512/multi');
    const b = await image512('s512/multi');
    for (const m of [a, b])
      expect((await reg.putManifest('s512/multi', s512(m), m, OCI_MANIFEST)).status).toBe(201);
    const index = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_INDEX,
        manifests: [d512(OCI_MANIFEST, a), d512(OCI_MANIFEST, b)],
      }),
    );
    expect((await reg.putManifest('s512/multi', 'v1', index, OCI_INDEX)).status).toBe(201);
    const put = await reg.putManifest('s512/multi', s512(index), index, OCI_INDEX);
    expect(put.status, put.body.toString()).toBe(201);
    expect(put.headers['docker-content-digest']).toBe(s512(index));
    const get = await reg.req('GET', `/v2/s512/multi/manifests/v1`, undefined, { accept: OCI_INDEX });
    expect(get.body.equals(index)).toBe(true);
    // pushed by tag, an index is named by its sha256
    expect(get.headers['docker-content-digest']).toBe(s256(index));
  });

  it('referrers of a sha512 subject, themselves pushed by sha512 digest', async () => {
    const subject = await image512('s512/refs');
    expect((await reg.putManifest('s512/refs', s512(subject), subject, OCI_MANIFEST)).status).toBe(201);
    const sig = await image512('s512/refs', {
      artifactType: 'application/vnd.example.sig',
      subject: d512(OCI_MANIFEST, subject),
    });
    const put = await reg.putManifest('s512/refs', s512(sig), sig, OCI_MANIFEST);
    expect(put.status, put.body.toString()).toBe(201);
    expect(put.headers['oci-subject']).toBe(s512(subject));
    const r = await reg.req('GET', `/v2/s512/refs/referrers/${s512(subject)}`);
    expect(r.status).toBe(200);
    expect(r.json().manifests).toEqual([
      expect.objectContaining({ digest: s512(sig), artifactType: 'application/vnd.example.sig' }),
    ]);
  });
});

describe('deletes, cleanup and fsck of sha512 content', () => {
  it('deletes a manifest and a blob by sha512; cleanup then removes their files', async () => {
    const m = await image512('s512/del');
    const d = s512(m);
    expect((await reg.putManifest('s512/del', d, m, OCI_MANIFEST)).status).toBe(201);
    const layer = JSON.parse(m.toString()).layers[0].digest as string;
    expect((await reg.req('DELETE', `/v2/s512/del/manifests/${d}`)).status).toBe(202);
    expect((await reg.req('GET', `/v2/s512/del/manifests/${d}`)).status).toBe(404);
    const orphan = await pushBlob512('s512/del', randomBytes(321));
    expect((await reg.req('DELETE', `/v2/s512/del/blobs/${orphan}`)).status).toBe(202);
    expect((await reg.req('HEAD', `/v2/s512/del/blobs/${orphan}`)).status).toBe(404);
    // only history names them now: drop it, then cleanup lets the files go
    const retain = await http(
      'PATCH',
      `${s.url}/api/v1/repositories/s512/del`,
      JSON.stringify({ retainVersions: 1 }),
      { 'content-type': 'application/json' },
    );
    expect(retain.status, retain.body.toString()).toBe(200);
    const r = (await cleanup()).json();
    expect(r.digests).toEqual(expect.arrayContaining([d, orphan]));
    for (const gone of [d, orphan]) expect(existsSync(fileOf(gone))).toBe(false);
    // no manifest references the layers any more: they left the repository's latest version, and their bytes went
    expect(r.repositories).toEqual(
      expect.arrayContaining([expect.objectContaining({ repository: 's512/del' })]),
    );
    expect(r.digests).toContain(layer);
    expect(existsSync(fileOf(layer))).toBe(false);
  });

  it('cleanup removes an old stray under blobs/sha512/ and keeps files of held sha512 blobs', async () => {
    const kept = await pushBlob512('s512/keep', randomBytes(100));
    const stray = randomBytes(200);
    files.put(Keys.blob(s512(stray) as Digest), stray, 2 * 3600_000);
    const r = (await cleanup()).json();
    expect(r.removed.strayFiles).toBe(1);
    expect(r.digests).not.toContain(kept);
    expect(existsSync(fileOf(s512(stray)))).toBe(false);
    expect(existsSync(fileOf(kept))).toBe(true);
  });

  it('a held sha512 blob a dead cleanup left in trash/ is put back by the next cleanup', async () => {
    const bytes = randomBytes(300);
    const d = (await pushBlob512('s512/trash', bytes)) as Digest;
    await toContentAddress(s.berth.db.kysely, s.berth.store, d); // trash/ holds content addresses only
    files.put(Keys.trash('dead-cleanup', d), bytes);
    await s.berth.store.delete(Keys.blob(d));
    expect(existsSync(fileOf(d))).toBe(false);
    expect((await cleanup()).status).toBe(200);
    expect(existsSync(files.file(Keys.trash('dead-cleanup', d)))).toBe(false);
    expect((await reg.req('GET', `/v2/s512/trash/blobs/${d}`)).body.equals(bytes)).toBe(true);
  });

  it('fsck --verify hashes sha512 blobs with sha512: clean, then a damaged file is found', async () => {
    const bytes = randomBytes(400);
    const d = await pushBlob512('s512/fsck', bytes);
    const before = await s.berth.fsck.run({ verify: true });
    expect(before.problems.filter((p) => p.digest?.startsWith('sha512:'))).toEqual([]);
    const damaged = Buffer.from(bytes);
    damaged[0] = damaged[0]! ^ 0xff;
    const file = fileOf(d);
    writeFileSync(file, damaged);
    const after = await s.berth.fsck.run({ verify: true });
    expect(after.problems).toEqual([
      expect.objectContaining({
        kind: 'blob-digest-wrong',
        digest: d,
        detail: expect.stringContaining(s512(damaged)),
      }),
    ]);
    writeFileSync(file, bytes);
  });

  it('fsck reports an old stray under blobs/sha512/ as a stray, not as junk', async () => {
    const stray = randomBytes(50);
    const key = Keys.blob(s512(stray) as Digest);
    files.put(key, stray, 2 * 3600_000);
    const r = await s.berth.fsck.run({});
    expect(r.problems).toEqual([expect.objectContaining({ key, digest: s512(stray) })]);
  });
});
