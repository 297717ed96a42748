// Online cleanup: removes blobs (and the manifests among them) that nothing refers to or claims, while berth serves.
import { randomUUID } from 'node:crypto';
import { sql, type Kysely } from 'kysely';
import type { Database } from '../db/schema.js';
import { digestOfHex, isHex64, type Digest } from '../core/digest.js';
import { StoreNotFoundError, type BlobStore } from '../storage/blob-store.js';
import { Keys } from '../storage/cas.js';

export interface CleanupOptions {
  dryRun?: boolean;
  /** only blobs last claimed or committed longer ago than this are removed */
  protectionSeconds?: number;
  /** pushed blobs awaiting a manifest longer than this are let go of first */
  pendingExpirySeconds?: number;
  /** a hook between deciding (rows deleted) and letting go of the files: tests use it to interleave a writer */
  afterDecision?: (digests: Digest[]) => Promise<void>;
  /** where each decision is logged */
  log?: CleanupLog;
}

export interface CleanupReport {
  dryRun: boolean;
  protectionSeconds: number;
  removed: { blobs: number; bytes: number; manifests: number };
  /** files put back because a writer claimed the blob again while it was being removed */
  keptForWriters: number;
  digests: string[];
}

export interface CleanupLog {
  info(obj: object, msg: string): void;
}

export const DEFAULT_PROTECTION_SECONDS = 3600;
const BATCH = 500;
/** files moved or deleted at once while letting go of a batch */
const FILE_CONCURRENCY = 32;

/** Runs `fn` over `items`, at most `limit` at once. */
async function eachLimited<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

type Db = Kysely<Database>;

/**
 * THE INVARIANT, enforced here: a blob that a committed repository version refers to (any version still kept), that
 * a pushed-and-pending upload holds (pending_blobs), or that an operation in flight has claimed (blob_claims), is
 * never deleted.
 *
 * How: (1) the decision is one DELETE statement per batch whose WHERE re-checks every reference, claim and the
 * protection time at delete time, in the same transaction that removes the rows; (2) only then are the files let
 * go of, by moving each to trash/ first, then (3) checking again whether a writer has claimed or recorded the blob
 * since (writers commit their claim before they move a file into place): if so the file is put back (same bytes,
 * whichever copy), else deleted. A file is thus removed only after the row that named it is gone, and never from
 * under a writer.
 */
export class Cleanup {
  private readonly listeners = new Set<(report: CleanupReport) => void>();

  constructor(
    private readonly db: Db,
    private readonly store: BlobStore,
  ) {}

  /** Calls `listener` with the report of every run that finishes (metrics count them); returns its removal. */
  onRun(listener: (report: CleanupReport) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async run(opts: CleanupOptions = {}): Promise<CleanupReport> {
    const dryRun = opts.dryRun ?? false;
    const protectionSeconds = opts.protectionSeconds ?? DEFAULT_PROTECTION_SECONDS;
    const now = Date.now();
    const cutoff = now - protectionSeconds * 1000;
    const report: CleanupReport = {
      dryRun,
      protectionSeconds,
      removed: { blobs: 0, bytes: 0, manifests: 0 },
      keptForWriters: 0,
      digests: [],
    };
    if (!dryRun) {
      await this.recoverTrash();
      await this.expireClaims(now, opts.pendingExpirySeconds ?? 24 * 3600);
    }
    let after = '';
    for (;;) {
      const batch = await this.candidates(now, cutoff, after);
      if (batch.length === 0) break;
      after = batch.at(-1)!.digest;
      if (dryRun) {
        for (const b of batch) {
          opts.log?.info({ digest: b.digest, size: b.size }, 'cleanup would remove blob');
          report.digests.push(b.digest);
          report.removed.blobs++;
          report.removed.bytes += b.size;
        }
        report.removed.manifests += await this.countManifests(batch.map((b) => b.digest));
        continue;
      }
      const gone = await this.decide(
        now,
        cutoff,
        batch.map((b) => b.digest),
      );
      if (gone.blobs.length === 0) continue;
      await opts.afterDecision?.(gone.blobs.map((b) => b.digest as Digest));
      const keptDigests = await this.letGo(
        randomUUID(),
        gone.blobs.map((b) => b.digest as Digest),
      );
      for (const b of gone.blobs) {
        const kept = keptDigests.has(b.digest as Digest);
        if (kept) report.keptForWriters++;
        opts.log?.info({ digest: b.digest, size: b.size, keptForWriter: kept }, 'cleanup removed blob');
        report.digests.push(b.digest);
        report.removed.blobs++;
        report.removed.bytes += b.size;
      }
      report.removed.manifests += gone.manifests;
    }
    for (const listener of this.listeners) listener(report);
    return report;
  }

  /** Claims and pending uploads that lapsed no longer protect anything. */
  private async expireClaims(now: number, pendingExpirySeconds: number): Promise<void> {
    await this.db.deleteFrom('blob_claims').where('expires_at', '<', now).execute();
    await this.db
      .deleteFrom('pending_blobs')
      .where('created_at', '<', now - pendingExpirySeconds * 1000)
      .execute();
  }

  private unreferenced(now: number, cutoff: number) {
    return sql<boolean>`blobs.touched_at < ${cutoff}
      and not exists (select 1 from repository_content c where c.kind in ('blob', 'manifest') and c.key = blobs.digest)
      and not exists (select 1 from pending_blobs p where p.digest = blobs.digest)
      and not exists (select 1 from blob_claims k where k.digest = blobs.digest and k.expires_at >= ${now})`;
  }

  private async candidates(
    now: number,
    cutoff: number,
    after: string,
  ): Promise<{ digest: string; size: number }[]> {
    return this.db
      .selectFrom('blobs')
      .select(['digest', 'size'])
      .where('digest', '>', after)
      .where(this.unreferenced(now, cutoff))
      .orderBy('digest')
      .limit(BATCH)
      .execute();
  }

  private async countManifests(digests: string[]): Promise<number> {
    const r = await this.db
      .selectFrom('manifests')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('digest', 'in', digests)
      .executeTakeFirstOrThrow();
    return Number(r.n);
  }

  /** Deletes the rows of the batch's blobs that are still unreferenced and unclaimed, in one transaction. */
  private async decide(
    now: number,
    cutoff: number,
    digests: string[],
  ): Promise<{ blobs: { digest: string; size: number }[]; manifests: number }> {
    return this.db.transaction().execute(async (trx) => {
      const blobs = await trx
        .deleteFrom('blobs')
        .where('digest', 'in', digests)
        .where(this.unreferenced(now, cutoff))
        .returning(['digest', 'size'])
        .execute();
      if (blobs.length === 0) return { blobs, manifests: 0 };
      const gone = blobs.map((b) => b.digest);
      const m = await trx.deleteFrom('manifests').where('digest', 'in', gone).executeTakeFirst();
      await trx.deleteFrom('manifest_references').where('manifest_digest', 'in', gone).execute();
      await trx.deleteFrom('layer_diff_ids').where('blob_digest', 'in', gone).execute();
      return { blobs, manifests: Number(m.numDeletedRows) };
    });
  }

  /**
   * Lets go of the files of a batch of blobs whose rows are gone: each is moved to trash, then put back if a writer
   * has claimed or recorded the blob meanwhile (its claim was committed before it moved its own copy in), else
   * deleted. The moves, the deletes and the check between them go a batch at a time (the files FILE_CONCURRENCY at
   * once, the check one query per table), so that a cleanup that shares the event loop with requests being served
   * needs a few turns of it per batch rather than several per blob; each file is still checked only after it was
   * moved. Returns the digests whose files were put back.
   */
  private async letGo(cleanupId: string, digests: Digest[]): Promise<Set<Digest>> {
    const moved: Digest[] = [];
    await eachLimited(digests, FILE_CONCURRENCY, async (d) => {
      try {
        await this.store.move(Keys.blob(d), Keys.trash(cleanupId, d));
        moved.push(d);
      } catch {
        // no file (already gone): nothing to let go of
      }
    });
    const wanted = await this.wanted(moved);
    const kept = new Set<Digest>();
    await eachLimited(moved, FILE_CONCURRENCY, async (d) => {
      if (await this.putBackOrDelete(Keys.trash(cleanupId, d), d, wanted.has(d))) kept.add(d);
    });
    await this.store.deletePrefix(Keys.trashDir(cleanupId));
    return kept;
  }

  /** Of `digests`, those a writer has claimed (unexpired) or recorded as a blob row. */
  private async wanted(digests: Digest[]): Promise<Set<string>> {
    const found = new Set<string>();
    const now = Date.now();
    for (let i = 0; i < digests.length; i += BATCH) {
      const part = digests.slice(i, i + BATCH);
      const claims = await this.db
        .selectFrom('blob_claims')
        .select('digest')
        .where('digest', 'in', part)
        .where('expires_at', '>=', now)
        .execute();
      const rows = await this.db.selectFrom('blobs').select('digest').where('digest', 'in', part).execute();
      for (const r of [...claims, ...rows]) found.add(r.digest);
    }
    return found;
  }

  /**
   * Decides a file in trash/: back into place if a writer has claimed or recorded the blob since its row was
   * deleted, else deleted. Returns true when it was put back. Safe to run twice on one file (another process's
   * recovery may get there first).
   */
  private async settle(trash: string, digest: Digest): Promise<boolean> {
    return this.putBackOrDelete(trash, digest, (await this.wanted([digest])).has(digest));
  }

  private async putBackOrDelete(trash: string, digest: Digest, wanted: boolean): Promise<boolean> {
    try {
      if (wanted) {
        await this.store.move(trash, Keys.blob(digest));
        return true;
      }
      await this.store.delete(trash);
    } catch (e) {
      if (!(e instanceof StoreNotFoundError)) throw e; // settled by someone else already
    }
    return false;
  }

  /**
   * Settles what a cleanup that died (SIGKILL, power loss) left in trash/: run when a server starts and before
   * every cleanup. A file it puts back is one a writer recorded while that cleanup was letting go of it.
   */
  async recoverTrash(): Promise<number> {
    let settled = 0;
    for await (const key of this.store.list('trash/')) {
      const hex = key.split('/')[2] ?? '';
      if (!isHex64(hex)) {
        await this.store.delete(key);
        continue;
      }
      await this.settle(key, digestOfHex(hex));
      settled++;
    }
    return settled;
  }
}
