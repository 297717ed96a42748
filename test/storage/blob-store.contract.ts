// The BlobStore contract: describe/it blocks every BlobStore implementation must pass (run by each store's test file).
import { randomBytes } from 'node:crypto';
import { Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { sha256 } from '../../src/core/digest.js';
import {
  compareKeys,
  StoreNotFoundError,
  type BlobStore,
  type ByteRange,
  type StoreEntry,
} from '../../src/storage/blob-store.js';
import { Keys } from '../../src/storage/cas.js';
import { removeStaleStaging } from '../../src/gc/leftovers.js';

export interface StoreUnderTest {
  store: BlobStore;
  cleanup(): Promise<void>;
  /** how many keys the listing case writes (default 1 050: past S3's page of 1 000); a store with small pages may take fewer */
  manyKeys?: number;
}

const MiB = 1024 * 1024;

/** Writes `bytes` to an open writer in chunks of `chunk`, each write waited for (its callback). */
async function feed(w: Writable, bytes: Buffer, chunk = MiB): Promise<void> {
  for (let i = 0; i < bytes.length; i += chunk) {
    await new Promise<void>((resolve, reject) =>
      w.write(bytes.subarray(i, i + chunk), (e) => (e ? reject(e) : resolve())),
    );
  }
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

async function unfinishedKeys(store: BlobStore, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const u of store.unfinished(prefix)) keys.push(u.key);
  return keys.sort();
}

async function listAll(store: BlobStore, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const k of store.list(prefix)) keys.push(k);
  return keys.sort();
}

async function entriesOf(store: BlobStore, prefix: string): Promise<StoreEntry[]> {
  const out: StoreEntry[] = [];
  for await (const e of store.entries(prefix)) out.push(e);
  return out;
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

        expect(await listAll(store, Keys.objectsRoot)).toEqual([Keys.upload('u-1')]);
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

    describe('entries', () => {
      it('yields nothing under an empty prefix', async () => {
        expect(await entriesOf(store, 'blobs/')).toEqual([]);
      });

      it('gives each object under the prefix with the size and time stat gives, in the byte order of the keys', async () => {
        // a folder's name sorts as the keys under it ("e/a-c" before "e/a/b"), not as its bare name
        const objects: [string, string][] = [
          ['e/a/b', 'one'],
          ['e/a-c', 'three'],
          ['e/a0', ''],
          ['e/B/z', 'upper case first'],
          ['e/ab/x/y', 'deeper'],
          ['e/a/a/a', 'four'],
        ];
        for (const [k, v] of objects) await writeObject(store, k, Buffer.from(v));
        await writeObject(store, 'e-sibling/x', Buffer.from('not under e/'));
        const got = await entriesOf(store, 'e/');
        expect(got.map((e) => e.key)).toEqual(objects.map(([k]) => k).sort(compareKeys));
        expect(got.map((e) => e.key)).toEqual(['e/B/z', 'e/a-c', 'e/a/a/a', 'e/a/b', 'e/a0', 'e/ab/x/y']);
        for (const e of got) {
          const st = await store.stat(e.key);
          expect(e.size, e.key).toBe(objects.find(([k]) => k === e.key)![1].length);
          expect(e.size, e.key).toBe(st!.size);
          // listings may give times in whole seconds (S3) where HEAD gives the same second
          expect(Math.abs(e.modifiedAt.getTime() - st!.modifiedAt.getTime()), e.key).toBeLessThan(1000);
        }
        expect((await entriesOf(store, 'e')).map((e) => e.key)).toEqual(got.map((e) => e.key));
        expect((await entriesOf(store, '')).map((e) => e.key)).toEqual(
          [...got.map((e) => e.key), 'e-sibling/x'].sort(compareKeys),
        );
      });

      it('no longer gives deleted or moved-away objects', async () => {
        await writeObject(store, 'n/a', Buffer.from('a'));
        await writeObject(store, 'n/b', Buffer.from('bb'));
        await store.delete('n/a');
        await store.move('n/b', 'n/c');
        expect(await entriesOf(store, 'n/')).toMatchObject([{ key: 'n/c', size: 2 }]);
      });
    });

    describe("large objects (past S3's 5 MiB part size)", () => {
      it('round-trips 12 MiB and reads ranges across part boundaries', async () => {
        const bytes = randomBytes(12 * MiB + 123);
        await writeObject(store, 'big/obj', bytes, 256 * 1024);
        expect((await store.stat('big/obj'))?.size).toBe(bytes.length);
        expect(sha256(await readObject(store, 'big/obj'))).toBe(sha256(bytes));
        for (const r of [
          { start: 5 * MiB - 10, end: 5 * MiB + 10 },
          { start: 8 * MiB - 1, end: 10 * MiB },
          { start: 12 * MiB, end: 12 * MiB + 122 },
        ]) {
          expect((await readObject(store, 'big/obj', r)).equals(bytes.subarray(r.start, r.end + 1))).toBe(
            true,
          );
        }
      });

      it('continues a large object at an offset past 5 MiB, and one under it', async () => {
        const bytes = randomBytes(11 * MiB);
        await writeObject(store, 'big/cont', bytes, MiB);
        const w = await store.writer('big/cont', { offset: 7 * MiB });
        await new Promise<void>((resolve, reject) =>
          w.end(Buffer.from('tail'), () => resolve()).on('error', reject),
        );
        const back = await readObject(store, 'big/cont');
        expect(back.length).toBe(7 * MiB + 4);
        expect(back.subarray(0, 7 * MiB).equals(bytes.subarray(0, 7 * MiB))).toBe(true);
        expect(back.subarray(7 * MiB).toString()).toBe('tail');
        const w2 = await store.writer('big/cont', { offset: 3 * MiB });
        await new Promise<void>((resolve, reject) =>
          w2.end(bytes.subarray(0, 6 * MiB), () => resolve()).on('error', reject),
        );
        const again = await readObject(store, 'big/cont');
        expect(sha256(again)).toBe(
          sha256(Buffer.concat([bytes.subarray(0, 3 * MiB), bytes.subarray(0, 6 * MiB)])),
        );
      });
    });

    describe('concurrent writers of one key', () => {
      it('of the same bytes (one digest pushed twice at once) leave exactly those bytes, small or large', async () => {
        for (const size of [100_000, 7 * MiB]) {
          const bytes = randomBytes(size);
          const key = `blobs/sha256/cc/${size}`;
          await Promise.all([1, 2, 3, 4].map((i) => writeObject(store, key, bytes, 64 * 1024 + i)));
          expect((await store.stat(key))?.size, `${size}`).toBe(size);
          expect(sha256(await readObject(store, key)), `${size}`).toBe(sha256(bytes));
        }
        expect(await unfinishedKeys(store, '')).toEqual([]);
      });
    });

    describe('many keys', () => {
      it('lists and deletes many keys under a prefix (more than one page), and only those', async () => {
        const n = s.manyKeys ?? 1050;
        const keys = Array.from(
          { length: n },
          (_, i) => `many/${String(i % 7)}/k${String(i).padStart(4, '0')}`,
        );
        const todo = [...keys];
        await Promise.all(
          Array.from({ length: 16 }, async () => {
            for (let k = todo.pop(); k; k = todo.pop()) await writeObject(store, k, Buffer.from(k));
          }),
        );
        await writeObject(store, 'many-not/x', Buffer.from('sibling'));
        await writeObject(store, 'other/y', Buffer.from('other'));
        const listed = await listAll(store, 'many/');
        expect(listed.length).toBe(n);
        expect(listed).toEqual([...keys].sort());
        expect(new Set(listed).size).toBe(n);
        const entries = await entriesOf(store, 'many/');
        expect(entries.map((e) => e.key)).toEqual([...keys].sort(compareKeys));
        expect(entries.every((e) => e.size === e.key.length)).toBe(true);
        await store.deletePrefix('many/');
        expect(await listAll(store, 'many/')).toEqual([]);
        expect(await listAll(store, '')).toEqual(['many-not/x', 'other/y']);
      });
    });

    describe('aborts and crash leftovers', () => {
      it('a writer destroyed mid-way leaves neither the whole object nor hidden leftovers', async () => {
        const bytes = randomBytes(12 * MiB);
        const w = await store.writer('uploads/ab/data');
        await feed(w, bytes.subarray(0, 11 * MiB));
        w.on('error', () => undefined);
        await new Promise<void>((resolve) =>
          w.once('close', () => resolve()).destroy(new Error('client went away')),
        );
        const st = await store.stat('uploads/ab/data');
        expect(st === null || st.size <= 11 * MiB).toBe(true);
        expect(await unfinishedKeys(store, 'uploads/')).toEqual([]);
        await store.deletePrefix('uploads/ab/');
        expect(await listAll(store, '')).toEqual([]);
      });

      it('a writer abandoned mid-way (its process killed) leaves at most its own key, which the sweep of its folder removes', async () => {
        await writeObject(store, 'uploads/keep/data', Buffer.from('another session'));
        const w = await store.writer('uploads/crash/data');
        await feed(w, randomBytes(12 * MiB));
        // the leftover is in sight (a partial object) or among the unfinished writes, under its own key only
        const seen = [...(await listAll(store, 'uploads/')), ...(await unfinishedKeys(store, 'uploads/'))];
        expect(seen).toContain('uploads/crash/data');
        expect(new Set(seen)).toEqual(new Set(['uploads/keep/data', 'uploads/crash/data']));
        await store.deletePrefix('uploads/crash/');
        expect(await listAll(store, 'uploads/')).toEqual(['uploads/keep/data']);
        expect(await unfinishedKeys(store, 'uploads/')).toEqual([]);
        w.on('error', () => undefined).destroy(); // the dead process's writer, gone with it
      });

      it('the sweep of stale staging folders finds one whose only leftover is an unfinished write', async () => {
        const w = await store.writer(Keys.staging('dead', 0));
        await feed(w, randomBytes(12 * MiB));
        expect(await removeStaleStaging(store, 0, Date.now() + 60_000)).toEqual(['dead']);
        expect(await listAll(store, 'staging/')).toEqual([]);
        expect(await unfinishedKeys(store, 'staging/')).toEqual([]);
        w.on('error', () => undefined).destroy();
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
