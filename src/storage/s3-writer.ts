// The writer of an S3 object: small objects in one PUT, larger ones as a multipart upload of fixed-size parts.
import { Writable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  PutObjectCommand,
  UploadPartCommand,
  UploadPartCopyCommand,
  type CompletedPart,
  type S3Client,
} from '@aws-sdk/client-s3';

/** S3's smallest part (but the last); and its largest, for the copied head of a continued object. */
export const MIN_PART = 5 * 1024 * 1024;
const MAX_COPY_PART = 4 * 1024 * 1024 * 1024;

export interface S3WriteTarget {
  client: S3Client;
  bucket: string;
  /** the object's full key (with the store's prefix) */
  key: string;
  /** bytes per part (at least MIN_PART); the writer holds at most (1 + parallel) parts in memory */
  partSize: number;
  /** parts uploaded at once */
  parallel: number;
}

/** Where a continued object's first bytes come from: read (under MIN_PART) or copied inside S3. */
export type WriterStart = { head: Buffer } | { copyFrom: string; bytes: number } | undefined;

/** The byte ranges (inclusive) of the copy parts of `bytes` bytes: each between MIN_PART and 4 GiB. */
export function copyRanges(bytes: number): Array<[number, number]> {
  const n = Math.ceil(bytes / MAX_COPY_PART);
  const size = Math.ceil(bytes / n);
  const out: Array<[number, number]> = [];
  for (let at = 0; at < bytes; at += size) out.push([at, Math.min(at + size, bytes) - 1]);
  return out;
}

/**
 * Writes one object. Nothing is visible at the key until the writer finishes ('finish' comes after S3 has the
 * whole object): a writer destroyed before that leaves the key as it was and aborts its multipart upload. A
 * process that dies mid-way leaves an incomplete multipart upload, invisible to reads and listings, which
 * S3BlobStore.deletePrefix (the sweep of an upload's or staging folder) aborts.
 */
export class S3Writer extends Writable {
  private pending: Buffer[] = [];
  private pendingSize = 0;
  private uploadId?: Promise<string>;
  private readonly parts: CompletedPart[] = [];
  private nextPart = 1;
  private readonly inflight = new Set<Promise<void>>();
  private failure?: Error;
  private readonly copies: Array<[number, number]>;
  private done = false;

  constructor(
    private readonly t: S3WriteTarget,
    private readonly start: WriterStart,
  ) {
    super({ highWaterMark: 1024 * 1024 });
    if (start && 'head' in start && start.head.length > 0) {
      this.pending.push(start.head);
      this.pendingSize = start.head.length;
    }
    this.copies = start && 'copyFrom' in start ? copyRanges(start.bytes) : [];
    this.nextPart = this.copies.length + 1;
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (e?: Error | null) => void): void {
    if (this.failure) return cb(this.failure);
    this.pending.push(chunk);
    this.pendingSize += chunk.length;
    if (this.pendingSize < this.t.partSize) return cb();
    ({ pending: this.pending, size: this.pendingSize } = cutParts(
      this.pending,
      this.pendingSize,
      this.t.partSize,
      (part) => this.sendPart(part),
    ));
    afterRoom(this.inflight, this.t.parallel, () => cb(this.failure));
  }

  override _final(cb: (e?: Error | null) => void): void {
    this.finishObject().then(
      () => {
        this.done = true;
        cb();
      },
      (e: unknown) => cb(e as Error),
    );
  }

  override _destroy(err: Error | null, cb: (e?: Error | null) => void): void {
    if (this.done || !this.uploadId) return cb(err);
    this.abort().then(
      () => cb(err),
      () => cb(err),
    );
  }

  private async finishObject(): Promise<void> {
    const body = Buffer.concat(this.pending, this.pendingSize);
    this.pending = [];
    if (!this.uploadId && this.copies.length === 0) {
      await this.t.client.send(
        new PutObjectCommand({
          Bucket: this.t.bucket,
          Key: this.t.key,
          Body: body,
          ContentLength: body.length,
        }),
      );
      return;
    }
    try {
      if (body.length > 0 || this.nextPart === 1) this.sendPart(body);
      else this.multipart(); // only copied parts: the upload still has to exist
      await Promise.allSettled([...this.inflight]);
      if (this.failure) throw this.failure;
      const uploadId = await this.multipart();
      const parts = [...this.parts].sort((a, b) => a.PartNumber! - b.PartNumber!);
      await this.t.client.send(
        new CompleteMultipartUploadCommand({
          Bucket: this.t.bucket,
          Key: this.t.key,
          UploadId: uploadId,
          MultipartUpload: { Parts: parts },
        }),
      );
    } catch (e) {
      await this.abort().catch(() => undefined);
      throw e;
    }
  }

  /** The upload's id, creating it (and its copied parts) on first need. */
  private multipart(): Promise<string> {
    this.uploadId ??= (async () => {
      const created = await this.t.client.send(
        new CreateMultipartUploadCommand({ Bucket: this.t.bucket, Key: this.t.key }),
      );
      const id = created.UploadId!;
      const from = this.start && 'copyFrom' in this.start ? this.start.copyFrom : '';
      await Promise.all(
        this.copies.map(async ([s, e], i) => {
          const r = await this.t.client.send(
            new UploadPartCopyCommand({
              Bucket: this.t.bucket,
              Key: this.t.key,
              UploadId: id,
              PartNumber: i + 1,
              CopySource: copySource(this.t.bucket, from),
              CopySourceRange: `bytes=${s}-${e}`,
            }),
          );
          this.parts.push({ PartNumber: i + 1, ETag: r.CopyPartResult!.ETag! });
        }),
      );
      return id;
    })();
    return this.uploadId;
  }

  private sendPart(bytes: Buffer): void {
    const PartNumber = this.nextPart++;
    const p = (async () => {
      const UploadId = await this.multipart();
      const r = await this.t.client.send(
        new UploadPartCommand({
          Bucket: this.t.bucket,
          Key: this.t.key,
          UploadId,
          PartNumber,
          Body: bytes,
          ContentLength: bytes.length,
        }),
      );
      this.parts.push({ PartNumber, ETag: r.ETag! });
    })().then(
      () => undefined,
      (e: unknown) => {
        this.failure ??= e as Error;
      },
    );
    this.inflight.add(p);
    void p.finally(() => this.inflight.delete(p));
  }

  private async abort(): Promise<void> {
    const pending = this.uploadId;
    if (!pending) return;
    await Promise.allSettled([...this.inflight]);
    const UploadId = await pending.catch(() => undefined);
    if (!UploadId) return;
    await this.t.client.send(
      new AbortMultipartUploadCommand({ Bucket: this.t.bucket, Key: this.t.key, UploadId }),
    );
  }
}

/** The x-amz-copy-source of an object: bucket/key with each segment URL-encoded. */
export function copySource(bucket: string, key: string): string {
  return `${bucket}/${key.split('/').map(encodeURIComponent).join('/')}`;
}

/**
 * Cuts the whole parts of `partSize` off the `size` bytes of `pending` and hands each to `send`; returns what is
 * left (less than a part). Shared by the S3 writer and appender.
 */
export function cutParts(
  pending: Buffer[],
  size: number,
  partSize: number,
  send: (part: Buffer) => void,
): { pending: Buffer[]; size: number } {
  const all = Buffer.concat(pending, size);
  let at = 0;
  for (; all.length - at >= partSize; at += partSize) send(all.subarray(at, at + partSize));
  return { pending: at < all.length ? [all.subarray(at)] : [], size: all.length - at };
}

/** Calls `go` now while fewer than `parallel` parts are in flight, else once one is through (back-pressure). */
export function afterRoom(inflight: Set<Promise<void>>, parallel: number, go: () => void): void {
  if (inflight.size < parallel) return go();
  Promise.race(inflight).then(go, go);
}
