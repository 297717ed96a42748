// Chunked blob uploads whose chunks land on different instances sharing one database and store, on every backend.
import { createHash, randomBytes } from 'node:crypto';
import type { S3Client } from '@aws-sdk/client-s3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openBerth, type Berth } from '../../src/app.js';
import { buildServer } from '../../src/server.js';
import { backends, removeTestDatabase, testDatabaseUrl, type Backend } from '../helpers/backend.js';
import { ADMIN, http, type HttpResult } from '../helpers/in-process.js';
import { sha } from '../helpers/images.js';
import { dataStoreLocation, releaseDataStore, storeKeys, unfinishedKeys } from '../helpers/data-store.js';
import type { BlobStore } from '../../src/storage/blob-store.js';
import { S3BlobStore } from '../../src/storage/s3-blob-store.js';
import { Keys } from '../../src/storage/cas.js';

/** What a store is asked to read or copy: its reader's keys, and (S3) the reading and copying requests' keys. */
function watchReads(store: BlobStore, into: string[]): void {
  const reader = store.reader.bind(store);
  store.reader = (key, range) => {
    into.push(`reader ${key}`);
    return reader(key, range);
  };
  if (!(store instanceof S3BlobStore)) return;
  (store.client as S3Client).middlewareStack.add(
    (next, context) => async (args) => {
      const name = context.commandName ?? '?';
      if (name === 'GetObjectCommand' || name === 'UploadPartCopyCommand' || name === 'CopyObjectCommand') {
        into.push(`${name} ${(args.input as { Key?: string }).Key ?? ''}`);
      }
      return next(args);
    },
    { step: 'initialize', name: 'berthTestWatchReads' },
  );
}

describe.each(backends())('chunks of one upload on two instances (%s)', (backend: Backend) => {
  let database: string;
  let data: string;
  const apps: FastifyInstance[] = [];
  const berths: Berth[] = [];
  const urls: string[] = [];
  /** what either instance's store read or copied */
  const reads: string[] = [];
  beforeAll(async () => {
    database = await testDatabaseUrl(`chunks-${backend}`, backend);
    data = mkdtempSync(join(tmpdir(), 'chunks-'));
    // BERTH_TEST_STORE=s3: both on the data folder's bucket
    const s3 = await dataStoreLocation(data);
    for (let i = 0; i < 2; i++) {
      const berth = await openBerth({ data, database, ...(s3 ? { s3 } : {}) });
      watchReads(berth.store, reads);
      berths.push(berth);
      await berth.auth.users.ensureAdmin(ADMIN.password);
      const app = buildServer(berth, { logLevel: 'silent' });
      await app.listen({ host: '127.0.0.1', port: 0 });
      const addr = app.server.address();
      urls.push(`http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`);
      apps.push(app);
    }
  });
  afterAll(async () => {
    for (const app of apps) await app.close();
    rmSync(data, { recursive: true, force: true });
    await releaseDataStore(data);
    if (database) await removeTestDatabase(database);
  });

  const REPO = 'chunks/across';
  const octet = { 'content-type': 'application/octet-stream' };

  /** POSTs on instance `on[0]`, PATCHes chunk i on instance `on[i + 1]`; returns the session's path. */
  async function upload(chunks: Buffer[], on: number[]): Promise<string> {
    const start = await http('POST', `${urls[on[0]!]}/v2/${REPO}/blobs/uploads/`);
    expect(start.status).toBe(202);
    let path = String(start.headers.location);
    let at = 0;
    for (const [i, c] of chunks.entries()) {
      const r: HttpResult = await http('PATCH', `${urls[on[i + 1]!]}${path}`, c, {
        ...octet,
        'content-range': `${at}-${at + c.length - 1}`,
      });
      expect(r.status, r.body.toString()).toBe(202);
      at += c.length;
      expect(r.headers.range).toBe(`0-${at - 1}`);
      path = String(r.headers.location);
    }
    return path;
  }

  it('finishes on the instance that did not take the last chunk, with the right digest', async () => {
    const chunks = [randomBytes(70_000), randomBytes(50_000), randomBytes(30_000), randomBytes(10_000)];
    const blob = Buffer.concat(chunks);
    // A, B, A, B: each instance goes on from the hash state the other saved with the session
    const path = await upload(chunks, [0, 0, 1, 0, 1]);
    const put = await http('PUT', `${urls[0]}${path}?digest=${sha(blob)}`);
    expect(put.status, put.body.toString()).toBe(201);
    for (const url of urls) {
      const get = await http('GET', `${url}/v2/${REPO}/blobs/${sha(blob)}`);
      expect(get.status).toBe(200);
      expect(get.body.equals(blob)).toBe(true);
    }
  });

  // S3: the saved sha256 state lets any instance go on; files (objects that grow in place): the running hash is
  // node:crypto's, kept by the instance that took the last chunk, and a chunk on the other one re-reads the bytes
  it('takes many chunks alternating between the instances and (S3) reads none of the bytes back to hash them', async () => {
    const inPlace = berths[0]!.store.appendsInPlace;
    const MiB = 1024 * 1024;
    const chunks = [
      ...Array.from({ length: 12 }, () => randomBytes(MiB)),
      randomBytes(7 * MiB),
      randomBytes(7 * MiB),
      randomBytes(3 * MiB),
    ];
    const blob = Buffer.concat(chunks);
    reads.length = 0;
    const path = await upload(
      chunks,
      Array.from({ length: chunks.length + 1 }, (_, i) => i % 2),
    );
    const id = /uploads\/([^/?]+)/.exec(path)![1]!;
    // no store read the upload (S3: no GetObject but of the tail under 5 MiB, no UploadPartCopy) during the PATCHes;
    // files: one read back of the object per chunk that changed instance (all but the first)
    expect(reads.filter((r) => !/^GetObjectCommand \S*\.tail-\d+$/.test(r))).toEqual(
      inPlace ? Array.from({ length: chunks.length - 1 }, () => `reader ${Keys.upload(id)}`) : [],
    );
    reads.length = 0;
    const put = await http('PUT', `${urls[1]}${path}?digest=${sha(blob)}`);
    expect(put.status, put.body.toString()).toBe(201);
    expect(put.headers['docker-content-digest']).toBe(sha(blob));
    // finishing (on the instance that took the last chunk) read no byte back either (S3: the tail becomes the last
    // part by a copy inside S3)
    expect(
      reads.filter(
        (r) => r.startsWith('reader') || (r.startsWith('GetObjectCommand') && !r.includes('.tail-')),
      ),
    ).toEqual([]);
    const get = await http('GET', `${urls[0]}/v2/${REPO}/blobs/${sha(blob)}`);
    expect(get.status).toBe(200);
    expect(get.body.equals(blob)).toBe(true);
  });

  it('hashes chunks that stay on one instance as they come, reading none back (every store)', async () => {
    const chunks = [randomBytes(6 * 1024 * 1024), randomBytes(1000), randomBytes(70_000)];
    const blob = Buffer.concat(chunks);
    reads.length = 0;
    const path = await upload(chunks, [0, 0, 0, 0]);
    const put = await http('PUT', `${urls[0]}${path}?digest=${sha(blob)}`);
    expect(put.status, put.body.toString()).toBe(201);
    expect(
      reads.filter(
        (r) => r.startsWith('reader') || (r.startsWith('GetObjectCommand') && !r.includes('.tail-')),
      ),
    ).toEqual([]);
  });

  it('the sweep that expires sessions takes their bytes: parts, tail and (S3) multipart upload', async () => {
    const path = await upload([randomBytes(6 * 1024 * 1024), randomBytes(1000)], [0, 1, 0]);
    const id = /uploads\/([^/?]+)/.exec(path)![1]!;
    expect((await storeKeys(data, Keys.objectDir(id))).length).toBeGreaterThan(0);
    // the other instance's sweep, a day later (the default expiry: 24 h untouched)
    expect(await berths[1]!.uploads.expire(Date.now() + 25 * 3600_000)).toBeGreaterThanOrEqual(1);
    for (const dir of [Keys.uploadDir(id), Keys.objectDir(id)]) {
      expect(await storeKeys(data, dir)).toEqual([]);
      expect(await unfinishedKeys(data, dir)).toEqual([]);
    }
    expect((await http('GET', `${urls[0]}${path}`)).status).toBe(404);
  });

  it('finishes on an instance that saw none of the chunks', async () => {
    const chunks = [randomBytes(40_000), randomBytes(40_000)];
    const blob = Buffer.concat(chunks);
    const path = await upload(chunks, [0, 0, 0]);
    const put = await http('PUT', `${urls[1]}${path}?digest=${sha(blob)}`);
    expect(put.status, put.body.toString()).toBe(201);
    expect((await http('GET', `${urls[0]}/v2/${REPO}/blobs/${sha(blob)}`)).body.equals(blob)).toBe(true);
  });

  it('finishes a sha512 upload on the other instance, which re-hashes the file it holds with sha512', async () => {
    const chunks = [randomBytes(40_000), randomBytes(30_000)];
    const blob = Buffer.concat(chunks);
    const d = `sha512:${createHash('sha512').update(blob).digest('hex')}`;
    const path = await upload(chunks, [0, 0, 1]);
    const last = randomBytes(10_000);
    const whole = Buffer.concat([blob, last]);
    const dw = `sha512:${createHash('sha512').update(whole).digest('hex')}`;
    const put = await http('PUT', `${urls[0]}${path}?digest=${dw}`, last, octet);
    expect(put.status, put.body.toString()).toBe(201);
    expect(put.headers['docker-content-digest']).toBe(dw);
    expect((await http('GET', `${urls[1]}/v2/${REPO}/blobs/${dw}`)).body.equals(whole)).toBe(true);
    // the same chunks finished with the wrong algorithm's digest name the sha512 actually found
    const again = await upload(chunks, [1, 1, 0]);
    const wrong = `sha512:${'0'.repeat(128)}`;
    const bad = await http('PUT', `${urls[1]}${again}?digest=${wrong}`);
    expect(bad.status).toBe(400);
    expect(bad.json().errors[0].detail).toEqual({ digest: wrong, actual: d });
  });

  it('computes the digest of exactly the bytes sent when the client names a wrong one', async () => {
    const chunks = [randomBytes(20_000), randomBytes(20_000), randomBytes(20_000)];
    const blob = Buffer.concat(chunks);
    const path = await upload(chunks, [1, 0, 1, 0]);
    const wrong = sha(Buffer.from('something else'));
    const put = await http('PUT', `${urls[1]}${path}?digest=${wrong}`);
    expect(put.status).toBe(400);
    expect(put.json().errors[0].code).toBe('DIGEST_INVALID');
    expect(put.json().errors[0].detail).toEqual({ digest: wrong, actual: sha(blob) });
  });
});
