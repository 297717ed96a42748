// Covers src/storage/fs-blob-store.ts: FsBlobStore passes the BlobStore contract and keeps its files under its root.
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FsBlobStore } from '../../src/storage/fs-blob-store.js';
import { blobStoreContract, readObject, writeObject } from './blob-store.contract.js';
import { appendContract } from './append.contract.js';

async function tempStore(): Promise<{ store: FsBlobStore; root: string; cleanup(): Promise<void> }> {
  const root = await mkdtemp(join(tmpdir(), 'berth-fs-store-'));
  return { store: new FsBlobStore(root), root, cleanup: () => rm(root, { recursive: true, force: true }) };
}

blobStoreContract('FsBlobStore', tempStore);
appendContract('FsBlobStore', async () => {
  const t = await tempStore();
  return { ...t, reopen: () => new FsBlobStore(t.root) };
});

describe('FsBlobStore specifics', () => {
  let cleanup: (() => Promise<void>) | undefined;
  afterEach(async () => {
    await cleanup?.();
    cleanup = undefined;
  });

  it('stores an object as a file at the path of its key under the root', async () => {
    const t = await tempStore();
    cleanup = t.cleanup;
    await writeObject(t.store, 'blobs/sha256/ab/abcdef', Buffer.from('bytes'));
    expect(await readdir(join(t.root, 'blobs', 'sha256', 'ab'))).toEqual(['abcdef']);
    expect((await readObject(new FsBlobStore(t.root), 'blobs/sha256/ab/abcdef')).toString()).toBe('bytes');
  });

  it('removes the folder of a deleted prefix', async () => {
    const t = await tempStore();
    cleanup = t.cleanup;
    await writeObject(t.store, 'staging/s1/0', Buffer.from('0'));
    await t.store.deletePrefix('staging/s1/');
    expect(await readdir(join(t.root, 'staging'))).toEqual([]);
  });
});
