// Appends to an S3 object across requests and processes: one multipart upload, parts of ≥ 5 MiB, a tail object.
import { Writable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  PutObjectCommand,
  UploadPartCommand,
  UploadPartCopyCommand,
} from '@aws-sdk/client-s3';
import { StoreNotFoundError, type Appender, type AppendState } from './blob-store.js';
import { afterRoom, copyRanges, copySource, cutParts, MIN_PART, type S3WriteTarget } from './s3-writer.js';

/**
 * What the session keeps (as JSON, with its row) between appends. The object's bytes are, in order: the parts of
 * the multipart upload `u` (their ETags `e`, `b` bytes in all, each part ≥ 5 MiB) then the `n` bytes of the tail
 * object `<key>.tail-<t>` (under 5 MiB, so not a part yet). Each append writes the next tail generation and
 * deletes the one before the tail it read (no longer named by any saved state), so a state saved, or not saved
 * because the request failed after the store was written, always names objects that exist. A failed append's
 * parts keep numbers past `e`: the next append uploads over them, and Complete names only parts 1..e.
 */
interface S3AppendState {
  u?: string;
  e: string[];
  b: number;
  t: number;
  n: number;
}

/** S3 error names that mean the object or the multipart upload is gone. */
const GONE = new Set(['NoSuchKey', 'NotFound', 'NoSuchUpload']);
const gone = (e: unknown): boolean => GONE.has((e as { name?: string })?.name ?? '');

export const tailKey = (key: string, t: number): string => `${key}.tail-${t}`;

function parse(raw: AppendState, size: number, key: string): S3AppendState | null {
  if (raw === null) return null;
  const st = JSON.parse(raw) as S3AppendState;
  if (st.b + st.n !== size)
    throw new Error(`the append state of ${key} holds ${st.b + st.n} bytes, not ${size}`);
  return st;
}

/** An appender of `key` (full key), which holds `size` bytes as `raw` says; `storeKey` names it in errors. */
export async function s3Appender(
  t: S3WriteTarget,
  storeKey: string,
  size: number,
  raw: AppendState,
): Promise<Appender> {
  const prev = parse(raw, size, storeKey);
  try {
    await t.client.send(new HeadObjectCommand({ Bucket: t.bucket, Key: t.key }));
  } catch (e) {
    if (gone(e) || (e as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 404) {
      throw new StoreNotFoundError(storeKey);
    }
    throw e;
  }
  return new S3Appender(t, storeKey, size, prev, raw);
}

class S3Appender extends Writable implements Appender {
  private pending: Buffer[] = [];
  private pendingSize = 0;
  private readonly st: S3AppendState;
  private began?: Promise<void>;
  private readonly inflight = new Set<Promise<void>>();
  private failure?: Error;
  private written = 0;
  private result: AppendState;
  /** finished: what it wrote is named by the state it gives */
  private done = false;

  constructor(
    private readonly t: S3WriteTarget,
    private readonly storeKey: string,
    private readonly size: number,
    private readonly prev: S3AppendState | null,
    raw: AppendState,
  ) {
    super({ highWaterMark: 1024 * 1024 });
    this.st = prev ? { ...prev, e: [...prev.e] } : { e: [], b: 0, t: 0, n: 0 };
    this.result = raw;
  }

  appended(): AppendState {
    return this.result;
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (e?: Error | null) => void): void {
    if (this.failure) return cb(this.failure);
    this.begin().then(
      () => this.take(chunk, cb),
      (e: unknown) => cb(e as Error),
    );
  }

  override _final(cb: (e?: Error | null) => void): void {
    this.finishAppend().then(
      () => {
        this.done = true;
        cb();
      },
      (e: unknown) => cb(e as Error),
    );
  }

  /** Destroyed mid-way (the request failed): a multipart upload this append began goes; the saved one stays. */
  override _destroy(err: Error | null, cb: (e?: Error | null) => void): void {
    if (this.done) return cb(err);
    void (async () => {
      await Promise.allSettled([...this.inflight, this.creating]);
      if (this.prev?.u || !this.st.u) return;
      await this.t.client.send(
        new AbortMultipartUploadCommand({ Bucket: this.t.bucket, Key: this.t.key, UploadId: this.st.u }),
      );
    })().then(
      () => cb(err),
      () => cb(err),
    );
  }

  /**
   * Before the first new byte: the tail's bytes come first (read back: under 5 MiB). A session with no state but
   * bytes (its object written whole, e.g. by a final PUT that then failed) starts from that object: read under
   * 5 MiB, else copied inside S3 as the first parts, once.
   */
  private begin(): Promise<void> {
    this.began ??= (async () => {
      const { prev, size } = this;
      if (prev && prev.n > 0) this.keep(await this.read(tailKey(this.t.key, prev.t), prev.n));
      else if (!prev && size > 0 && size < MIN_PART) this.keep(await this.read(this.t.key, size));
      else if (!prev && size > 0) {
        const UploadId = await this.multipart();
        const ranges = copyRanges(size);
        this.st.e = await Promise.all(
          ranges.map(async ([s, e], i) => {
            const r = await this.t.client.send(
              new UploadPartCopyCommand({
                Bucket: this.t.bucket,
                Key: this.t.key,
                UploadId,
                PartNumber: i + 1,
                CopySource: copySource(this.t.bucket, this.t.key),
                CopySourceRange: `bytes=${s}-${e}`,
              }),
            );
            return r.CopyPartResult!.ETag!;
          }),
        );
        this.st.b = size;
      }
    })();
    return this.began;
  }

  private keep(b: Buffer): void {
    this.pending.push(b);
    this.pendingSize += b.length;
  }

  private async read(key: string, n: number): Promise<Buffer> {
    try {
      const r = await this.t.client.send(
        new GetObjectCommand({ Bucket: this.t.bucket, Key: key, Range: `bytes=0-${n - 1}` }),
      );
      return await buffer(r.Body as NodeJS.ReadableStream);
    } catch (e) {
      if (gone(e)) throw new StoreNotFoundError(this.storeKey);
      throw e;
    }
  }

  private take(chunk: Buffer, cb: (e?: Error | null) => void): void {
    this.written += chunk.length;
    this.keep(chunk);
    if (this.pendingSize < this.t.partSize) return cb();
    ({ pending: this.pending, size: this.pendingSize } = cutParts(
      this.pending,
      this.pendingSize,
      this.t.partSize,
      (part) => this.sendPart(part),
    ));
    afterRoom(this.inflight, this.t.parallel, () => cb(this.failure));
  }

  /** The rest: a last part if it is big enough, else the next tail; then the state to save. */
  private async finishAppend(): Promise<void> {
    if (this.written === 0) return; // nothing new: the state stays as it was
    if (this.pendingSize >= MIN_PART) {
      this.sendPart(Buffer.concat(this.pending, this.pendingSize));
      this.pending = [];
      this.pendingSize = 0;
    }
    await Promise.allSettled([...this.inflight]);
    if (this.failure) throw this.failure;
    const t = this.st.t + 1;
    if (this.pendingSize > 0) {
      const Body = Buffer.concat(this.pending, this.pendingSize);
      await this.t.client.send(
        new PutObjectCommand({
          Bucket: this.t.bucket,
          Key: tailKey(this.t.key, t),
          Body,
          ContentLength: Body.length,
        }),
      );
    }
    this.pending = [];
    // the tail before the one this append read is named by no state the session may still hold
    if (this.prev && this.prev.t > 0) {
      await this.t.client
        .send(new DeleteObjectCommand({ Bucket: this.t.bucket, Key: tailKey(this.t.key, this.prev.t - 1) }))
        .catch(() => undefined);
    }
    const next: S3AppendState = { ...this.st, t, n: this.pendingSize };
    this.pendingSize = 0;
    this.result = JSON.stringify(next);
  }

  private async multipart(): Promise<string> {
    if (!this.st.u) {
      const r = await this.t.client.send(
        new CreateMultipartUploadCommand({ Bucket: this.t.bucket, Key: this.t.key }),
      );
      this.st.u = r.UploadId!;
    }
    return this.st.u;
  }

  private creating?: Promise<string>;

  private sendPart(bytes: Buffer): void {
    const index = this.st.e.length;
    this.st.e.push('');
    this.st.b += bytes.length;
    const p = (async () => {
      this.creating ??= this.multipart();
      const UploadId = await this.creating;
      try {
        const r = await this.t.client.send(
          new UploadPartCommand({
            Bucket: this.t.bucket,
            Key: this.t.key,
            UploadId,
            PartNumber: index + 1,
            Body: bytes,
            ContentLength: bytes.length,
          }),
        );
        this.st.e[index] = r.ETag!;
      } catch (e) {
        if (gone(e)) throw new StoreNotFoundError(this.storeKey);
        throw e;
      }
    })().then(
      () => undefined,
      (e: unknown) => {
        this.failure ??= e as Error;
      },
    );
    this.inflight.add(p);
    void p.finally(() => this.inflight.delete(p));
  }
}

/**
 * Makes the appended bytes the object at `t.key`: the tail becomes the last part (copied inside S3; a last part may
 * be short) and the multipart upload is completed, or, with no part, the tail is copied to the key. Sealing again
 * finds the upload or the tail gone and the object already of `size` bytes: done. Then nothing is left but the
 * object: the tails go, and the multipart uploads of appends killed mid-way are aborted.
 */
export async function s3Seal(
  t: S3WriteTarget,
  storeKey: string,
  size: number,
  raw: AppendState,
): Promise<void> {
  const st = parse(raw, size, storeKey);
  if (!st) return;
  const { client, bucket, key } = t;
  const tail = tailKey(key, st.t);
  // the session's object is there from its start: gone, the session has lost its bytes (removed by hand)
  const before = await client
    .send(new HeadObjectCommand({ Bucket: bucket, Key: key }))
    .catch((e: unknown) => {
      if (gone(e) || (e as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 404) {
        return undefined;
      }
      throw e;
    });
  if (!before) throw new StoreNotFoundError(storeKey);
  try {
    if (!st.u) {
      if (st.n > 0) {
        await client.send(
          new CopyObjectCommand({ Bucket: bucket, Key: key, CopySource: copySource(bucket, tail) }),
        );
      }
    } else {
      const parts = st.e.map((ETag, i) => ({ PartNumber: i + 1, ETag }));
      if (st.n > 0) {
        const r = await client.send(
          new UploadPartCopyCommand({
            Bucket: bucket,
            Key: key,
            UploadId: st.u,
            PartNumber: parts.length + 1,
            CopySource: copySource(bucket, tail),
            CopySourceRange: `bytes=0-${st.n - 1}`,
          }),
        );
        parts.push({ PartNumber: parts.length + 1, ETag: r.CopyPartResult!.ETag! });
      }
      await client.send(
        new CompleteMultipartUploadCommand({
          Bucket: bucket,
          Key: key,
          UploadId: st.u,
          MultipartUpload: { Parts: parts },
        }),
      );
    }
  } catch (e) {
    if (!gone(e)) throw e;
    const head = await client
      .send(new HeadObjectCommand({ Bucket: bucket, Key: key }))
      .catch(() => undefined);
    if (head?.ContentLength !== size) throw new StoreNotFoundError(storeKey);
  }
  for (const k of st.t > 0 ? [tail, tailKey(key, st.t - 1)] : [tail]) {
    await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: k })).catch(() => undefined);
  }
  // multipart uploads a killed append began and no saved state names: the key's folder keeps only the object
  const left = await client.send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: key }));
  for (const u of left.Uploads ?? []) {
    if (u.Key !== key) continue;
    await client
      .send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: u.UploadId }))
      .catch(() => undefined);
  }
}
