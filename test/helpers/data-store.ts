// The blob store of a test data folder: files under <data>/store, or (BERTH_TEST_STORE=s3) one bucket per data folder.
//
// Every server started on a data folder, and every CLI command run on it (`berth fsck --data …`), uses the same
// store: with BERTH_TEST_STORE=s3, the bucket made the first time the folder is asked about. Buckets live until
// `releaseDataStore` (a test that removes its data folder) or the end of the test file (test/setup.ts), not until a
// server stops, so that a server restarted on the folder finds its objects again. Tests look at the store through
// the port (`storeView`) and `storedBytes`, never through readdirSync, so that they read the same on both stores.
import { resolve, join } from 'node:path';
import { ListMultipartUploadsCommand, ListObjectsV2Command, ListPartsCommand } from '@aws-sdk/client-s3';
import type { BlobStore } from '../../src/storage/blob-store.js';
import { FsBlobStore } from '../../src/storage/fs-blob-store.js';
import { S3BlobStore } from '../../src/storage/s3-blob-store.js';
import type { S3Location } from '../../src/storage/s3-config.js';
import { bytesUnder } from './state.js';
import { createTestBucket, removeTestBucket, S3_ENDPOINT, testLocation, testStoreKind } from './s3.js';

/** data folder (resolved) → its S3 location, being made or made */
const buckets = new Map<string, Promise<S3Location>>();

const labelOf = (data: string): string =>
  (data.split('/').filter(Boolean).slice(-2).join('-') || 'data').slice(0, 30);

/** The S3 location of a data folder's store (its bucket, made on first use), or undefined for files. */
export function dataStoreLocation(data: string): Promise<S3Location | undefined> {
  if (testStoreKind() !== 's3') return Promise.resolve(undefined);
  const key = resolve(data);
  let made = buckets.get(key);
  if (!made) {
    made = createTestBucket(labelOf(key)).then((bucket) => testLocation(bucket, 'berth/'));
    made.catch(() => buckets.delete(key)); // the next caller tries again
    buckets.set(key, made);
  }
  return made;
}

/** `--store s3://… --s3-endpoint …` for a data folder (`berth serve`, `berth fsck`, …); none for files. */
export async function storeArgs(data: string): Promise<string[]> {
  const loc = await dataStoreLocation(data);
  return loc ? ['--store', `s3://${loc.bucket}/${loc.prefix}`, '--s3-endpoint', S3_ENDPOINT] : [];
}

/** The data folder's store as berth sees it: FsBlobStore on <data>/store, or the S3BlobStore on its bucket. */
export async function storeView(data: string): Promise<BlobStore> {
  const loc = await dataStoreLocation(data);
  return loc ? new S3BlobStore(loc) : new FsBlobStore(join(data, 'store'));
}

/** Every key under `prefix` of the data folder's store. */
export async function storeKeys(data: string, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const k of (await storeView(data)).list(prefix)) keys.push(k);
  return keys;
}

/** The keys of writes begun under `prefix` and not finished (S3's incomplete multipart uploads; none on files). */
export async function unfinishedKeys(data: string, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const u of (await storeView(data)).unfinished(prefix)) keys.push(u.key);
  return keys;
}

/**
 * The bytes stored under `prefix` ('' for all): on files, of the files there; on S3, of the listed objects (sizes
 * from the listing) plus the parts already uploaded of writes in progress (a multipart upload is no object until
 * it completes, yet its parts are stored: what a write killed mid-way leaves).
 */
export async function storedBytes(data: string, prefix = ''): Promise<number> {
  const loc = await dataStoreLocation(data);
  if (!loc) return bytesUnder(join(data, 'store', ...prefix.split('/').filter(Boolean)));
  const store = new S3BlobStore(loc);
  const Prefix = loc.prefix + prefix;
  let total = 0;
  let ContinuationToken: string | undefined;
  do {
    const r = await store.client.send(
      new ListObjectsV2Command({ Bucket: loc.bucket, Prefix, ContinuationToken }),
    );
    for (const o of r.Contents ?? []) total += o.Size ?? 0;
    ContinuationToken = r.IsTruncated ? r.NextContinuationToken : undefined;
  } while (ContinuationToken);
  let KeyMarker: string | undefined;
  let UploadIdMarker: string | undefined;
  do {
    const r = await store.client.send(
      new ListMultipartUploadsCommand({ Bucket: loc.bucket, Prefix, KeyMarker, UploadIdMarker }),
    );
    for (const u of r.Uploads ?? []) {
      // (an upload may complete or be aborted between the two requests: it then has no parts to count)
      const parts = await store.client
        .send(new ListPartsCommand({ Bucket: loc.bucket, Key: u.Key, UploadId: u.UploadId }))
        .catch(() => undefined);
      for (const p of parts?.Parts ?? []) total += p.Size ?? 0;
    }
    KeyMarker = r.IsTruncated ? r.NextKeyMarker : undefined;
    UploadIdMarker = r.IsTruncated ? r.NextUploadIdMarker : undefined;
  } while (KeyMarker);
  return total;
}

/** Removes the bucket of a data folder (when the test removes the folder itself); nothing on files. */
export async function releaseDataStore(data: string): Promise<void> {
  const key = resolve(data);
  const made = buckets.get(key);
  buckets.delete(key);
  const loc = await made?.catch(() => undefined);
  if (loc) await removeTestBucket(loc.bucket);
}

/** Removes every bucket still held (test/setup.ts, after each test file). */
export async function releaseAllDataStores(): Promise<void> {
  for (const data of [...buckets.keys()]) await releaseDataStore(data);
}
