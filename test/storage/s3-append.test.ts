// Covers src/storage/s3-appender.ts on a real Ceph RGW: the append contract, one multipart upload per session, parts
// of at least 5 MiB, the tail kept in the bucket, and appends that read back nothing but the tail.
import { randomBytes } from 'node:crypto';
import {
  CreateMultipartUploadCommand,
  ListMultipartUploadsCommand,
  ListPartsCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { S3BlobStore } from '../../src/storage/s3-blob-store.js';
import { Keys } from '../../src/storage/cas.js';
import { describeUnless } from '../helpers/backend.js';
import { createTestBucket, removeTestBucket, S3_MISSING, s3Available, testStore } from '../helpers/s3.js';
import { appendAcross, appendContract } from './append.contract.js';
import { readObject, writeObject } from './blob-store.contract.js';

const available = await s3Available();
let bucket = '';
const MiB = 1024 * 1024;

/** Records each request `client` sends: its command and the key it names. */
function recordRequests(client: S3Client, into: Array<{ command: string; key: string }>): void {
  client.middlewareStack.add(
    (next, context) => async (args) => {
      into.push({ command: context.commandName ?? '?', key: (args.input as { Key?: string }).Key ?? '' });
      return next(args);
    },
    { step: 'initialize', name: 'berthTestRecordRequests' },
  );
}

describeUnless(available, S3_MISSING)('S3 appends on RGW', () => {
  beforeAll(async () => {
    bucket = await createTestBucket('append');
  });
  afterAll(async () => {
    if (bucket) await removeTestBucket(bucket);
  });

  appendContract('S3BlobStore', async () => {
    const store = testStore(bucket);
    return {
      store,
      reopen: () => new S3BlobStore(store.location),
      cleanup: async () => {
        await store.deletePrefix('objects');
      },
    };
  });

  it('one multipart upload per session, parts of at least 5 MiB, the tail in the bucket, nothing else read back', async () => {
    const store = testStore(bucket);
    const key = Keys.upload('parts');
    const full = store.location.prefix + key;
    await writeObject(store, key, Buffer.alloc(0));
    const sent: Array<{ command: string; key: string }> = [];
    const reopen = (): S3BlobStore => {
      const s = new S3BlobStore(store.location);
      recordRequests(s.client, sent);
      return s;
    };
    const chunks = [
      ...Array.from({ length: 12 }, () => randomBytes(MiB)),
      randomBytes(7 * MiB),
      randomBytes(7 * MiB),
      randomBytes(3 * MiB),
    ];
    const { size, state } = await appendAcross(reopen, key, chunks);

    // no append read the object or copied it: the only reads are of the tail (under 5 MiB), one per append at most
    expect(sent.filter((r) => r.command === 'UploadPartCopyCommand')).toEqual([]);
    const reads = sent.filter((r) => r.command === 'GetObjectCommand');
    expect(reads.every((r) => r.key.startsWith(`${full}.tail-`))).toBe(true);
    expect(reads.length).toBeLessThanOrEqual(chunks.length);
    // one multipart upload; its parts (all but a last) of at least 5 MiB; the rest, under 5 MiB, a tail object
    const uploads = await store.client.send(
      new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: store.location.prefix }),
    );
    expect((uploads.Uploads ?? []).map((u) => u.Key)).toEqual([full]);
    const parts = await store.client.send(
      new ListPartsCommand({ Bucket: bucket, Key: full, UploadId: uploads.Uploads![0]!.UploadId }),
    );
    const sizes = (parts.Parts ?? []).map((p) => p.Size!);
    expect(sizes.every((n) => n >= 5 * MiB)).toBe(true);
    const inParts = sizes.reduce((a, b) => a + b, 0);
    const tails = [];
    for await (const e of store.entries(Keys.objectDir('parts'))) if (e.key !== key) tails.push(e);
    expect(tails.length).toBeLessThanOrEqual(2); // the tail and, at most, the one before it
    const generation = (k: string): number => Number(k.slice(k.lastIndexOf('-') + 1));
    // each append writes the next tail generation (none when no bytes are left over); the one before stays until
    // the next append, in case the session's new state was not saved
    expect(tails.every((t) => generation(t.key) >= chunks.length - 1)).toBe(true);
    const tail = tails.find((t) => generation(t.key) === chunks.length)?.size ?? 0;
    expect(tail).toBeLessThan(5 * MiB);
    expect(inParts + tail).toBe(size);

    // sealed: one object, no multipart upload, no tail left
    await reopen().seal(key, size, state);
    expect((await readObject(store, key)).equals(Buffer.concat(chunks))).toBe(true);
    const after = await store.client.send(
      new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: store.location.prefix }),
    );
    expect(after.Uploads ?? []).toEqual([]);
    const left: string[] = [];
    for await (const k of store.list(Keys.objectDir('parts'))) left.push(k);
    expect(left).toEqual([key]);
    await store.deletePrefix('objects');
  });

  it('sealing aborts the multipart upload an append killed mid-way began (no saved state names it)', async () => {
    const store = testStore(bucket);
    const key = Keys.upload('killed');
    const full = store.location.prefix + key;
    await writeObject(store, key, Buffer.alloc(0));
    const { size, state } = await appendAcross(() => new S3BlobStore(store.location), key, [
      randomBytes(MiB),
    ]);
    // what a process killed in its next append leaves: a multipart upload of the key, named by no saved state
    await store.client.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: full }));
    await new S3BlobStore(store.location).seal(key, size, state);
    const after = await store.client.send(
      new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: store.location.prefix }),
    );
    expect(after.Uploads ?? []).toEqual([]);
    expect((await store.stat(key))?.size).toBe(MiB);
    await store.deletePrefix('objects');
  });

  it('the sweep of a session folder aborts its multipart upload: ListMultipartUploads is empty', async () => {
    const store = testStore(bucket);
    const key = Keys.upload('swept');
    await writeObject(store, key, Buffer.alloc(0));
    await appendAcross(() => new S3BlobStore(store.location), key, [randomBytes(6 * MiB)]);
    const list = () =>
      store.client.send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: store.location.prefix }));
    expect((await list()).Uploads?.length).toBe(1);
    await new S3BlobStore(store.location).deletePrefix(Keys.objectDir('swept'));
    expect((await list()).Uploads ?? []).toEqual([]);
  });
});
