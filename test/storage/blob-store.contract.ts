// The BlobStore contract: describe/it blocks every BlobStore implementation must pass (run by each store's test file).
import { randomBytes } from 'node:crypto';
import { Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { sha256 } from '../../src/core/digest.js';
import { StoreNotFoundError, type BlobStore, type ByteRange } from '../../src/storage/blob-store.js';
import { Keys } from '../../src/storage/cas.js';

export interface StoreUnderTest {
  store: BlobStore;
  cleanup(): Promise<void>;
}

/** Writes `bytes` to `key` through the store's writer, in chunks of at most `chunk` bytes. */
export async function writeObject(
  store: BlobStore,
  key: string,
  bytes: Buffer,
  chunk = 16 * 1024,
): Promise<void> {
  const parts: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += chunk) parts.push(bytes.subarray(i, i + chunk));
  const sink: Writable = await store.writer(key);
  await pipeline(Readable.from(parts), sink);
}

/** Reads an object (or a range of it) whole. */
export async function readObject(store: BlobStore, key: string, range?: ByteRange): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of await store.reader(key, range)) chunks.push(Buffer.from(c as Uint8Array));
  return Buffer.concat(chunks);
}

async function listAll(store: BlobStore, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const k of store.list(prefix)) keys.push(k);
  return keys.sort();
}

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (e) {
    return e;
  }
  throw new Error('expected the promise to reject');
}

/** Defines the contract suite for one BlobStore implementation; `makeStore` gives a fresh, empty store per test. */
export function blobStoreContract(name: string, makeStore: () => Promise<StoreUnderTest>): void {
  describe(`BlobStore contract: ${name}`, () => {
    let s: StoreUnderTest;
    let store: BlobStore;

    beforeEach(async () => {
      s = await makeStore();
      store = s.store;
    });

    afterEach(async () => {
      await s.cleanup();
    });

    describe('stat', () => {
      it('is null for a key with no object', async () => {
        expect(await store.stat('blobs/nothing/here')).toBeNull();
      });

      it('gives the size and a modification time of a written object', async () => {
        const before = Date.now();
        await writeObject(store, 'a/b/c', Buffer.from('hello'));
        const st = await store.stat('a/b/c');
        expect(st).not.toBeNull();
        expect(st!.size).toBe(5);
        expect(st!.modifiedAt).toBeInstanceOf(Date);
        // allow for coarse timestamps on some backends
        expect(st!.modifiedAt.getTime()).toBeGreaterThanOrEqual(before - 2000);
        expect(st!.modifiedAt.getTime()).toBeLessThanOrEqual(Date.now() + 2000);
      });

      it('is null for a "folder" that only holds other objects', async () => {
        await writeObject(store, 'dir/inner', Buffer.from('x'));
        expect(await store.stat('dir')).toBeNull();
      });

      it('gives size 0 for an empty object', async () => {
        await writeObject(store, 'empty', Buffer.alloc(0));
        expect((await store.stat('empty'))?.size).toBe(0);
      });
    });

    describe('writer and reader', () => {
      it('round-trips bytes written in many chunks', async () => {
        const bytes = randomBytes(300_000);
        await writeObject(store, 'uploads/u1/data', bytes, 7_000);
        const back = await readObject(store, 'uploads/u1/data');
        expect(back.length).toBe(bytes.length);
        expect(sha256(back)).toBe(sha256(bytes));
      });

      it('round-trips an empty object', async () => {
        await writeObject(store, 'zero', Buffer.alloc(0));
        expect((await readObject(store, 'zero')).length).toBe(0);
      });

      it('replaces an existing object', async () => {
        await writeObject(store, 'k', Buffer.from('a much longer first version'));
        await writeObject(store, 'k', Buffer.from('short'));
        expect((await readObject(store, 'k')).toString()).toBe('short');
        expect((await store.stat('k'))?.size).toBe(5);
      });

      it('continues an object at an offset, dropping what followed it', async () => {
        await writeObject(store, 'u/data', Buffer.from('0123456789'));
        const w = await store.writer('u/data', { offset: 4 });
        await new Promise<void>((resolve, reject) =>
          w.end(Buffer.from('ab'), () => resolve()).on('error', reject),
        );
        expect((await readObject(store, 'u/data')).toString()).toBe('0123ab');
        await expect(store.writer('no/such', { offset: 3 })).rejects.toBeInstanceOf(StoreNotFoundError);
      });

      it('keeps objects under different keys apart', async () => {
        await writeObject(store, 'x/1', Buffer.from('one'));
        await writeObject(store, 'x/2', Buffer.from('two'));
        expect((await readObject(store, 'x/1')).toString()).toBe('one');
        expect((await readObject(store, 'x/2')).toString()).toBe('two');
      });

      it('reads byte ranges, both ends inclusive, including the last byte', async () => {
        const bytes = randomBytes(100_000);
        await writeObject(store, 'r', bytes);
        const last = bytes.length - 1;
        const cases: ByteRange[] = [
          { start: 0, end: 0 },
          { start: 0, end: 9 },
          { start: 12_345, end: 67_890 },
          { start: last, end: last },
          { start: last - 99, end: last },
          { start: 0, end: last },
        ];
        for (const r of cases) {
          const got = await readObject(store, 'r', r);
          expect(got.length, JSON.stringify(r)).toBe(r.end - r.start + 1);
          expect(got.equals(bytes.subarray(r.start, r.end + 1)), JSON.stringify(r)).toBe(true);
        }
      });

      it('rejects with StoreNotFoundError naming the key when there is no object', async () => {
        const e = await rejection(store.reader('blobs/sha256/00/missing'));
        expect(e).toBeInstanceOf(StoreNotFoundError);
        expect((e as StoreNotFoundError).key).toBe('blobs/sha256/00/missing');
      });

      it('rejects with StoreNotFoundError for a range of a missing object', async () => {
        expect(await rejection(store.reader('missing', { start: 0, end: 1 }))).toBeInstanceOf(
          StoreNotFoundError,
        );
      });
    });

    describe('move', () => {
      it('moves an object to a new key', async () => {
        await writeObject(store, 'uploads/m/data', Buffer.from('moved bytes'));
        await store.move('uploads/m/data', 'blobs/sha256/ab/abc');
        expect(await store.stat('uploads/m/data')).toBeNull();
        expect((await readObject(store, 'blobs/sha256/ab/abc')).toString()).toBe('moved bytes');
      });

      it('replaces what is at the destination', async () => {
        await writeObject(store, 'src', Buffer.from('new'));
        await writeObject(store, 'dst', Buffer.from('old and longer'));
        await store.move('src', 'dst');
        expect((await readObject(store, 'dst')).toString()).toBe('new');
        expect((await store.stat('dst'))?.size).toBe(3);
        expect(await store.stat('src')).toBeNull();
      });

      it('rejects with StoreNotFoundError naming the source when it is missing, leaving the destination', async () => {
        await writeObject(store, 'dst', Buffer.from('kept'));
        const e = await rejection(store.move('nope/nothing', 'dst'));
        expect(e).toBeInstanceOf(StoreNotFoundError);
        expect((e as StoreNotFoundError).key).toBe('nope/nothing');
        expect((await readObject(store, 'dst')).toString()).toBe('kept');
      });
    });

    describe('delete', () => {
      it('deletes an object', async () => {
        await writeObject(store, 'd/x', Buffer.from('x'));
        await store.delete('d/x');
        expect(await store.stat('d/x')).toBeNull();
        expect(await rejection(store.reader('d/x'))).toBeInstanceOf(StoreNotFoundError);
      });

      it('is idempotent and accepts keys that never existed', async () => {
        await writeObject(store, 'd/y', Buffer.from('y'));
        await store.delete('d/y');
        await expect(store.delete('d/y')).resolves.toBeUndefined();
        await expect(store.delete('never/was/here')).resolves.toBeUndefined();
      });

      it('leaves other objects alone', async () => {
        await writeObject(store, 'd/a', Buffer.from('a'));
        await writeObject(store, 'd/b', Buffer.from('b'));
        await store.delete('d/a');
        expect((await readObject(store, 'd/b')).toString()).toBe('b');
      });
    });

    describe('deletePrefix', () => {
      it('deletes every object under the prefix, at any depth, and nothing else', async () => {
        const id = 'f81d4fae';
        await writeObject(store, Keys.staging(id, 0), Buffer.from('0'));
        await writeObject(store, Keys.staging(id, 1), Buffer.from('1'));
        await writeObject(store, `${Keys.stagingDir(id)}deep/er/file`, Buffer.from('deep'));
        await writeObject(store, Keys.staging(`${id}0`, 0), Buffer.from('sibling with a longer id'));
        await writeObject(store, Keys.upload(id), Buffer.from('other area'));
        await store.deletePrefix(Keys.stagingDir(id));
        expect(await listAll(store, Keys.stagingDir(id))).toEqual([]);
        expect(await store.stat(Keys.staging(id, 0))).toBeNull();
        expect(await listAll(store, '')).toEqual([Keys.staging(`${id}0`, 0), Keys.upload(id)].sort());
      });

      it('accepts a prefix that holds nothing', async () => {
        await expect(store.deletePrefix('staging/none/')).resolves.toBeUndefined();
      });
    });

    describe('list', () => {
      it('yields nothing for an empty prefix', async () => {
        expect(await listAll(store, 'blobs/')).toEqual([]);
      });

      it('yields the full keys of every object under the prefix, recursively, in the Keys layout', async () => {
        const contents = ['first', 'second', 'third'].map((t) => Buffer.from(t));
        const blobKeys = contents.map((b) => Keys.blob(sha256(b)));
        for (const [i, b] of contents.entries()) await writeObject(store, blobKeys[i]!, b);
        await writeObject(store, Keys.upload('u-1'), Buffer.from('upload'));
        await writeObject(store, Keys.staging('s-1', 3), Buffer.from('staged'));

        const blobs = await listAll(store, Keys.blobsRoot);
        expect(blobs).toEqual([...blobKeys].sort());
        for (const k of blobs) expect(k).toMatch(/^blobs\/sha256\/[a-f0-9]{2}\/[a-f0-9]{64}$/);

        expect(await listAll(store, 'uploads/')).toEqual([Keys.upload('u-1')]);
        expect(await listAll(store, 'staging/')).toEqual([Keys.staging('s-1', 3)]);
        expect(await listAll(store, '')).toEqual(
          [...blobKeys, Keys.upload('u-1'), Keys.staging('s-1', 3)].sort(),
        );
      });

      it('accepts a prefix with or without its trailing slash', async () => {
        await writeObject(store, 'p/q/r', Buffer.from('r'));
        expect(await listAll(store, 'p/q/')).toEqual(['p/q/r']);
        expect(await listAll(store, 'p/q')).toEqual(['p/q/r']);
      });

      it('no longer yields deleted or moved-away objects', async () => {
        await writeObject(store, 'l/a', Buffer.from('a'));
        await writeObject(store, 'l/b', Buffer.from('b'));
        await store.delete('l/a');
        await store.move('l/b', 'm/b');
        expect(await listAll(store, 'l/')).toEqual([]);
        expect(await listAll(store, 'm/')).toEqual(['m/b']);
      });
    });

    describe('keys', () => {
      it('refuses keys with ".." or empty segments', async () => {
        for (const key of ['../outside', 'a/../../b', 'a//b', '/abs', 'trailing/']) {
          await expect(store.writer(key), key).rejects.toThrow(/bad store key/);
          await expect(store.stat(key), key).rejects.toThrow(/bad store key/);
          await expect(store.reader(key), key).rejects.toThrow(/bad store key/);
          await expect(store.delete(key), key).rejects.toThrow(/bad store key/);
        }
        await writeObject(store, 'a', Buffer.from('a'));
        await expect(store.move('a', '../b')).rejects.toThrow(/bad store key/);
        await expect(store.deletePrefix('../')).rejects.toThrow(/bad store key/);
        expect((await readObject(store, 'a')).toString()).toBe('a');
      });
    });
  });
}
