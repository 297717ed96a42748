// Covers no copy at commit (issue 15) on files, memory and S3 (RGW): an upload's object is mapped, never moved.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { openDatabase, type Db } from '../../src/db/connect.js';
import { openBerth } from '../../src/app.js';
import { dirImage, tarOf } from '../helpers/images.js';
import { sha256, type Digest } from '../../src/core/digest.js';
import type { BlobStore } from '../../src/storage/blob-store.js';
import { FsBlobStore } from '../../src/storage/fs-blob-store.js';
import { MemoryBlobStore } from '../../src/storage/memory-blob-store.js';
import type { S3BlobStore } from '../../src/storage/s3-blob-store.js';
import { Keys } from '../../src/storage/cas.js';
import { Uploads } from '../../src/repo/uploads.js';
import { Blobs } from '../../src/repo/blobs.js';
import { Cleanup } from '../../src/gc/cleanup.js';
import { Fsck } from '../../src/gc/fsck/index.js';
import { backends, removeTestDatabase, testDatabaseUrl } from '../helpers/backend.js';
import { blobKey, toContentAddress } from '../helpers/blob-layout.js';
import { countRequests, createTestBucket, removeTestBucket, s3Available, testStore } from '../helpers/s3.js';

const s3 = await s3Available();
let bucket = '';
beforeAll(async () => {
  if (s3) bucket = await createTestBucket('nocopy');
});
afterAll(async () => {
  if (bucket) await removeTestBucket(bucket);
});

type Kind = 'files' | 'memory' | 's3';
const kinds: Kind[] = s3 ? ['files', 'memory', 's3'] : ['files', 'memory'];
const cases = backends().flatMap((b) => kinds.map((k) => [b, k] as const));

describe.each(cases)('no copy at commit on %s, %s store', (backend, kind) => {
  let dir: string;
  let url: string;
  let db: Db;
  let store: BlobStore;
  let uploads: Uploads;
  let blobs: Blobs;

  const all = async (prefix = ''): Promise<string[]> => {
    const keys: string[] = [];
    for await (const k of store.list(prefix)) keys.push(k);
    return keys.sort();
  };
  const rowOf = (d: Digest) =>
    db.kysely.selectFrom('blobs').select(['object_key', 'size']).where('digest', '=', d).executeTakeFirst();
  const read = async (repo: string, d: Digest) => buffer(await blobs.open(await blobs.stat(repo, d)));
  /** A session with `bytes` appended (PATCH), not finished. */
  async function session(repo: string, bytes: Buffer): Promise<string> {
    const { id } = await uploads.start(repo);
    await uploads.append(repo, id, Readable.from([bytes]));
    return id;
  }

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'nocopy-'));
    url = await testDatabaseUrl(`nocopy-${backend}-${kind}`, backend);
    db = await openDatabase(url);
    store =
      kind === 'files'
        ? new FsBlobStore(join(dir, 'store'))
        : kind === 'memory'
          ? new MemoryBlobStore()
          : testStore(bucket);
    uploads = new Uploads(db.kysely, store);
    blobs = new Blobs(db.kysely, store);
  });
  afterEach(async () => {
    await db.close();
    await removeTestDatabase(url);
    rmSync(dir, { recursive: true, force: true });
  });

  it("leaves a chunked push's bytes at the upload's object and maps the digest to it", async () => {
    const bytes = Buffer.from(`layer ${randomUUID()}`);
    const d = sha256(bytes);
    const id = await session('app', bytes);
    await uploads.finish('app', id, d, undefined);
    expect(await rowOf(d)).toEqual({ object_key: Keys.upload(id), size: bytes.length });
    expect(await all()).toEqual([Keys.upload(id)]);
    expect(await read('app', d)).toEqual(bytes);
  });

  it('a second upload of bytes already stored deletes its own object: one object, the first mapping', async () => {
    const bytes = Buffer.from(`twice ${randomUUID()}`);
    const d = sha256(bytes);
    const first = await session('a', bytes);
    await uploads.finish('a', first, d, undefined);
    const second = await session('b', bytes);
    await uploads.finish('b', second, d, undefined);
    await uploads.monolithic('c', d, Readable.from([bytes]));
    expect(await rowOf(d)).toMatchObject({ object_key: Keys.upload(first) });
    expect(await all()).toEqual([Keys.upload(first)]);
    for (const repo of ['a', 'b', 'c']) expect(await read(repo, d)).toEqual(bytes);
  });

  it('concurrent finishes of one digest from two sessions: one mapping, one object, no blob lost', async () => {
    for (let round = 0; round < 3; round++) {
      const bytes = Buffer.from(`raced ${round} ${randomUUID()}`);
      const d = sha256(bytes);
      const ids = [await session('a', bytes), await session('b', bytes)];
      await Promise.all([
        uploads.finish('a', ids[0]!, d, undefined),
        uploads.finish('b', ids[1]!, d, undefined),
      ]);
      const row = await rowOf(d);
      expect(ids.map((id) => Keys.upload(id))).toContain(row?.object_key);
      expect((await all(Keys.objectsRoot)).filter((k) => ids.some((id) => k.includes(id)))).toEqual([
        row!.object_key,
      ]);
      expect(await read('a', d)).toEqual(bytes);
      expect(await read('b', d)).toEqual(bytes);
    }
  });

  it('an old-layout store still serves: a row that maps no object reads its content address', async () => {
    const bytes = Buffer.from(`old ${randomUUID()}`);
    const d = sha256(bytes);
    await uploads.monolithic('app', d, Readable.from([bytes]));
    await toContentAddress(db.kysely, store, d); // as berth before migration 0015 left it
    expect(await all()).toEqual([Keys.blob(d)]);
    expect(await read('app', d)).toEqual(bytes);
    // pushed again: the old row keeps its bytes, the new upload's object goes
    await uploads.monolithic('other', d, Readable.from([bytes]));
    expect(await rowOf(d)).toMatchObject({ object_key: null });
    expect(await all()).toEqual([Keys.blob(d)]);
    expect(await read('other', d)).toEqual(bytes);
    expect((await new Fsck(db.kysely, store).run({ protectionMs: 0, verify: true })).problems).toEqual([]);
  });

  it('fsck: an object no row maps is a stray (removed on repair); an open session and a mapped one are not', async () => {
    const bytes = Buffer.from(`kept ${randomUUID()}`);
    const d = sha256(bytes);
    await uploads.monolithic('app', d, Readable.from([bytes]));
    const open = await session('app', Buffer.from('in flight'));
    const stray = Keys.upload(randomUUID());
    // beside an open session's object, what a store keeps while it appends (S3: a tail) is the session's too
    const tail = `${Keys.upload(open)}.tail-1`;
    for (const key of [stray, tail]) {
      const w = await store.writer(key);
      await new Promise<void>((resolve, reject) =>
        w.end(Buffer.from('unmapped'), () => resolve()).on('error', reject),
      );
    }
    const later = Date.now() + 60_000; // everything is older than the protection time
    const fsck = new Fsck(db.kysely, store);
    const found = await fsck.run({ protectionMs: 0, now: later });
    expect(found.problems).toMatchObject([{ kind: 'stray-file', key: stray, repaired: false }]);
    expect((await fsck.run({ protectionMs: 0, now: later, repair: true })).clean).toBe(true);
    expect(await all()).toEqual([Keys.upload(open), tail, await blobKey(db.kysely, d)].sort());
    // cancelled, the session's object goes with its folder
    await uploads.cancel('app', open);
    expect(await all()).toEqual([await blobKey(db.kysely, d)]);
    // a mapped object gone is a missing blob
    await store.delete(await blobKey(db.kysely, d));
    expect((await fsck.run({ protectionMs: 0 })).problems).toMatchObject([
      { kind: 'blob-file-missing', digest: d },
    ]);
  });

  it("cleanup deletes an unreferenced blob's object and stray objects, and never an open session's", async () => {
    const bytes = Buffer.from(`orphan ${randomUUID()}`);
    const d = sha256(bytes);
    await uploads.monolithic('app', d, Readable.from([bytes]));
    await db.kysely.deleteFrom('pending_blobs').where('digest', '=', d).execute();
    const open = await session('app', Buffer.from('in flight'));
    const stray = Keys.upload(randomUUID());
    const w = await store.writer(stray);
    await new Promise<void>((resolve, reject) =>
      w.end(Buffer.from('unmapped'), () => resolve()).on('error', reject),
    );
    await new Promise((r) => setTimeout(r, 5)); // objects older than a protection of 0 s (the cleanup's now)
    const report = await new Cleanup(db.kysely, store).run({ protectionSeconds: 0 });
    expect(report.digests).toEqual([d]);
    expect(report.removed).toMatchObject({ blobs: 1, strayFiles: 1 });
    expect(await rowOf(d)).toBeUndefined();
    // what is left is the open session's: its object and (S3) the tail its appender keeps beside it
    const left = await all();
    expect(left).toContain(Keys.upload(open));
    expect(left.every((k) => k.startsWith(Keys.objectDir(open)))).toBe(true);
  });

  it.runIf(kind === 's3')('the final PUT sends no CopyObject (nor UploadPartCopy) to S3', async () => {
    const bytes = Buffer.alloc(6 * 1024 * 1024, 7);
    const d = sha256(bytes);
    const id = await session('app', bytes);
    const counts = countRequests((store as S3BlobStore).client);
    await uploads.finish('app', id, d, undefined);
    expect(counts.get('CopyObjectCommand') ?? 0).toBe(0);
    expect(counts.get('UploadPartCopyCommand') ?? 0).toBe(0);
    // no bytes move either: the size check (HEAD), and the sweep of the session's folder (empty here)
    for (const c of [
      'GetObjectCommand',
      'PutObjectCommand',
      'UploadPartCommand',
      'CreateMultipartUploadCommand',
    ])
      expect(counts.get(c) ?? 0, c).toBe(0);
    // the size check (HEAD), and the seal's look at the sealed object: a count that does not grow with the size
    expect(counts.get('HeadObjectCommand')).toBeGreaterThanOrEqual(1);
    expect(counts.get('HeadObjectCommand')).toBeLessThanOrEqual(2);
    expect(await rowOf(d)).toMatchObject({ object_key: Keys.upload(id) });
  });
});

describe('other writers beside uploads (files store)', () => {
  it("an archive holding a layer that a push stored keeps the push's object, and stores no second copy", async () => {
    const data = mkdtempSync(join(tmpdir(), 'nocopy-archive-'));
    const url = await testDatabaseUrl('nocopy-archive');
    const berth = await openBerth({ data, database: url });
    try {
      const layer = randomBytes(3000);
      const d = sha256(layer);
      await berth.uploads.monolithic('pushed', d, Readable.from([layer]));
      const mapped = await blobKey(berth.db.kysely, d);
      expect(mapped).toMatch(/^objects\//);
      const image = dirImage({ layers: [layer, randomBytes(2000)] });
      const result = await berth.imports.importArchive(
        'archived',
        'v1',
        Readable.from([await tarOf(image.entries)]),
      );
      expect(result.version).toBe(1);
      expect(await blobKey(berth.db.kysely, d)).toBe(mapped);
      expect(await berth.store.stat(Keys.blob(d))).toBeNull(); // not moved to its content address as well
      const held = await berth.blobs.stat('archived', d);
      expect(await buffer(await berth.blobs.open(held))).toEqual(layer);
      // the other layer, new to berth, is at its content address (archives still move their entries into place)
      expect(await berth.store.stat(Keys.blob(image.layerDigests[1]! as Digest))).not.toBeNull();
      expect((await berth.fsck.run({ protectionMs: 0, verify: true })).problems).toEqual([]);
    } finally {
      await berth.close();
      await removeTestDatabase(url);
      rmSync(data, { recursive: true, force: true });
    }
  });
});
