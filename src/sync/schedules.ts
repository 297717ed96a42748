// Scheduled syncs (sync_schedules): set, show, remove, and the round that starts the due ones, each on one process only.
import type { Kysely } from 'kysely';
import type { Database, SyncSchedulesTable } from '../db/schema.js';
import { BerthError } from '../core/errors.js';
import { isRepositoryName, parseRepositoryName } from '../core/references.js';
import type { Clock } from '../gc/clock.js';
import { lockRemote } from './remotes.js';
import type { SyncRun } from './runs.js';
import type { Syncs } from './syncs.js';

export interface SyncSchedule {
  repository: string;
  remote: string;
  upstream: string;
  mirror: boolean;
  everySeconds: number;
  nextAt: string;
}

const toSchedule = (r: SyncSchedulesTable): SyncSchedule => ({
  repository: r.repository,
  remote: r.remote,
  upstream: r.upstream,
  mirror: r.mirror === 1,
  everySeconds: r.interval_seconds,
  nextAt: new Date(r.next_at).toISOString(),
});

export class SyncSchedules {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly syncs: Syncs,
    private readonly clock: Clock,
  ) {}

  /**
   * Sets (or replaces) the repository's schedule; its first run is due at once. The remote is locked in the
   * transaction that writes the row (lockRemote): a remote removed at the same moment either sees the schedule
   * (REMOTE_IN_USE) or is gone first (REMOTE_UNKNOWN here), never a schedule naming a missing remote.
   */
  async set(s: {
    repository: string;
    remote: string;
    upstream?: string;
    mirror: boolean;
    everySeconds: number;
  }): Promise<SyncSchedule> {
    parseRepositoryName(s.repository);
    const upstream = s.upstream ?? s.repository;
    if (!isRepositoryName(upstream)) {
      throw new BerthError('NAME_INVALID', `invalid upstream repository name "${upstream}"`);
    }
    if (!Number.isSafeInteger(s.everySeconds) || s.everySeconds < 60) {
      throw new BerthError('PARAMETER_INVALID', `a sync schedule's interval is whole seconds, 60 or more`);
    }
    const row = {
      repository: s.repository,
      remote: s.remote,
      upstream,
      mirror: s.mirror ? 1 : 0,
      interval_seconds: s.everySeconds,
      next_at: this.clock.now(),
    };
    await this.db.transaction().execute(async (trx) => {
      await lockRemote(trx, s.remote);
      await trx
        .insertInto('sync_schedules')
        .values(row)
        .onConflict((oc) => oc.column('repository').doUpdateSet({ ...row }))
        .execute();
    });
    return toSchedule(row);
  }

  async get(repository: string): Promise<SyncSchedule> {
    const row = await this.db
      .selectFrom('sync_schedules')
      .selectAll()
      .where('repository', '=', repository)
      .executeTakeFirst();
    if (!row) throw new BerthError('SYNC_RUN_UNKNOWN', `repository ${repository} has no sync schedule`);
    return toSchedule(row);
  }

  async list(): Promise<SyncSchedule[]> {
    return (await this.db.selectFrom('sync_schedules').selectAll().orderBy('repository').execute()).map(
      toSchedule,
    );
  }

  async remove(repository: string): Promise<void> {
    const r = await this.db
      .deleteFrom('sync_schedules')
      .where('repository', '=', repository)
      .executeTakeFirst();
    if (Number(r.numDeletedRows) === 0) {
      throw new BerthError('SYNC_RUN_UNKNOWN', `repository ${repository} has no sync schedule`);
    }
  }

  /**
   * Starts the syncs that are due. Each due schedule is taken by moving its next time on in one statement that
   * names the time read (compare-and-set): of several processes, one takes it, the others skip it; and the run's
   * own lease keeps a second run of a repository from starting while one goes on. Returns the runs started.
   */
  async runDue(): Promise<{ started: SyncRun[]; done: Promise<SyncRun>[] }> {
    const now = this.clock.now();
    const due = await this.db.selectFrom('sync_schedules').selectAll().where('next_at', '<=', now).execute();
    const started: SyncRun[] = [];
    const done: Promise<SyncRun>[] = [];
    for (const s of due) {
      const taken = await this.db
        .updateTable('sync_schedules')
        .set({ next_at: now + s.interval_seconds * 1000 })
        .where('repository', '=', s.repository)
        .where('next_at', '=', s.next_at)
        .executeTakeFirst();
      if (Number(taken.numUpdatedRows) === 0) continue;
      try {
        const r = await this.syncs.start({
          repository: s.repository,
          remote: s.remote,
          upstream: s.upstream,
          mirror: s.mirror === 1,
          trigger: 'schedule',
        });
        started.push(r.run);
        done.push(r.done);
      } catch (e) {
        // busy (a run goes on) or the remote is gone: this round is skipped, the next one tries again
        if (!(e instanceof BerthError)) throw e;
      }
    }
    return { started, done };
  }
}
