// Covers src/storage/memory-blob-store.ts: MemoryBlobStore passes the BlobStore contract and streams in and out.
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';
import { MemoryBlobStore } from '../../src/storage/memory-blob-store.js';
import { blobStoreContract, readObject, writeObject } from './blob-store.contract.js';
import { appendContract } from './append.contract.js';

blobStoreContract('MemoryBlobStore', async () => ({ store: new MemoryBlobStore(), cleanup: async () => {} }));
// one instance is the whole store here: "another process" is the same Map, with no appender state in it
appendContract('MemoryBlobStore', async () => {
  const store = new MemoryBlobStore();
  return { store, reopen: () => store, cleanup: async () => {} };
});

describe('MemoryBlobStore specifics', () => {
  it('keeps copies of the chunks written, not the writer’s buffers', async () => {
    const store = new MemoryBlobStore();
    const reused = Buffer.from('aaaa');
    const w = await store.writer('k');
    w.write(reused);
    reused.fill('b');
    await pipeline(Readable.from([reused]), w);
    expect((await readObject(store, 'k')).toString()).toBe('aaaabbbb');
  });

  it('reads an object back in the chunks it was written in, not as one buffer', async () => {
    const store = new MemoryBlobStore();
    await writeObject(store, 'big', Buffer.alloc(1024 * 1024, 7), 64 * 1024);
    const sizes: number[] = [];
    for await (const c of await store.reader('big')) sizes.push((c as Buffer).length);
    expect(sizes).toHaveLength(16);
    expect(new Set(sizes)).toEqual(new Set([64 * 1024]));
    const ranged: number[] = [];
    for await (const c of await store.reader('big', { start: 100, end: 200_000 }))
      ranged.push((c as Buffer).length);
    expect(ranged).toEqual([64 * 1024 - 100, 64 * 1024, 64 * 1024, 200_001 - 3 * 64 * 1024]);
  });

  it('keeps writing to an object that was moved while its writer was open', async () => {
    const store = new MemoryBlobStore();
    const w = await store.writer('uploads/x/data');
    await new Promise<void>((resolve) => w.write(Buffer.from('first '), () => resolve()));
    await store.move('uploads/x/data', 'blobs/x');
    await new Promise<void>((resolve) => w.end(Buffer.from('second'), () => resolve()));
    expect((await readObject(store, 'blobs/x')).toString()).toBe('first second');
    expect(await store.stat('uploads/x/data')).toBeNull();
  });
});
