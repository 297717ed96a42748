// `berth migrate-store`: every blob the database records (layers, configs, manifests), copied into another store.
import type { Kysely } from 'kysely';
import type { Digest } from '../core/digest.js';
import type { Database } from '../db/schema.js';
import { blobRowsByDigest, type BlobRowState } from '../db/blob-rows.js';
import { StoreNotFoundError, type BlobStore } from '../storage/blob-store.js';
import { storedKey } from '../storage/cas.js';
import { copyObject, CopyMismatchError, holds, type OnBytes } from '../storage/copy-object.js';

type Db = Kysely<Database>;

const PAGE = 500;

export interface MigrationProgress {
  /** rows dealt with so far, of `total` counted at the start (rows added since may take it past) */
  done: number;
  total: number;
  bytesDone: number;
  bytesTotal: number;
}

export interface MigrationFailure {
  digest: Digest;
  size: number;
  key: string;
  /** missing: no object in the source; size, digest: the source's bytes are not the row's; error: anything else */
  problem: 'missing' | 'size' | 'digest' | 'error';
  detail: string;
}

export interface MigrationReport {
  /** blob rows with bytes to copy, counted at the start */
  total: { count: number; bytes: number };
  /** objects written to the destination by this run */
  copied: { count: number; bytes: number };
  /** of them, objects that were there with the wrong size (or, with verify, the wrong bytes) and were replaced */
  replaced: number;
  /** objects already at the destination with the right size (with verify: hashed, the right bytes) */
  present: { count: number; bytes: number };
  /** rows with no bytes to copy: marked missing (fsck) with no object in the source, on-demand blobs never
   *  fetched, rows cleanup removed during the run */
  skipped: { markedMissing: number; onDemand: number; gone: number };
  /** unfinished writes under blobs/ at the destination (left by an interrupted run), aborted first */
  abortedUnfinished: number;
  failed: MigrationFailure[];
  verified: boolean;
}

export interface MigrationOptions {
  /** hash what is copied (as it streams) and what is already at the destination, against the digest */
  verify?: boolean;
  /** blobs copied at once (default 4) */
  parallel?: number;
  onProgress?: (p: MigrationProgress) => void;
}

type Row = BlobRowState;

/**
 * Copies from `from` into `to`, at the same keys (cas.ts's blobs/…), the bytes of every row of `blobs`, and
 * nothing else (no uploads/, staging/, trash/). Idempotent and resumable: an object already at the destination
 * with the right size is left alone; an object is written whole or not at all (the destination is S3, whose
 * writers leave nothing of a copy that fails). Meant to run while a server serves from `from`: rows are read a
 * page at a time, and a row cleanup removes meanwhile is no failure. Rows added behind the page being read are
 * found by the next run, which is why the last one runs with the writers stopped (docs/deploy.md).
 */
export class StoreMigration {
  constructor(
    private readonly db: Db,
    private readonly from: BlobStore,
    private readonly to: BlobStore,
    /** aborts the destination's unfinished writes under blobs/ (S3: multipart uploads of a killed run) */
    private readonly abortUnfinished: () => Promise<number>,
  ) {}

  async run(opts: MigrationOptions = {}): Promise<MigrationReport> {
    const verify = opts.verify ?? false;
    const totals = await this.db
      .selectFrom('blobs')
      .select((eb) => [eb.fn.countAll<number>().as('count'), eb.fn.sum<number>('size').as('bytes')])
      .where('state', '!=', 'remote')
      .executeTakeFirstOrThrow();
    const report: MigrationReport = {
      total: { count: Number(totals.count), bytes: Number(totals.bytes ?? 0) },
      copied: { count: 0, bytes: 0 },
      replaced: 0,
      present: { count: 0, bytes: 0 },
      skipped: { markedMissing: 0, onDemand: 0, gone: 0 },
      abortedUnfinished: await this.abortUnfinished(),
      failed: [],
      verified: verify,
    };
    const progress: MigrationProgress = {
      done: 0,
      total: report.total.count,
      bytesDone: 0,
      bytesTotal: report.total.bytes,
    };
    opts.onProgress?.({ ...progress });
    const rows = this.rows();
    const worker = async (): Promise<void> => {
      for (;;) {
        const next = await rows.next();
        if (next.done) return;
        const row = next.value;
        if (row.state === 'remote') {
          report.skipped.onDemand += 1;
          continue;
        }
        // bytes are told as they stream (a large blob shows progress), the rest of the row's size at its end
        let streamed = 0;
        await this.migrate(row, verify, report, (n) => {
          streamed += n;
          progress.bytesDone += n;
          opts.onProgress?.({ ...progress });
        });
        progress.done += 1;
        progress.bytesDone += row.size - streamed;
        opts.onProgress?.({ ...progress });
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, opts.parallel ?? 4) }, worker));
    report.failed.sort((a, b) => a.digest.localeCompare(b.digest));
    return report;
  }

  /** The rows of `blobs`, a page at a time in digest order. */
  private rows(): AsyncGenerator<Row> {
    return blobRowsByDigest(this.db, PAGE);
  }

  private async migrate(row: Row, verify: boolean, report: MigrationReport, onBytes: OnBytes): Promise<void> {
    const key = storedKey(row.digest, row.objectKey);
    const want = { size: row.size, ...(verify ? { digest: row.digest } : {}) };
    try {
      const there = await this.to.stat(key);
      if (there && (await holds(this.to, key, want))) {
        report.present.count += 1;
        report.present.bytes += row.size;
        return;
      }
      await copyObject(this.from, this.to, key, want, onBytes);
      report.copied.count += 1;
      report.copied.bytes += row.size;
      if (there) report.replaced += 1;
    } catch (e) {
      const now = await this.stateOf(row.digest);
      // removed by cleanup (or marked missing by fsck) since the page was read: nothing to copy
      if (now === undefined || now === 'remote') {
        report.skipped.gone += 1;
        return;
      }
      if (e instanceof StoreNotFoundError && now === 'missing') {
        report.skipped.markedMissing += 1;
        return;
      }
      report.failed.push(failure(row, key, e));
    }
  }

  private async stateOf(digest: Digest): Promise<Row['state'] | undefined> {
    const r = await this.db
      .selectFrom('blobs')
      .select('state')
      .where('digest', '=', digest)
      .executeTakeFirst();
    return r?.state;
  }
}

function failure(row: Row, key: string, e: unknown): MigrationFailure {
  const base = { digest: row.digest, size: row.size, key };
  if (e instanceof StoreNotFoundError) {
    return {
      ...base,
      problem: 'missing',
      detail: `no object at ${key} in the source (its row says ${row.size} bytes)`,
    };
  }
  if (e instanceof CopyMismatchError) return { ...base, problem: e.problem, detail: e.message };
  const code = (e as { Code?: string; code?: string }).Code ?? (e as { code?: string }).code;
  return { ...base, problem: 'error', detail: `${code ? `${code}: ` : ''}${(e as Error).message}` };
}
