// The BlobStore contract for appends (chunked uploads): cases every store must pass, run by each store's test file.
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { StoreNotFoundError, type AppendState, type BlobStore } from '../../src/storage/blob-store.js';
import { Keys } from '../../src/storage/cas.js';
import { readObject, writeObject } from './blob-store.contract.js';

export interface AppendStoreUnderTest {
  store: BlobStore;
  /** another instance of the same store (another process: nothing in memory shared with `store`) */
  reopen(): BlobStore;
  cleanup(): Promise<void>;
}

const MiB = 1024 * 1024;

/** Appends `bytes` (in writes of `chunk`) to `key`, which holds `size` bytes as `state` says; the new state. */
export async function appendBytes(
  store: BlobStore,
  key: string,
  size: number,
  state: AppendState,
  bytes: Buffer,
  chunk = 256 * 1024,
): Promise<AppendState> {
  const parts: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += chunk) parts.push(bytes.subarray(i, i + chunk));
  const w = await store.appender(key, size, state);
  await pipeline(Readable.from(parts), w);
  return w.appended();
}

/** Appends `chunks` in turn, each on a fresh instance of the store (a chunk per process); the final state. */
export async function appendAcross(
  reopen: () => BlobStore,
  key: string,
  chunks: Buffer[],
): Promise<{ size: number; state: AppendState }> {
  let size = 0;
  let state: AppendState = null;
  for (const c of chunks) {
    state = await appendBytes(reopen(), key, size, state, c);
    size += c.length;
  }
  return { size, state };
}

export function appendContract(name: string, make: () => Promise<AppendStoreUnderTest>): void {
  describe(`BlobStore appends: ${name}`, () => {
    let s: AppendStoreUnderTest;
    const key = Keys.upload('append-session');
    beforeEach(async () => {
      s = await make();
      await writeObject(s.store, key, Buffer.alloc(0)); // a session's object exists from its start, empty
    });
    afterEach(async () => {
      await s.cleanup();
    });

    it('builds one object from chunks appended by different instances: 12 MiB in 1 MiB chunks, then 7 MiB ones', async () => {
      const chunks = [
        ...Array.from({ length: 12 }, () => randomBytes(MiB)),
        randomBytes(7 * MiB),
        randomBytes(7 * MiB),
      ];
      const { size, state } = await appendAcross(() => s.reopen(), key, chunks);
      await s.reopen().seal(key, size, state);
      expect((await readObject(s.store, key)).equals(Buffer.concat(chunks))).toBe(true);
      // sealing again (a final PUT retried after a later failure) changes nothing
      await s.reopen().seal(key, size, state);
      expect((await s.store.stat(key))?.size).toBe(size);
    });

    it('builds small objects (under 5 MiB in all), and an append of nothing keeps the state', async () => {
      const chunks = [randomBytes(1000), randomBytes(70_000), Buffer.alloc(0), randomBytes(3)];
      const { size, state } = await appendAcross(() => s.reopen(), key, chunks);
      await s.reopen().seal(key, size, state);
      expect((await readObject(s.store, key)).equals(Buffer.concat(chunks))).toBe(true);
    });

    it.each([
      ['no part yet', MiB + 123],
      ['parts already', 6 * MiB + 123],
    ])(
      'drops what an append that failed half-way wrote (%s): the next goes on from the last saved state; sealed, nothing else is left',
      async (_label, first) => {
        const a = randomBytes(first);
        let state = await appendBytes(s.store, key, 0, null, a);
        const failed = await s.reopen().appender(key, a.length, state);
        failed.on('error', () => undefined);
        await new Promise<void>((resolve) => failed.write(randomBytes(9 * MiB), () => resolve()));
        // as the upload service does (repo/uploads.ts): the next append starts once the failed one has closed,
        // its parts in flight ended (on S3, a part of it still on its way could land after the retry's own)
        const closed = new Promise((resolve) => failed.once('close', resolve));
        failed.destroy(new Error('the client went away'));
        await closed;
        const b = randomBytes(2 * MiB);
        state = await appendBytes(s.reopen(), key, a.length, state, b);
        await s.reopen().seal(key, a.length + b.length, state);
        expect((await readObject(s.store, key)).equals(Buffer.concat([a, b]))).toBe(true);
        const left: string[] = [];
        for await (const k of s.store.list(Keys.objectDir('append-session'))) left.push(k);
        for await (const u of s.store.unfinished(Keys.objectDir('append-session')))
          left.push(`unfinished ${u.key}`);
        expect(left).toEqual([key]);
      },
    );

    it('the sweep of the session folder leaves no object and no unfinished write', async () => {
      await appendAcross(() => s.reopen(), key, [randomBytes(6 * MiB), randomBytes(MiB)]);
      await s.reopen().deletePrefix(Keys.objectDir('append-session'));
      const left: string[] = [];
      for await (const k of s.store.list(Keys.objectDir('append-session'))) left.push(k);
      for await (const u of s.store.unfinished(Keys.objectDir('append-session'))) left.push(u.key);
      expect(left).toEqual([]);
    });

    it('refuses to append to a key with no object (the session lost its bytes): StoreNotFoundError', async () => {
      await expect(s.store.appender(Keys.upload('never-started'), 0, null)).rejects.toBeInstanceOf(
        StoreNotFoundError,
      );
    });
  });
}
