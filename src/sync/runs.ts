// Sync runs as rows (sync_runs): created running, their statistics updated as they go, finished succeeded or failed.
import { sql, type Kysely } from 'kysely';
import type { Database, SyncRunState, SyncRunsTable } from '../db/schema.js';
import { BerthError } from '../core/errors.js';
import type { UpstreamStats } from './upstream.js';

/** What a run did so far. */
export interface SyncStats {
  phase: 'planning' | 'fetching' | 'committing' | 'done';
  /** upstream tags in the include set that upstream has */
  tagsSeen: number;
  /** tags new or moved (set by the run) and tags removed (mirror) */
  tagsChanged: number;
  tagsRemoved: number;
  /** manifests fetched (GET) */
  manifests: number;
  /** blobs the synced manifests need that the repository did not hold: to download, or recorded on demand */
  blobsTotal: number;
  /** blobs downloaded and verified so far */
  blobsFetched: number;
  /** blobs the repository held already (not downloaded) */
  blobsReused: number;
  /** blobs recorded without bytes (policy on_demand) */
  blobsOnDemand: number;
  /** bytes received from upstream (blobs and manifests) */
  bytes: number;
  /** upstream requests by method, retries included */
  requests: Record<string, number>;
  retries: number;
  /** answers 429 */
  throttled: number;
}

export const newStats = (): SyncStats => ({
  phase: 'planning',
  tagsSeen: 0,
  tagsChanged: 0,
  tagsRemoved: 0,
  manifests: 0,
  blobsTotal: 0,
  blobsFetched: 0,
  blobsReused: 0,
  blobsOnDemand: 0,
  bytes: 0,
  requests: {},
  retries: 0,
  throttled: 0,
});

/** Copies an upstream client's counters into a run's statistics. */
export function withUpstream(stats: SyncStats, up: UpstreamStats): SyncStats {
  return {
    ...stats,
    bytes: up.bytes,
    requests: { ...up.requests },
    retries: up.retries,
    throttled: up.throttled,
  };
}

/** A run as the API answers it. */
export interface SyncRun {
  id: string;
  repository: string;
  remote: string;
  upstream: string;
  mirror: boolean;
  state: SyncRunState;
  trigger: string;
  actor: string | null;
  stats: SyncStats;
  /** the version the run made (null: none, it changed nothing, failed, or runs still) */
  version: number | null;
  error: string | null;
  startedAt: string;
  updatedAt: string;
  finishedAt: string | null;
}

const ABANDONED = 'the process running this sync stopped before it ended; nothing was changed';

const iso = (ms: number): string => new Date(ms).toISOString();

function toRun(r: SyncRunsTable): SyncRun {
  return {
    id: r.id,
    repository: r.repository,
    remote: r.remote,
    upstream: r.upstream,
    mirror: r.mirror === 1,
    state: r.state,
    trigger: r.trigger,
    actor: r.actor,
    stats: r.stats ? (JSON.parse(r.stats) as SyncStats) : newStats(),
    version: r.version,
    error: r.error,
    startedAt: iso(r.started_at),
    updatedAt: iso(r.updated_at),
    finishedAt: r.finished_at === null ? null : iso(r.finished_at),
  };
}

export class SyncRuns {
  constructor(private readonly db: Kysely<Database>) {}

  async create(
    row: Omit<SyncRunsTable, 'state' | 'stats' | 'version' | 'error' | 'updated_at' | 'finished_at'>,
  ) {
    await this.db
      .insertInto('sync_runs')
      .values({
        ...row,
        state: 'running',
        stats: JSON.stringify(newStats()),
        version: null,
        error: null,
        updated_at: row.started_at,
        finished_at: null,
      })
      .execute();
  }

  async progress(id: string, stats: SyncStats, now: number): Promise<void> {
    await this.db
      .updateTable('sync_runs')
      .set({ stats: JSON.stringify(stats), updated_at: now })
      .where('id', '=', id)
      .where('state', '=', 'running')
      .execute();
  }

  async finish(
    id: string,
    end: { state: 'succeeded' | 'failed'; stats: SyncStats; version?: number; error?: string },
    now: number,
  ): Promise<void> {
    await this.db
      .updateTable('sync_runs')
      .set({
        state: end.state,
        stats: JSON.stringify(end.stats),
        version: end.version ?? null,
        error: end.error ?? null,
        updated_at: now,
        finished_at: now,
      })
      .where('id', '=', id)
      .execute();
  }

  /** Runs of `repository` still marked running that no process runs any more (the caller holds its lease). */
  async abandon(repository: string, except: string, now: number): Promise<void> {
    await this.db
      .updateTable('sync_runs')
      .set({ state: 'failed', error: ABANDONED, updated_at: now, finished_at: now })
      .where('repository', '=', repository)
      .where('state', '=', 'running')
      .where('id', '!=', except)
      .execute();
  }

  /**
   * Marks failed every run still marked running whose lease (`sync:<repository>`, held by the run's id) is gone or
   * has run out: the process running it was killed or crashed (a live run renews its lease). One statement, so a
   * run that starts or ends meanwhile is judged by its lease as it is then. Answers how many were marked.
   */
  async failAbandoned(now: number): Promise<number> {
    const r = await this.db
      .updateTable('sync_runs')
      .set({ state: 'failed', error: ABANDONED, updated_at: now, finished_at: now })
      .where('state', '=', 'running')
      .where(({ not, exists, selectFrom }) =>
        not(
          exists(
            selectFrom('leases')
              .select('leases.name')
              .whereRef('leases.holder', '=', 'sync_runs.id')
              .where('leases.name', '=', sql<string>`${'sync:'} || ${sql.ref('sync_runs.repository')}`)
              .where('leases.expires_at', '>', now),
          ),
        ),
      )
      .executeTakeFirst();
    return Number(r.numUpdatedRows);
  }

  async get(id: string): Promise<SyncRun> {
    const row = await this.db.selectFrom('sync_runs').selectAll().where('id', '=', id).executeTakeFirst();
    if (!row) throw new BerthError('SYNC_RUN_UNKNOWN', `there is no sync run ${id}`);
    return toRun(row);
  }

  /** Runs, newest first, of one repository or of all; at most `limit`. */
  async list(repository?: string, limit = 100): Promise<SyncRun[]> {
    let q = this.db
      .selectFrom('sync_runs')
      .selectAll()
      .orderBy('started_at', 'desc')
      .orderBy('id')
      .limit(limit);
    if (repository !== undefined) q = q.where('repository', '=', repository);
    return (await q.execute()).map(toRun);
  }
}
