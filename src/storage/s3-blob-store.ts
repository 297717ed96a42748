// The S3 BlobStore: objects in a bucket under a key prefix, over @aws-sdk/client-s3 (tested against Ceph RGW).
import type { Readable, Writable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import {
  AbortMultipartUploadCommand,
  CopyObjectCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  type S3Client,
} from '@aws-sdk/client-s3';
import {
  assertStoreKey,
  StoreNotFoundError,
  type Appender,
  type AppendState,
  type BlobStore,
  type ByteRange,
  type StoreEntry,
  type StoreStat,
} from './blob-store.js';
import { describeS3, s3Client, type S3Location } from './s3-config.js';
import { copySource, MIN_PART, S3Writer, type S3WriteTarget } from './s3-writer.js';
import { s3Appender, s3Seal } from './s3-appender.js';

export interface S3StoreOptions {
  /** keys per page of a listing (S3's most, and default: 1000) */
  listPageSize?: number;
  /** keys per batch delete (S3's most, and default: 1000) */
  deleteBatch?: number;
  /** bytes per part of a multipart upload (default 8 MiB, at least 5 MiB) */
  partSize?: number;
  /** parts of one writer uploaded at once (default 2) */
  parallel?: number;
}

/** What a server that does not do batch deletes answers to DeleteObjects (MissingContentMD5: it wants a checksum). */
const BATCH_REFUSED = new Set(['NotImplemented', 'MissingContentMD5', 'InvalidRequest', 'MethodNotAllowed']);

/** S3 copies objects up to 5 GiB in one request; larger ones need a multipart copy. */
const MAX_SINGLE_COPY = 5 * 1024 * 1024 * 1024;

interface S3ErrorShape {
  name?: string;
  Code?: string;
  $metadata?: { httpStatusCode?: number };
}
const s3Code = (e: unknown): string => {
  const x = e as S3ErrorShape;
  return x?.Code ?? x?.name ?? 'error';
};
const isNotFound = (e: unknown): boolean => {
  const x = e as S3ErrorShape;
  return (
    x?.name === 'NoSuchKey' ||
    x?.name === 'NotFound' ||
    (x?.$metadata?.httpStatusCode === 404 && x?.name !== 'NoSuchBucket')
  );
};

/**
 * Objects are S3 objects at `<prefix><key>`. What differs from the filesystem store (docs/architecture.md, "What the
 * BlobStore port promises"): an object appears whole when its writer finishes (never half-written); `move` is a
 * copy inside S3 then a delete, not atomic (a reader may see both keys for a moment, never neither); a writer with
 * `offset` makes a new object of the kept head (copied inside S3) and the new bytes.
 */
export class S3BlobStore implements BlobStore {
  readonly appendsInPlace = false;
  readonly client: S3Client;
  private readonly listPageSize: number;
  private readonly deleteBatch: number;
  private readonly partSize: number;
  private readonly parallel: number;
  /** set once the server refused a batch delete: deletes go one by one from then on */
  private batchRefused = false;

  constructor(
    readonly location: S3Location,
    opts: S3StoreOptions & { client?: S3Client } = {},
  ) {
    this.client = opts.client ?? s3Client(location);
    this.listPageSize = opts.listPageSize ?? 1000;
    this.deleteBatch = Math.min(opts.deleteBatch ?? 1000, 1000);
    this.partSize = Math.max(opts.partSize ?? 8 * 1024 * 1024, MIN_PART);
    this.parallel = opts.parallel ?? 2;
  }

  /** How the store is named in messages (no credentials). */
  describe(): string {
    return describeS3(this.location);
  }

  private full(key: string): string {
    assertStoreKey(key);
    return this.location.prefix + key;
  }

  private get bucket(): string {
    return this.location.bucket;
  }

  /** Checks that the bucket is there and these credentials reach it, naming bucket, endpoint and S3's code. */
  async check(): Promise<void> {
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: this.bucket }));
    } catch (e) {
      const status = (e as S3ErrorShape).$metadata?.httpStatusCode;
      const code = status === 404 ? 'NoSuchBucket' : status === 403 ? 'AccessDenied' : s3Code(e);
      const hint =
        code === 'NoSuchBucket'
          ? 'create the bucket, or give the right one in --store s3://BUCKET[/PREFIX]'
          : code === 'AccessDenied' || code === 'InvalidAccessKeyId' || code === 'SignatureDoesNotMatch'
            ? 'check the credentials (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or the credentials file) and the bucket policy'
            : code === 'CredentialsProviderError'
              ? 'give credentials in AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or in a credentials file (AWS_SHARED_CREDENTIALS_FILE)'
              : 'check --s3-endpoint and --s3-region, and that the server is up';
      throw new Error(
        `the S3 bucket "${this.bucket}" at ${this.location.endpoint ?? `AWS (${this.location.region})`} cannot be used: ${code}${status ? ` (HTTP ${status})` : ''} — ${hint}`,
        { cause: e },
      );
    }
  }

  async stat(key: string): Promise<StoreStat | null> {
    try {
      const r = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: this.full(key) }));
      return { size: r.ContentLength ?? 0, modifiedAt: r.LastModified ?? new Date(0) };
    } catch (e) {
      if (isNotFound(e)) return null;
      throw e;
    }
  }

  async reader(key: string, range?: ByteRange): Promise<Readable> {
    const Key = this.full(key);
    try {
      const r = await this.client.send(
        new GetObjectCommand({
          Bucket: this.bucket,
          Key,
          ...(range ? { Range: `bytes=${range.start}-${range.end}` } : {}),
        }),
      );
      return r.Body as Readable;
    } catch (e) {
      if (isNotFound(e)) throw new StoreNotFoundError(key);
      throw e;
    }
  }

  private target(key: string): S3WriteTarget {
    return {
      client: this.client,
      bucket: this.bucket,
      key: this.full(key),
      partSize: this.partSize,
      parallel: this.parallel,
    };
  }

  /** One multipart upload per object appended to, parts of `partSize`, a tail under 5 MiB: s3-appender.ts. */
  appender(key: string, size: number, state: AppendState): Promise<Appender> {
    return s3Appender(this.target(key), key, size, state);
  }

  seal(key: string, size: number, state: AppendState): Promise<void> {
    return s3Seal(this.target(key), key, size, state);
  }

  async writer(key: string, opts: { offset?: number } = {}): Promise<Writable> {
    const target = this.target(key);
    const Key = target.key;
    const offset = opts.offset ?? 0;
    if (offset === 0) return new S3Writer(target, undefined);
    const st = await this.stat(key);
    if (!st) throw new StoreNotFoundError(key);
    if (offset > st.size) throw new Error(`cannot continue ${key} at byte ${offset}: it holds ${st.size}`);
    if (offset < MIN_PART) {
      const head = await buffer(await this.reader(key, { start: 0, end: offset - 1 }));
      return new S3Writer(target, { head });
    }
    return new S3Writer(target, { copyFrom: Key, bytes: offset });
  }

  async move(from: string, to: string): Promise<void> {
    const src = this.full(from);
    const dst = this.full(to);
    const st = await this.stat(from);
    if (!st) throw new StoreNotFoundError(from);
    try {
      if (st.size <= MAX_SINGLE_COPY) {
        await this.client.send(
          new CopyObjectCommand({ Bucket: this.bucket, Key: dst, CopySource: copySource(this.bucket, src) }),
        );
      } else {
        const w = new S3Writer(
          {
            client: this.client,
            bucket: this.bucket,
            key: dst,
            partSize: this.partSize,
            parallel: this.parallel,
          },
          { copyFrom: src, bytes: st.size },
        );
        await new Promise<void>((resolve, reject) => w.once('error', reject).end(() => resolve()));
      }
    } catch (e) {
      if (isNotFound(e)) throw new StoreNotFoundError(from);
      throw e;
    }
    await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: src }));
  }

  async delete(key: string): Promise<void> {
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.full(key) }));
    } catch (e) {
      if (!isNotFound(e)) throw e;
    }
  }

  /**
   * Deletes the objects under `prefix` in batches (one by one where the server refuses batch deletes), and aborts
   * the incomplete multipart uploads there: what a writer of a process that died left behind.
   */
  async deletePrefix(prefix: string): Promise<void> {
    const p = prefix.replace(/\/+$/, '');
    assertStoreKey(p);
    await this.delete(p);
    let batch: string[] = [];
    for await (const key of this.list(p)) {
      batch.push(this.location.prefix + key);
      if (batch.length >= this.deleteBatch) {
        await this.deleteMany(batch);
        batch = [];
      }
    }
    if (batch.length) await this.deleteMany(batch);
    await this.abortUploads(`${this.location.prefix}${p}/`);
  }

  /**
   * Deletes full keys in one DeleteObjects request (up to 1000), falling back to one DeleteObject per key when the
   * server refuses batch deletes (then for the rest of this store's life) and for the keys it reports errors for;
   * throws when a single delete fails too.
   */
  private async deleteMany(keys: string[]): Promise<void> {
    let retry = keys;
    if (!this.batchRefused) {
      try {
        const r = await this.client.send(
          new DeleteObjectsCommand({
            Bucket: this.bucket,
            Delete: { Objects: keys.map((Key) => ({ Key })), Quiet: true },
          }),
        );
        retry = (r.Errors ?? []).filter((e) => e.Code !== 'NoSuchKey').map((e) => e.Key!);
      } catch (e) {
        if (!BATCH_REFUSED.has(s3Code(e))) throw e;
        this.batchRefused = true;
      }
    }
    for (const Key of retry) {
      try {
        await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key }));
      } catch (e) {
        if (!isNotFound(e)) throw e;
      }
    }
  }

  /** The incomplete multipart uploads under the full key prefix `prefix`, page by page. */
  private async *uploads(prefix: string): AsyncIterable<{ Key: string; UploadId: string; Initiated?: Date }> {
    let KeyMarker: string | undefined;
    let UploadIdMarker: string | undefined;
    for (;;) {
      const r = await this.client.send(
        new ListMultipartUploadsCommand({ Bucket: this.bucket, Prefix: prefix, KeyMarker, UploadIdMarker }),
      );
      for (const u of r.Uploads ?? []) yield { Key: u.Key!, UploadId: u.UploadId!, Initiated: u.Initiated };
      if (!r.IsTruncated) return;
      KeyMarker = r.NextKeyMarker;
      UploadIdMarker = r.NextUploadIdMarker;
    }
  }

  /** Aborts every incomplete multipart upload under the full key prefix `prefix`; returns how many. */
  async abortUploads(prefix: string): Promise<number> {
    let n = 0;
    for await (const u of this.uploads(prefix)) {
      await this.client
        .send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: u.Key, UploadId: u.UploadId }))
        .catch((e: unknown) => {
          if (!isNotFound(e) && s3Code(e) !== 'NoSuchUpload') throw e;
        });
      n += 1;
    }
    return n;
  }

  async *unfinished(prefix: string): AsyncIterable<{ key: string; startedAt: Date }> {
    const p = prefix.replace(/\/+$/, '');
    if (p !== '') assertStoreKey(p);
    for await (const u of this.uploads(this.location.prefix + (p === '' ? '' : `${p}/`))) {
      yield { key: u.Key.slice(this.location.prefix.length), startedAt: u.Initiated ?? new Date(0) };
    }
  }

  async *list(prefix: string): AsyncIterable<string> {
    for await (const e of this.entries(prefix)) yield e.key;
  }

  /** ListObjectsV2 page by page: S3 gives each key's size and time in the listing, in UTF-8 byte order. */
  async *entries(prefix: string): AsyncIterable<StoreEntry> {
    const p = prefix.replace(/\/+$/, '');
    if (p !== '') assertStoreKey(p);
    const Prefix = this.location.prefix + (p === '' ? '' : `${p}/`);
    let ContinuationToken: string | undefined;
    do {
      const r = await this.client.send(
        new ListObjectsV2Command({
          Bucket: this.bucket,
          Prefix,
          MaxKeys: this.listPageSize,
          ContinuationToken,
        }),
      );
      for (const o of r.Contents ?? []) {
        yield {
          key: o.Key!.slice(this.location.prefix.length),
          size: o.Size ?? 0,
          modifiedAt: o.LastModified ?? new Date(0),
        };
      }
      ContinuationToken = r.IsTruncated ? r.NextContinuationToken : undefined;
    } while (ContinuationToken);
  }
}
