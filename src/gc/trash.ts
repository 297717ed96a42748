// Letting go of blob files through trash/: moved aside, re-checked against writers, then deleted or put back.
import type { Kysely, Selectable } from 'kysely';
import type { BlobsTable, Database } from '../db/schema.js';
import { digestOfHex, type Digest } from '../core/digest.js';
import { StoreNotFoundError, type BlobStore } from '../storage/blob-store.js';
import { Keys } from '../storage/cas.js';

/** files moved or deleted at once while letting go of a batch */
const FILE_CONCURRENCY = 32;
const BATCH = 500;

/** Runs `fn` over `items`, at most `limit` at once. */
async function eachLimited<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

/**
 * Files of blobs that a cleanup could not let go of for another reason than their absence (EACCES, EIO, …): the
 * database still names them (their rows were put back, or there were none); the run stops with this error.
 */
export class CleanupFileError extends Error {
  constructor(readonly failures: Map<Digest, unknown>) {
    const [digest, first] = failures.entries().next().value!;
    super(
      `cleanup could not remove the files of ${failures.size} blob(s): they stay, with their rows if they had any; ` +
        `first ${digest}: ${(first as Error)?.message ?? String(first)}`,
      { cause: first },
    );
    this.name = 'CleanupFileError';
  }
}

/**
 * The second half of the invariant in cleanup.ts: a file is let go of only by moving it to trash/<cleanup>/ first,
 * then checking whether a writer has claimed or recorded its blob since (writers commit their claim before they
 * move a file into place, or rely on one already there): if so it is put back (same bytes, whichever copy), else
 * deleted. A writer whose claim came after the check moves its own copy in, which the delete does not touch.
 */
export class Trash {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly store: BlobStore,
  ) {}

  /**
   * Lets go of the files of `digests`, whose rows are gone (or never were). The moves, the deletes and the check
   * between them go a batch at a time (the files FILE_CONCURRENCY at once, the check one query per table), so
   * that a cleanup that shares the event loop with requests being served needs a few turns of it per batch
   * rather than several per blob; each file is still checked only after it was moved, and those not put back go
   * with the trash folder (`deletePrefix`: batch deletes on S3). Only a file that is not
   * there counts as let go of already; any other failure to move one (EACCES, EIO) is returned in `failed`, its
   * file left in place. Returns the digests whose files were put back for a writer, and those.
   */
  async letGo(
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
    await eachLimited(
      moved.filter((d) => wanted.has(d)),
      FILE_CONCURRENCY,
      async (d) => {
        if (await this.putBackOrDelete(Keys.trash(cleanupId, d), d, true)) kept.add(d);
      },
    );
    // the rest goes with the folder: in batches where the store has them (S3: DeleteObjects, 1000 keys a request)
    await this.store.deletePrefix(Keys.trashDir(cleanupId));
    return { kept, failed };
  }

  /**
   * Lets go of the objects of blobs whose rows mapped them (an upload's objects/<xx>/<id>/data) and are gone. No trash:
   * nothing writes to such a key again. But a writer may have found the row and relied on its object (a sync
   * that drops its download of bytes berth stores) under a claim that came while the rows were being deleted: as
   * for files, the claims are checked after the decision, and a claimed blob gets its row back (insert-if-absent:
   * a writer that recorded its own object meanwhile wins) and keeps its object while the row maps it. The rest
   * are deleted. Returns the digests kept for a writer, and the failures (a missing object is none), those
   * objects left in place.
   */
  async letGoOfObjects(
    rows: Selectable<BlobsTable>[],
  ): Promise<{ kept: Set<Digest>; failed: Map<Digest, unknown> }> {
    const kept = new Set<Digest>();
    const failed = new Map<Digest, unknown>();
    const claimed = await this.claimed(rows.map((r) => r.digest as Digest));
    for (const row of rows.filter((r) => claimed.has(r.digest))) {
      await this.db
        .insertInto('blobs')
        .values(row)
        .onConflict((oc) => oc.column('digest').doNothing())
        .execute();
      const now = await this.db
        .selectFrom('blobs')
        .select('object_key')
        .where('digest', '=', row.digest)
        .executeTakeFirst();
      if (now?.object_key === row.object_key) kept.add(row.digest as Digest);
    }
    const gone = rows.filter((r) => r.object_key && !kept.has(r.digest as Digest));
    await eachLimited(gone, FILE_CONCURRENCY, async (r) => {
      try {
        await this.store.delete(r.object_key!);
      } catch (e) {
        failed.set(r.digest as Digest, e);
      }
    });
    return { kept, failed };
  }

  /** Of `digests`, those an operation in flight has claimed (unexpired). */
  private async claimed(digests: Digest[]): Promise<Set<string>> {
    const found = new Set<string>();
    for (let i = 0; i < digests.length; i += BATCH) {
      const rows = await this.db
        .selectFrom('blob_claims')
        .select('digest')
        .where('digest', 'in', digests.slice(i, i + BATCH))
        .where('expires_at', '>=', Date.now())
        .execute();
      for (const r of rows) found.add(r.digest);
    }
    return found;
  }

  /**
   * Of `digests`, those a writer has claimed (unexpired) or recorded as a blob row whose bytes are at the content
   * address (a row that maps an upload's object does not need the file).
   */
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
      const rows = await this.db
        .selectFrom('blobs')
        .select('digest')
        .where('digest', 'in', part)
        .where('object_key', 'is', null)
        .execute();
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
  async recover(): Promise<number> {
    let settled = 0;
    for await (const key of this.store.list('trash/')) {
      const digest = digestOfHex(key.split('/')[2] ?? '');
      if (!digest) {
        await this.store.delete(key);
        continue;
      }
      await this.settle(key, digest);
      settled++;
    }
    return settled;
  }
}
