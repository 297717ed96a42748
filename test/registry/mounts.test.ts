// Cross-repository mounts and proof of ownership: a blob is visible, mountable and usable only where it is held.
import { randomBytes } from 'node:crypto';
import { unlinkSync } from 'node:fs';
import { join } from 'node:path';
import type { Digest } from '../../src/core/digest.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { http, startTestServer, type TestServer } from '../helpers/in-process.js';
import { sha } from '../helpers/images.js';
import { fileWithBytes } from '../helpers/blob-layout.js';
import { code, ociImage, Registry, sep } from './oci.js';

let s: TestServer;
let reg: Registry;
// held in a committed version of mount/full (pushed with a manifest)
const img = ociImage({ n: 1 });
const inVersion = img.layers[0]!;
// pushed into mount/pending, awaiting a manifest
const pending = randomBytes(777);

beforeAll(async () => {
  s = await startTestServer('mounts');
  reg = new Registry(s.url);
  await reg.pushImage('mount/full', img, 'v1');
  await reg.pushBlob('mount/pending', pending);
});
afterAll(async () => s?.close());

const head = (repo: string, digest: string) => reg.req('HEAD', `/v2/${repo}/blobs/${digest}`);
const mount = (repo: string, digest: string, from?: string) =>
  reg.req(
    'POST',
    `/v2/${repo}/blobs/uploads/?mount=${digest}${from === undefined ? '' : `&from=${from}`}`,
    undefined,
    { 'content-length': '0' },
  );

describe('HEAD/GET of a blob: only the repository holding it answers 200', () => {
  it('a blob pushed into this repository, not yet in a manifest: 200 with length and digest', async () => {
    const r = await head('mount/pending', sha(pending));
    expect(r.status).toBe(200);
    expect(r.headers['content-length']).toBe(String(pending.length));
    expect(r.headers['docker-content-digest']).toBe(sha(pending));
    const get = await reg.req('GET', `/v2/mount/pending/blobs/${sha(pending)}`);
    expect(get.body.equals(pending)).toBe(true);
  });

  it('a blob held only by another repository: 404 (HEAD without body, GET BLOB_UNKNOWN)', async () => {
    await reg.pushImage('mount/bystander', ociImage(), 'v1'); // the repository exists, with other content
    for (const [digest, holder] of [
      [sha(inVersion), 'mount/full'],
      [sha(pending), 'mount/pending'],
    ] as const) {
      expect((await head(holder, digest)).status).toBe(200);
      const r = await head('mount/bystander', digest);
      expect(r.status).toBe(404);
      expect(r.body.length).toBe(0);
      const get = await reg.req('GET', `/v2/mount/bystander/blobs/${digest}`);
      expect(get.status).toBe(404);
      expect(code(get)).toBe('BLOB_UNKNOWN');
    }
  });

  it('a blob nobody holds: HEAD 404; GET 404 BLOB_UNKNOWN, or NAME_UNKNOWN where the repository does not exist', async () => {
    expect((await head('mount/full', sha('hello world'))).status).toBe(404);
    const get = await reg.req('GET', `/v2/mount/full/blobs/${sha('hello world')}`);
    expect(get.status).toBe(404);
    expect(code(get)).toBe('BLOB_UNKNOWN');
    const noRepo = await reg.req('GET', `/v2/mount/nowhere/blobs/${sha('hello world')}`);
    expect(noRepo.status).toBe(404);
    expect(code(noRepo)).toBe('NAME_UNKNOWN');
  });
});

describe('GET of a blob whose bytes are gone from the store', () => {
  it('answers 404 BLOB_UNKNOWN with a whole error body, not a broken 200', async () => {
    const bytes = randomBytes(444);
    await reg.pushBlob('mount/lost-file', bytes);
    unlinkSync(fileWithBytes(join(s.data, 'store'), sha(bytes) as Digest)!);
    const r = await reg.req('GET', `/v2/mount/lost-file/blobs/${sha(bytes)}`);
    expect(r.status).toBe(404);
    expect(code(r)).toBe('BLOB_UNKNOWN');
    expect(r.json().errors[0].message).toContain('berth fsck');
  });
});

describe('POST /v2/<name>/blobs/uploads/?mount=<digest>&from=<repo>', () => {
  it('from a repository whose latest version holds the blob: 201 with Location and Docker-Content-Digest', async () => {
    const r = await mount('mount/dest1', sha(inVersion), 'mount/full');
    expect(r.status, r.body.toString()).toBe(201);
    expect(r.headers.location).toBe(`/v2/mount/dest1/blobs/${sha(inVersion)}`);
    expect(r.headers['docker-content-digest']).toBe(sha(inVersion));
    const get = await http('GET', reg.url(r.headers.location));
    expect(get.status).toBe(200);
    expect(get.body.equals(inVersion)).toBe(true);
  });

  it('from a repository where the blob was pushed and awaits a manifest: 201', async () => {
    const r = await mount('mount/dest2', sha(pending), 'mount/pending');
    expect(r.status).toBe(201);
    expect((await head('mount/dest2', sha(pending))).status).toBe(200);
  });

  it('a mounted blob can be used by a manifest of the destination', async () => {
    const other = ociImage({ layers: [inVersion] });
    await reg.pushBlob('mount/dest3', other.config!);
    const refused = await reg.putManifest('mount/dest3', 'v1', other.bytes, other.mediaType);
    expect(refused.status).toBe(400);
    expect(code(refused)).toBe('MANIFEST_BLOB_UNKNOWN');
    expect((await mount('mount/dest3', sha(inVersion), 'mount/full')).status).toBe(201);
    const r = await reg.putManifest('mount/dest3', 'v1', other.bytes, other.mediaType);
    expect(r.status, r.body.toString()).toBe(201);
  });

  it('from a repository lacking the blob (held elsewhere): 202 and a working upload session, no mount', async () => {
    const r = await mount('mount/dest4', sha(inVersion), 'mount/pending');
    expect(r.status).toBe(202);
    expect(r.headers.location).toMatch(/^\/v2\/mount\/dest4\/blobs\/uploads\/[^/]+$/);
    expect(r.headers.range).toBe('0-0');
    expect((await head('mount/dest4', sha(inVersion))).status).toBe(404);
    // the session is a normal one: the client uploads the bytes
    const put = await http(
      'PUT',
      `${reg.url(r.headers.location)}${sep(r.headers.location)}digest=${sha(inVersion)}`,
      inVersion,
      { 'content-type': 'application/octet-stream' },
    );
    expect(put.status).toBe(201);
    expect((await head('mount/dest4', sha(inVersion))).status).toBe(200);
  });

  it('from a repository that does not exist, or an invalid name: 202, no mount', async () => {
    for (const from of ['mount/nowhere', 'Not_A/Valid..Name']) {
      const r = await mount('mount/dest5', sha(inVersion), encodeURIComponent(from));
      expect(r.status, from).toBe(202);
      expect(r.headers.location).toMatch(/^\/v2\/mount\/dest5\/blobs\/uploads\//);
    }
    expect((await head('mount/dest5', sha(inVersion))).status).toBe(404);
  });

  it('a digest nobody holds: 202 and a session', async () => {
    const r = await mount('mount/dest6', sha('hello world'), 'mount/full');
    expect(r.status).toBe(202);
    expect(r.headers.location).toMatch(/^\/v2\/mount\/dest6\/blobs\/uploads\//);
  });

  it('?mount= without from: 202 and a session, never a mount, even when other repositories hold the blob', async () => {
    const r = await mount('mount/dest7', sha(inVersion));
    expect(r.status).toBe(202);
    expect(r.headers.location).toMatch(/^\/v2\/mount\/dest7\/blobs\/uploads\/[^/]+$/);
    expect((await head('mount/dest7', sha(inVersion))).status).toBe(404);
    const status = await http('GET', reg.url(r.headers.location));
    expect(status.status).toBe(204);
  });
});

describe('a blob whose row is gone is held by no repository (the state a mount racing cleanup could leave)', () => {
  /** A pending row for a blob whose row (and file) cleanup removed. */
  const ghost = async (repo: string, digest: string) =>
    s.berth.db.kysely
      .insertInto('pending_blobs')
      .values({ repository: repo, digest, created_at: Date.now() })
      .execute();

  it('a manifest naming it is refused with MANIFEST_BLOB_UNKNOWN; HEAD answers 404', async () => {
    const img2 = ociImage({ n: 1 });
    await reg.pushBlob('mount/ghost', img2.config!);
    await ghost('mount/ghost', sha(img2.layers[0]!));
    expect((await head('mount/ghost', sha(img2.layers[0]!))).status).toBe(404);
    const r = await reg.putManifest('mount/ghost', 'v1', img2.bytes, img2.mediaType);
    expect(r.status, r.body.toString()).toBe(400);
    expect(code(r)).toBe('MANIFEST_BLOB_UNKNOWN');
    expect(r.json().errors[0].detail.missing).toEqual([sha(img2.layers[0]!)]);
  });

  it('a mount from a repository whose pending blob has no row: 202 and a session, no mount', async () => {
    const lost = randomBytes(321);
    await ghost('mount/ghost-source', sha(lost));
    const r = await mount('mount/ghost-dest', sha(lost), 'mount/ghost-source');
    expect(r.status, r.body.toString()).toBe(202);
    const pending = await s.berth.db.kysely
      .selectFrom('pending_blobs')
      .select('digest')
      .where('repository', '=', 'mount/ghost-dest')
      .execute();
    expect(pending).toEqual([]);
  });

  it('a mount touches the blob, so that cleanup protects it anew', async () => {
    const bytes = randomBytes(333);
    await reg.pushBlob('mount/touch-source', bytes);
    await s.berth.db.kysely
      .updateTable('blobs')
      .set({ touched_at: 1 })
      .where('digest', '=', sha(bytes))
      .execute();
    expect((await mount('mount/touch-dest', sha(bytes), 'mount/touch-source')).status).toBe(201);
    const row = await s.berth.db.kysely
      .selectFrom('blobs')
      .select('touched_at')
      .where('digest', '=', sha(bytes))
      .executeTakeFirstOrThrow();
    expect(Number(row.touched_at)).toBeGreaterThan(Date.now() - 60_000);
  });
});
