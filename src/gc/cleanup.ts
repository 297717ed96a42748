// Online cleanup: repositories let go of what they no longer need, then blobs (and the manifests among them) that nothing
// refers to or claims are removed, while berth serves.
import { randomUUID } from 'node:crypto';
import { sql, type Kysely, type Selectable } from 'kysely';
import type {
  BlobsTable,
  Database,
  LayerDiffIdsTable,
  ManifestReferencesTable,
  ManifestsTable,
} from '../db/schema.js';
import type { Digest } from '../core/digest.js';
import type { BlobStore } from '../storage/blob-store.js';
import { Keys } from '../storage/cas.js';
import { CleanupFileError, Trash } from './trash.js';
import { sweepStrays } from './strays.js';
import { sweepObjectStrays } from './object-strays.js';
import { removeStaleSyncDownloads } from './leftovers.js';
import type { PrunedRepository, RepositoryPruning } from './pruning.js';

export interface CleanupOptions {
  dryRun?: boolean;
  /** only blobs last claimed or committed longer ago than this are removed */
  protectionSeconds?: number;
  /** pushed blobs awaiting a manifest longer than this are let go of first */
  pendingExpirySeconds?: number;
  /** a hook between deciding (rows deleted) and letting go of the files: tests use it to interleave a writer */
  afterDecision?: (digests: Digest[]) => Promise<void>;
  /** a hook before a repository's latest version is locked to let go of what it no longer needs (tests) */
  beforePruneLock?: (repository: string) => Promise<void>;
  /** where each decision is logged */
  log?: CleanupLog;
}

export interface CleanupReport {
  dryRun: boolean;
  protectionSeconds: number;
  /** blobs (rows and files) removed, and files under blobs/ that no row named (strays: left by a failed commit) */
  removed: {
    blobs: number;
    bytes: number;
    manifests: number;
    strayFiles: number;
    strayBytes: number;
    /** repository versions that retention removed (or would) before the blobs were looked at */
    versions?: number;
    /** on-demand blobs whose repository no longer refers to them in any version: their rows (on_demand_blobs) */
    onDemand?: number;
  };
  /** files put back because a writer claimed the blob again while it was being removed */
  keptForWriters: number;
  digests: string[];
  /** the repositories whose latest version let go of unreferenced blobs or untagged manifests (one version each) */
  repositories: PrunedRepository[];
}

export interface CleanupLog {
  info(obj: object, msg: string): void;
}

/** What runs before cleanup looks for blobs: version retention (composed in app.ts; gc calls no repo service). */
export interface CleanupHooks {
  /** answers how many versions it removed (or would, in a dry run) */
  beforeRun?: (opts: { dryRun: boolean }) => Promise<number>;
}

export const DEFAULT_PROTECTION_SECONDS = 3600;
const BATCH = 500;
type Db = Kysely<Database>;

/** The rows `decide` deleted for a batch: put back for the blobs whose files could not be let go of. */
interface Decided {
  blobs: Selectable<BlobsTable>[];
  manifests: Selectable<ManifestsTable>[];
  references: Selectable<ManifestReferencesTable>[];
  diffIds: Selectable<LayerDiffIdsTable>[];
}

/**
 * THE INVARIANT (DESIGN.md, "Race-free cleanup"), enforced here: a blob that a committed repository version refers
 * to (any version still kept), that a pushed-and-pending upload holds (pending_blobs), or that an operation in
 * flight has claimed (blob_claims), is never deleted.
 *
 * Before any of this, (0) each repository lets go of what its latest version no longer needs (`RepositoryPruning`,
 * repo/prune.ts): one new version per repository, decided under the repository's row lock, the lock every commit
 * takes; what leaves the latest version is still referred to by the older versions retention keeps, so step (1)
 * finds it unreferenced only once no kept version names it.
 *
 * How: (1) the decision is one DELETE statement per batch whose WHERE re-checks every reference, claim and the
 * protection time at delete time, in the same transaction that removes the rows; (2) only then are the files let
 * go of, by moving each to trash/ first, then (3) checking again whether a writer has claimed or recorded the blob
 * since (writers commit their claim before they move a file into place): if so the file is put back (same bytes,
 * whichever copy), else deleted (trash.ts). A file is thus removed only after the row that named it is gone, and
 * never from under a writer. A row that maps its digest to an upload's object (object_key, no copy at commit) needs
 * no trash: that key is the upload's own, no other writer can write to it once the row is gone (a writer of the
 * same digest maps its own object); the claims are checked again as in (3), a claimed blob's row comes back, and
 * the other objects are deleted at once (trash.ts, letGoOfObjects). (4) Files that no row names at all (a commit
 * that failed after its moves leaves them) go the same way once nothing names them and they are older than the
 * protection time (strays.ts); objects under objects/ that no row maps and no open session writes are deleted
 * (object-strays.ts). (5) A file that
 * cannot be moved for another reason than its absence (EACCES, EIO) gets its rows back and fails the run: the
 * database never stops naming a file that is still there.
 */
export class Cleanup {
  private readonly listeners = new Set<(report: CleanupReport) => void>();
  private readonly trash: Trash;

  constructor(
    private readonly db: Db,
    private readonly store: BlobStore,
    /** removes from each repository's latest version what it no longer needs, before the sweep (repo/prune.ts) */
    private readonly pruning?: RepositoryPruning,
    private readonly hooks: CleanupHooks = {},
  ) {
    this.trash = new Trash(db, store);
  }

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
      repositories: [],
    };
    if (!dryRun) {
      await this.recoverTrash();
      await this.expireClaims(now, opts.pendingExpirySeconds ?? 24 * 3600);
    }
    if (this.hooks.beforeRun) {
      report.removed.versions = await this.hooks.beforeRun({ dryRun });
      if (report.removed.versions > 0) {
        opts.log?.info({ versions: report.removed.versions, dryRun }, 'retention removed versions');
      }
    }
    // download folders of sync runs a killed process left (beforeRun marked those runs failed)
    if (!dryRun) {
      const folders = await removeStaleSyncDownloads(this.db, this.store, protectionSeconds * 1000, now);
      if (folders.length > 0) opts.log?.info({ folders }, 'cleanup removed stale sync download folders');
    }
    // (0) what the repositories' latest versions no longer need leaves them (one version each), so that the sweep
    // below finds it unreferenced once no retained version keeps it
    if (this.pruning)
      report.repositories = await this.pruning.prune({
        now,
        cutoff,
        dryRun,
        log: opts.log,
        beforeLock: opts.beforePruneLock,
      });
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
      // content addresses (rows without an object key) through trash/; an upload's object, which no other
      // writer can name once the row is gone, deleted at once
      const { kept, failed } = await this.trash.letGo(
        randomUUID(),
        gone.blobs.filter((b) => b.object_key === null).map((b) => b.digest as Digest),
      );
      const objects = await this.trash.letGoOfObjects(gone.blobs.filter((b) => b.object_key !== null));
      for (const d of objects.kept) kept.add(d);
      for (const [d, e] of objects.failed) failed.set(d, e);
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
    const onDemand = await this.forgetOnDemand(cutoff, dryRun);
    if (onDemand > 0) {
      report.removed.onDemand = onDemand;
      opts.log?.info(
        { rows: onDemand, dryRun },
        `cleanup ${dryRun ? 'would forget' : 'forgot'} on-demand blobs`,
      );
    }
    await sweepStrays(this.db, this.store, this.trash, {
      dryRun,
      now,
      cutoff,
      afterDecision: opts.afterDecision,
      removed: (stray) => {
        const key = Keys.blob(stray.digest);
        opts.log?.info(
          { key, size: stray.size },
          `cleanup ${dryRun ? 'would remove' : 'removed'} stray file`,
        );
        report.removed.strayFiles++;
        report.removed.strayBytes += stray.size;
      },
      kept: () => report.keptForWriters++,
    });
    await sweepObjectStrays(this.db, this.store, {
      dryRun,
      cutoff,
      removed: ({ key, size }) => {
        opts.log?.info({ key, size }, `cleanup ${dryRun ? 'would remove' : 'removed'} stray file`);
        report.removed.strayFiles++;
        report.removed.strayBytes += size;
      },
    });
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

  /**
   * The on_demand_blobs rows of blobs their repository refers to in no version any more (and older than the
   * protection time, as a sync records them in the transaction of its version): where their bytes would come
   * from is of no use. The blobs' rows (state 'remote', no file) go as any unreferenced blob's.
   */
  private async forgetOnDemand(cutoff: number, dryRun: boolean): Promise<number> {
    const stale = sql<boolean>`on_demand_blobs.created_at < ${cutoff} and not exists (
      select 1 from repository_content c join repositories r on r.id = c.repository_id
      where r.name = on_demand_blobs.repository and c.kind = 'blob' and c.key = on_demand_blobs.digest)`;
    if (dryRun) {
      const r = await this.db
        .selectFrom('on_demand_blobs')
        .select((eb) => eb.fn.countAll<number | string>().as('n'))
        .where(stale)
        .executeTakeFirstOrThrow();
      return Number(r.n);
    }
    const r = await this.db.deleteFrom('on_demand_blobs').where(stale).executeTakeFirst();
    return Number(r.numDeletedRows);
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
    // (a thousand rows per statement at most: a batch's references can be many)
    const chunks = <T>(rows: T[]): T[][] =>
      Array.from({ length: Math.ceil(rows.length / 1000) }, (_, i) => rows.slice(i * 1000, (i + 1) * 1000));
    await this.db.transaction().execute(async (trx) => {
      for (const part of chunks(blobs))
        await trx
          .insertInto('blobs')
          .values(part)
          .onConflict((oc) => oc.column('digest').doNothing())
          .execute();
      for (const part of chunks(manifests))
        await trx
          .insertInto('manifests')
          .values(part)
          .onConflict((oc) => oc.column('digest').doNothing())
          .execute();
      for (const part of chunks(references))
        await trx
          .insertInto('manifest_references')
          .values(part)
          .onConflict((oc) => oc.columns(['manifest_digest', 'digest', 'kind']).doNothing())
          .execute();
      for (const part of chunks(diffIds))
        await trx
          .insertInto('layer_diff_ids')
          .values(part)
          .onConflict((oc) => oc.columns(['blob_digest', 'diff_id']).doNothing())
          .execute();
    });
  }

  /** Settles what a cleanup that died left in trash/ (see Trash.recover): at a server's start and before a run. */
  recoverTrash(): Promise<number> {
    return this.trash.recover();
  }
}
