// Covers src/storage/s3-blob-store.ts on a real Ceph RGW: the BlobStore contract, and what only S3 has.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeUnless } from '../helpers/backend.js';
import { randomUUID } from 'node:crypto';
import { S3BlobStore } from '../../src/storage/s3-blob-store.js';
import {
  breakBatchDeletes,
  countRequests,
  createTestBucket,
  removeTestBucket,
  S3_MISSING,
  s3Available,
  testLocation,
  testStore,
} from '../helpers/s3.js';
import { blobStoreContract, writeObject } from './blob-store.contract.js';

const available = await s3Available();
let bucket = '';

describeUnless(available, S3_MISSING)('S3BlobStore on RGW', () => {
  beforeAll(async () => {
    bucket = await createTestBucket('store');
  });
  afterAll(async () => {
    if (bucket) await removeTestBucket(bucket);
  });

  // small pages and batches, so that 300 keys take several of each (RGW takes ~20 ms a PUT here); the smallest
  // parts S3 allows
  blobStoreContract('S3BlobStore', async () => {
    const store = testStore(bucket, { listPageSize: 50, deleteBatch: 120, partSize: 5 * 1024 * 1024 });
    return {
      store,
      manyKeys: 300,
      cleanup: async () => {
        for await (const key of store.list('')) await store.delete(key);
        await store.abortUploads(store.location.prefix);
      },
    };
  });

  it('names bucket, endpoint and S3 error code when the bucket is missing, and when the keys are wrong', async () => {
    const missing = testStore('berth-no-such-bucket');
    await expect(missing.check()).rejects.toThrow(
      /S3 bucket "berth-no-such-bucket" at http:\/\/127\.0\.0\.1:\d+ cannot be used: NoSuchBucket \(HTTP 404\) — create the bucket/,
    );
    await expect(testStore(bucket).check()).resolves.toBeUndefined();
  });

  /** A store on a fresh prefix with its own client (counted, and its batch deletes broken as `how` says). */
  async function storeWith(how?: 'refused' | 'per-key') {
    const store = new S3BlobStore(testLocation(bucket, `d-${randomUUID().slice(0, 8)}/`), {
      deleteBatch: 40,
    });
    const requests = countRequests(store.client);
    if (how) breakBatchDeletes(store.client, how);
    const keys = Array.from({ length: 100 }, (_, i) => `trash/c/${String(i).padStart(3, '0')}`);
    const todo = [...keys];
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        for (let k = todo.pop(); k; k = todo.pop()) await writeObject(store, k, Buffer.from(k));
      }),
    );
    await writeObject(store, 'trash/other/x', Buffer.from('kept'));
    requests.clear();
    return { store, requests };
  }
  const keysUnder = async (store: S3BlobStore, prefix: string) => {
    const keys: string[] = [];
    for await (const k of store.list(prefix)) keys.push(k);
    return keys;
  };

  it('deletes a folder in batches of at most deleteBatch keys, one DeleteObjects request each', async () => {
    const { store, requests } = await storeWith();
    await store.deletePrefix('trash/c/');
    expect(await keysUnder(store, 'trash/')).toEqual(['trash/other/x']);
    expect(requests.get('DeleteObjectsCommand')).toBe(3); // 40 + 40 + 20
    expect(requests.get('DeleteObjectCommand')).toBe(1); // the folder's name itself (deletePrefix deletes an object there too)
  });

  it('falls back to single deletes when the server refuses batch deletes, and keeps to them', async () => {
    const { store, requests } = await storeWith('refused');
    await store.deletePrefix('trash/c/');
    expect(await keysUnder(store, 'trash/')).toEqual(['trash/other/x']);
    expect(requests.get('DeleteObjectsCommand')).toBe(1); // refused once, not asked again
    expect(requests.get('DeleteObjectCommand')).toBe(1 + 100);
  });

  it('deletes one by one the keys a batch delete reports errors for', async () => {
    const { store, requests } = await storeWith('per-key');
    await store.deletePrefix('trash/c/');
    expect(await keysUnder(store, 'trash/')).toEqual(['trash/other/x']);
    expect(requests.get('DeleteObjectsCommand')).toBe(3);
    expect(requests.get('DeleteObjectCommand')).toBe(1 + 50); // the odd half of each batch
  });
});
