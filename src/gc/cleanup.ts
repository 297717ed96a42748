// Online cleanup: removes blobs (and the manifests among them) that nothing refers to or claims, while berth serves.
import { randomUUID } from 'node:crypto';
import { sql, type Kysely, type Selectable } from 'kysely';
import type {
  BlobsTable,
  Database,
  LayerDiffIdsTable,
  ManifestReferencesTable,
  ManifestsTable,
} from '../db/schema.js';
import { digestOfHex, isHex64, type Digest } from '../core/digest.js';
import { Keys, StoreNotFoundError, type BlobStore } from '../storage/blob-store.js';

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
  /** blobs (rows and files) removed, and files under blobs/ that no row named (strays: left by a failed commit) */
  removed: { blobs: number; bytes: number; manifests: number; strayFiles: number; strayBytes: number };
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

/** The digest a key under blobs/ stands for, if it is a well-formed content address. */
export function digestOfBlobKey(key: string): Digest | undefined {
  const m = /^blobs\/sha256\/([a-f0-9]{2})\/([a-f0-9]+)$/.exec(key);
  return m && isHex64(m[2]!) && m[2]!.startsWith(m[1]!) ? digestOfHex(m[2]!) : undefined;
}

/** The rows `decide` deleted for a batch: put back for the blobs whose files could not be let go of. */
interface Decided {
  blobs: Selectable<BlobsTable>[];
  manifests: Selectable<ManifestsTable>[];
  references: Selectable<ManifestReferencesTable>[];
  diffIds: Selectable<LayerDiffIdsTable>[];
}

/**
 * Files of blobs that a cleanup could not let go of for another reason than their absence (EACCES, EIO, …): their
 * rows were put back, so the database still names them; the run stops with this error, which names them.
 */
export class CleanupFileError extends Error {
  constructor(readonly failures: Map<Digest, unknown>) {
    const [digest, first] = failures.entries().next().value!;
    super(
      `cleanup could not remove the files of ${failures.size} blob(s), whose rows were put back; ` +
        `first ${digest}: ${(first as Error)?.message ?? String(first)}`,
      { cause: first },
    );
    this.name = 'CleanupFileError';
  }
}

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
      removed: { blobs: 0, bytes: 0, manifests: 0, strayFiles: 0, strayBytes: 0 },
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
      const { kept, failed } = await this.letGo(
        randomUUID(),
        gone.blobs.map((b) => b.digest as Digest),
      );
      if (failed.size > 0) await this.restore(gone, new Set(failed.keys()));
      for (const b of gone.blobs) {
        if (failed.has(b.digest as Digest)) continue;
        const keptForWriter = kept.has(b.digest as Digest);
        if (keptForWriter) report.keptForWriters++;
        opts.log?.info({ digest: b.digest, size: b.size, keptForWriter }, 'cleanup removed blob');
        report.digests.push(b.digest);
        report.removed.blobs++;
        report.removed.bytes += b.size;
      }
      report.removed.manifests += gone.manifests.filter((m) => !failed.has(m.digest as Digest)).length;
      if (failed.size > 0) throw new CleanupFileError(failed);
    }
    await this.sweepStrays(now, cutoff, opts, report);
    for (const listener of this.listeners) listener(report);
    return report;
  }

  /**
   * Files under blobs/ that no row names: a commit that failed after moving its files into place leaves them.
   * Those older than the protection time, and named by no row, reference or claim, are let go of as blobs are
   * (moved to trash, re-checked, put back if a writer claimed or recorded the blob meanwhile, else deleted).
   * Keys that are no content address are left to fsck.
   */
  private async sweepStrays(
    now: number,
    cutoff: number,
    opts: CleanupOptions,
    report: CleanupReport,
  ): Promise<void> {
    const sweep = async (keys: string[]) => {
      const digests = keys.map(digestOfBlobKey).filter((d): d is Digest => d !== undefined);
      const named = await this.named(digests, now);
      const strays: { digest: Digest; size: number }[] = [];
      for (const d of digests) {
        if (named.has(d)) continue;
        const st = await this.store.stat(Keys.blob(d));
        if (st && st.modifiedAt.getTime() < cutoff) strays.push({ digest: d, size: st.size });
      }
      if (strays.length === 0) return;
      if (!opts.dryRun) {
        await opts.afterDecision?.(strays.map((s) => s.digest));
        const { kept, failed } = await this.letGo(
          randomUUID(),
          strays.map((s) => s.digest),
        );
        if (failed.size > 0) throw new CleanupFileError(failed);
        report.keptForWriters += kept.size;
        strays.splice(0, strays.length, ...strays.filter((s) => !kept.has(s.digest)));
      }
      for (const s of strays) {
        opts.log?.info(
          { key: Keys.blob(s.digest), size: s.size },
          opts.dryRun ? 'cleanup would remove stray file' : 'cleanup removed stray file',
        );
        report.removed.strayFiles++;
        report.removed.strayBytes += s.size;
      }
    };
    let keys: string[] = [];
    for await (const key of this.store.list(Keys.blobsRoot)) {
      keys.push(key);
      if (keys.length >= BATCH) {
        await sweep(keys);
        keys = [];
      }
    }
    await sweep(keys);
  }

  /**
   * Of `digests`, those that something names: a blob row, a repository's content, a pending upload, a manifest's
   * reference, or an unexpired claim.
   */
  private async named(digests: Digest[], now: number): Promise<Set<string>> {
    const found = new Set<string>();
    if (digests.length === 0) return found;
    const rows = await this.db
      .selectFrom('blobs')
      .select('digest')
      .where('digest', 'in', digests)
      .union(
        this.db
          .selectFrom('repository_content')
          .select('key as digest')
          .where('kind', 'in', ['blob', 'manifest'])
          .where('key', 'in', digests),
      )
      .union(this.db.selectFrom('pending_blobs').select('digest').where('digest', 'in', digests))
      .union(this.db.selectFrom('manifest_references').select('digest').where('digest', 'in', digests))
      .union(
        this.db
          .selectFrom('blob_claims')
          .select('digest')
          .where('digest', 'in', digests)
          .where('expires_at', '>=', now),
      )
      .execute();
    for (const r of rows) found.add(r.digest);
    return found;
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
  private async decide(now: number, cutoff: number, digests: string[]): Promise<Decided> {
    return this.db.transaction().execute(async (trx) => {
      const blobs = await trx
        .deleteFrom('blobs')
        .where('digest', 'in', digests)
        .where(this.unreferenced(now, cutoff))
        .returningAll()
        .execute();
      if (blobs.length === 0) return { blobs, manifests: [], references: [], diffIds: [] };
      const gone = blobs.map((b) => b.digest);
      const manifests = await trx
        .deleteFrom('manifests')
        .where('digest', 'in', gone)
        .returningAll()
        .execute();
      const references = await trx
        .deleteFrom('manifest_references')
        .where('manifest_digest', 'in', gone)
        .returningAll()
        .execute();
      const diffIds = await trx
        .deleteFrom('layer_diff_ids')
        .where('blob_digest', 'in', gone)
        .returningAll()
        .execute();
      return { blobs, manifests, references, diffIds };
    });
  }

  /**
   * Puts back the rows `decide` deleted for `digests`, whose files could not be let go of: the database names
   * every file again, as before the run. A row a writer recorded meanwhile stays as it is.
   */
  private async restore(decided: Decided, digests: Set<string>): Promise<void> {
    const blobs = decided.blobs.filter((r) => digests.has(r.digest));
    const manifests = decided.manifests.filter((r) => digests.has(r.digest));
    const references = decided.references.filter((r) => digests.has(r.manifest_digest));
    const diffIds = decided.diffIds.filter((r) => digests.has(r.blob_digest));
    await this.db.transaction().execute(async (trx) => {
      if (blobs.length > 0)
        await trx
          .insertInto('blobs')
          .values(blobs)
          .onConflict((oc) => oc.column('digest').doNothing())
          .execute();
      if (manifests.length > 0)
        await trx
          .insertInto('manifests')
          .values(manifests)
          .onConflict((oc) => oc.column('digest').doNothing())
          .execute();
      if (references.length > 0)
        await trx
          .insertInto('manifest_references')
          .values(references)
          .onConflict((oc) => oc.columns(['manifest_digest', 'digest', 'kind']).doNothing())
          .execute();
      if (diffIds.length > 0)
        await trx
          .insertInto('layer_diff_ids')
          .values(diffIds)
          .onConflict((oc) => oc.columns(['blob_digest', 'diff_id']).doNothing())
          .execute();
    });
  }

  /**
   * Lets go of the files of a batch of blobs whose rows are gone: each is moved to trash, then put back if a writer
   * has claimed or recorded the blob meanwhile (its claim was committed before it moved its own copy in), else
   * deleted. The moves, the deletes and the check between them go a batch at a time (the files FILE_CONCURRENCY at
   * once, the check one query per table), so that a cleanup that shares the event loop with requests being served
   * needs a few turns of it per batch rather than several per blob; each file is still checked only after it was
   * moved. Only a file that is not there counts as let go of already; any other failure to move one (EACCES, EIO)
   * is returned in `failed`, its file left in place. Returns the digests whose files were put back, and those.
   */
  private async letGo(
    cleanupId: string,
    digests: Digest[],
  ): Promise<{ kept: Set<Digest>; failed: Map<Digest, unknown> }> {
    const moved: Digest[] = [];
    const failed = new Map<Digest, unknown>();
    await eachLimited(digests, FILE_CONCURRENCY, async (d) => {
      try {
        await this.store.move(Keys.blob(d), Keys.trash(cleanupId, d));
        moved.push(d);
      } catch (e) {
        if (!(e instanceof StoreNotFoundError)) failed.set(d, e);
        // else no file (already gone): nothing to let go of
      }
    });
    const wanted = await this.wanted(moved);
    const kept = new Set<Digest>();
    await eachLimited(moved, FILE_CONCURRENCY, async (d) => {
      if (await this.putBackOrDelete(Keys.trash(cleanupId, d), d, wanted.has(d))) kept.add(d);
    });
    await this.store.deletePrefix(Keys.trashDir(cleanupId));
    return { kept, failed };
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
