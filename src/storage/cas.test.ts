// Covers src/storage/cas.ts: the key layout (Keys) and blobs in and out by digest.
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { hexOf, sha256, sha512 } from '../core/digest.js';
import { inlineHash, type Hasher } from '../core/hash-worker.js';
import { MediaTypes } from '../core/media-types.js';
import {
  Keys,
  objectIdOf,
  promote,
  readSmallBlob,
  receive,
  storedDiffIds,
  storedKey,
  type Locate,
} from './cas.js';
import { FsBlobStore } from './fs-blob-store.js';
import { MemoryBlobStore } from './memory-blob-store.js';

/** Blobs at their content addresses (no row maps an object) */
const legacy: Locate = async (d) => Keys.blob(d);

describe('Keys', () => {
  it('places a blob at blobs/sha256/<first 2 hex>/<64 hex>', () => {
    for (const content of ['a', 'b', 'layer bytes']) {
      const d = sha256(content);
      const hex = hexOf(d);
      const key = Keys.blob(d);
      expect(key).toMatch(/^blobs\/sha256\/[a-f0-9]{2}\/[a-f0-9]{64}$/);
      expect(key).toBe(`blobs/sha256/${hex.slice(0, 2)}/${hex}`);
      expect(key.startsWith(Keys.blobsRoot)).toBe(true);
    }
  });

  it('places a sha512 blob at blobs/sha512/<first 2 hex>/<128 hex>, its trash name the bare hex', () => {
    const d = sha512('layer bytes');
    const hex = hexOf(d);
    expect(Keys.blob(d)).toMatch(/^blobs\/sha512\/[a-f0-9]{2}\/[a-f0-9]{128}$/);
    expect(Keys.blob(d)).toBe(`blobs/sha512/${hex.slice(0, 2)}/${hex}`);
    expect(Keys.trash('t1', d)).toBe(`trash/t1/${hex}`);
  });

  it('gives different blobs different keys', () => {
    expect(Keys.blob(sha256('x'))).not.toBe(Keys.blob(sha256('y')));
  });

  it("writes an upload's bytes to an object outside its folder, named by the upload, where they stay", () => {
    const id = '3f2a0c9e-1111-4222-8333-444455556666';
    expect(Keys.upload(id)).toBe(`objects/3f/${id}/data`);
    expect(Keys.upload(id).startsWith(Keys.objectDir(id))).toBe(true);
    expect(Keys.objectDir(id).startsWith(Keys.objectsRoot)).toBe(true);
    // the sweep of a finished session's folder (deletePrefix) can never take the object a row maps
    expect(Keys.upload(id).startsWith(Keys.uploadDir(id))).toBe(false);
    expect(objectIdOf(Keys.upload(id))).toBe(id);
    expect(objectIdOf(`${Keys.upload(id)}.tail-3`)).toBe(id); // what a store keeps beside it, while appending
    expect(objectIdOf(`objects/zz/${id}/data`)).toBeUndefined();
    expect(objectIdOf(`objects/3f/${id}`)).toBeUndefined();
    expect(objectIdOf(Keys.blob(sha256('x')))).toBeUndefined();
    expect(storedKey(sha256('x'), null)).toBe(Keys.blob(sha256('x')));
    expect(storedKey(sha256('x'), Keys.upload(id))).toBe(Keys.upload(id));
  });

  it('keeps a staging entry inside its folder', () => {
    expect(Keys.staging('s1', 4)).toBe('staging/s1/4');
    expect(Keys.staging('s1', 4).startsWith(Keys.stagingDir('s1'))).toBe(true);
    expect(Keys.stagingDir('s1')).toMatch(/\/$/);
    expect(Keys.uploadDir('u1')).toMatch(/\/$/);
  });
});

describe('blobs in and out by digest', () => {
  const config = (diffIds: string[]): Buffer =>
    Buffer.from(JSON.stringify({ rootfs: { type: 'layers', diff_ids: diffIds } }));

  it('receives bytes under a temporary key with their digest and size, then promotes them to their address', async () => {
    const store = new MemoryBlobStore();
    const bytes = Buffer.from('layer bytes, in two chunks');
    const got = await receive(store, Keys.staging('u1', 0), [bytes.subarray(0, 5), bytes.subarray(5)]);
    expect(got).toEqual({ digest: sha256(bytes), size: bytes.length });
    await promote(store, Keys.staging('u1', 0), got.digest);
    expect(await store.stat(Keys.staging('u1', 0))).toBeNull();
    expect(await readSmallBlob(store, legacy, got.digest, 1024)).toEqual(bytes);
  });

  it('keeps the object already at a content address (not replaced: on ext4 that costs 0.2 s per 256 MiB) and deletes the second copy', async () => {
    const root = await mkdtemp(join(tmpdir(), 'berth-promote-'));
    try {
      const store = new FsBlobStore(root);
      const bytes = randomBytes(64 * 1024);
      const first = await receive(store, Keys.staging('p1', 0), [bytes]);
      await promote(store, Keys.staging('p1', 0), first.digest);
      const before = await stat(store.fileFor(Keys.blob(first.digest)));
      const second = await receive(store, Keys.staging('p2', 0), [bytes]);
      await promote(store, Keys.staging('p2', 0), second.digest);
      const after = await stat(store.fileFor(Keys.blob(first.digest)));
      expect(after.ino).toBe(before.ino);
      expect(await store.stat(Keys.staging('p2', 0))).toBeNull();
      expect(await readSmallBlob(store, legacy, first.digest, bytes.length)).toEqual(bytes);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });

  it('receives with sha512 when told', async () => {
    const store = new MemoryBlobStore();
    const bytes = Buffer.from('sha512 bytes');
    const got = await receive(store, 'tmp', [bytes], { algorithm: 'sha512' });
    expect(got).toEqual({ digest: sha512(bytes), size: bytes.length });
    await promote(store, 'tmp', got.digest);
    expect(await readSmallBlob(store, legacy, got.digest, 1024)).toEqual(bytes);
  });

  it('deletes the partial object when the source fails', async () => {
    const store = new MemoryBlobStore();
    async function* failing(): AsyncIterable<Buffer> {
      yield Buffer.from('some bytes');
      throw new Error('connection reset');
    }
    await expect(receive(store, Keys.staging('s1', 0), failing())).rejects.toThrow('connection reset');
    expect(await store.stat(Keys.staging('s1', 0))).toBeNull();
  });

  it('hashes on the hasher it is given, with the size it is told, and drops that hash when the source fails', async () => {
    const store = new MemoryBlobStore();
    const log: string[] = [];
    const hasher: Hasher = {
      hash: (algorithm, size) => {
        log.push(`hash ${algorithm} ${size}`);
        const h = inlineHash(algorithm);
        return {
          get size() {
            return h.size;
          },
          update: h.update,
          digest: h.digest,
          abort: () => void log.push('abort'),
        };
      },
    };
    const bytes = Buffer.from('bytes hashed elsewhere');
    const got = await receive(store, 'tmp', [bytes], { hasher, size: bytes.length });
    expect(got).toEqual({ digest: sha256(bytes), size: bytes.length });
    async function* failing(): AsyncIterable<Buffer> {
      yield Buffer.from('some bytes');
      throw new Error('connection reset');
    }
    await expect(receive(store, 'tmp2', failing(), { hasher, algorithm: 'sha512' })).rejects.toThrow('reset');
    expect(log).toEqual([`hash sha256 ${bytes.length}`, 'hash sha512 undefined', 'abort']);
    expect(await store.stat('tmp2')).toBeNull();
  });

  it("gathers a source's small chunks into large writes (one writev per 1 MiB, not one write per chunk)", async () => {
    const store = new MemoryBlobStore();
    const writes: number[] = [];
    const kept: Buffer[] = [];
    const counting = Object.assign(Object.create(store) as MemoryBlobStore, {
      writer: async () =>
        new Writable({
          highWaterMark: 2 * 1024 * 1024,
          writev(chunks, cb) {
            writes.push(chunks.length);
            for (const c of chunks) kept.push(c.chunk as Buffer);
            setImmediate(cb);
          },
        }),
    });
    const bytes = randomBytes(32 * 64 * 1024 + 100);
    const pieces = Array.from({ length: 33 }, (_, i) => bytes.subarray(i * 65536, (i + 1) * 65536));
    expect(await receive(counting, 'tmp', pieces)).toEqual({ digest: sha256(bytes), size: bytes.length });
    expect(Buffer.concat(kept).equals(bytes)).toBe(true);
    expect(writes).toEqual([16, 16, 1]);
  });

  it('reads a small blob only when present and within the limit', async () => {
    const store = new MemoryBlobStore();
    const bytes = Buffer.from('0123456789');
    const { digest } = await receive(store, 'tmp', [bytes]);
    await promote(store, 'tmp', digest);
    expect(await readSmallBlob(store, legacy, digest, 10)).toEqual(bytes);
    expect(await readSmallBlob(store, legacy, digest, 9)).toBeUndefined();
    expect(await readSmallBlob(store, legacy, sha256('absent'), 10)).toBeUndefined();
  });

  it('learns diff IDs from a stored image config, and nothing from other blobs', async () => {
    const store = new MemoryBlobStore();
    const diffId = sha256('uncompressed layer');
    const store1 = async (b: Buffer) => {
      const { digest, size } = await receive(store, 'tmp', [b]);
      await promote(store, 'tmp', digest);
      return { digest, size };
    };
    const image = await store1(config([diffId]));
    const other = await store1(Buffer.from('{"not":"a config"}'));
    expect(await storedDiffIds(store, legacy, { mediaType: MediaTypes.ociConfig, ...image })).toEqual([
      diffId,
    ]);
    expect(await storedDiffIds(store, legacy, { mediaType: MediaTypes.dockerConfig, ...image })).toEqual([
      diffId,
    ]);
    expect(
      await storedDiffIds(store, legacy, { mediaType: 'application/vnd.example+json', ...image }),
    ).toBeUndefined();
    expect(await storedDiffIds(store, legacy, { mediaType: MediaTypes.ociConfig, ...other })).toBeUndefined();
    expect(await storedDiffIds(store, legacy, undefined)).toBeUndefined();
  });
});

describe('readSmallBlob when cleanup takes the blob between its stat and its read', () => {
  it('answers undefined (as for an absent blob), not the store error', async () => {
    const store = new MemoryBlobStore();
    const bytes = Buffer.from('{"rootfs":{"type":"layers","diff_ids":[]}}');
    const d = sha256(bytes);
    await receive(store, 'uploads/x/data', [bytes]);
    await promote(store, 'uploads/x/data', d);
    const racing = new Proxy(store, {
      get(target, prop, receiver) {
        if (prop === 'reader')
          return async (key: string) => {
            await target.delete(key); // gone after the stat
            return target.reader(key);
          };
        const v = Reflect.get(target, prop, receiver);
        return typeof v === 'function' ? v.bind(target) : v;
      },
    });
    expect(await readSmallBlob(racing, legacy, d, 1024)).toBeUndefined();
    expect(await readSmallBlob(store, legacy, d, 1024)).toBeUndefined();
  });
});
