// The background jobs of a serving process, wired in one place: upload expiry, old login failures, stale staging,
// abandoned sync runs and their downloads, trash, scheduled cleanup (and its audit record).
import type { Berth } from './app.js';
import { realClock, type Clock, type TimerHandle } from './gc/clock.js';
import { removeStaleStaging } from './gc/leftovers.js';
import { CleanupSchedule, cleanupSummary, type ScheduleLog } from './gc/schedule.js';

export interface JobsLog extends ScheduleLog {
  child(bindings: Record<string, unknown>): ScheduleLog;
}

/** The default interval of `berth serve`'s scheduled cleanup: an hour. */
export const DEFAULT_CLEANUP_INTERVAL_SECONDS = 3600;

export interface JobsOptions {
  /** run cleanup every this many seconds, on one process at a time (0 or absent: never; `berth serve` sets an hour) */
  cleanupIntervalSeconds?: number;
  /** the scheduled cleanup's protection time (default as for `berth cleanup`: 3600) */
  cleanupProtectionSeconds?: number;
  log: JobsLog;
  clock?: Clock;
}

/** How often the scheduled syncs that are due are looked for (each starts on one process only). */
export const SYNC_SCHEDULE_EVERY_MS = 30_000;

/** How often abandoned upload sessions (and login failures past their window) are swept. */
export const UPLOAD_EXPIRY_EVERY_MS = 10 * 60_000;

/**
 * At start: abandoned upload sessions expire and login failures past their window are forgotten (and every ten
 * minutes after; a counted failure also prunes, this empties the table once failures stop), a crashed process's staging folders
 * older than the protection time go (a fresh one may be another process's upload in progress), and files a cleanup
 * that died left in trash/ are settled as it would have settled them. With an interval, the scheduled cleanup runs
 * (one process per round). stop() waits for what is running, so the database can be closed after it.
 */
export class Jobs {
  /** the scheduled cleanup, when an interval is set (metrics observe its rounds) */
  readonly schedule: CleanupSchedule | undefined;
  private readonly clock: Clock;
  private timer: TimerHandle | undefined;
  private syncTimer: TimerHandle | undefined;
  private readonly running = new Set<Promise<unknown>>();

  constructor(
    private readonly berth: Berth,
    private readonly opts: JobsOptions,
  ) {
    this.clock = opts.clock ?? realClock;
    this.schedule = opts.cleanupIntervalSeconds
      ? new CleanupSchedule(berth.cleanup, berth.leases, {
          intervalSeconds: opts.cleanupIntervalSeconds,
          protectionSeconds: opts.cleanupProtectionSeconds,
          log: opts.log.child({ job: 'scheduled-cleanup' }),
          clock: this.clock,
        })
      : undefined;
  }

  start(): void {
    this.sweep();
    this.timer = this.clock.setInterval(() => this.sweep(), UPLOAD_EXPIRY_EVERY_MS);
    this.track(
      removeStaleStaging(this.berth.store, undefined, this.clock.now()),
      (ids) => ids.length > 0 && this.opts.log.info({ removed: ids.length }, 'stale staging folders removed'),
      'removing stale staging folders failed',
    );
    this.track(
      this.berth.syncs.sweepAbandoned(this.clock.now()),
      ({ runs, folders }) =>
        runs + folders.length > 0 &&
        this.opts.log.info(
          { runs, folders: folders.length },
          'abandoned sync runs failed, their downloads removed',
        ),
      'sweeping abandoned sync runs failed',
    );
    this.track(
      this.berth.cleanup.recoverTrash(),
      (n) =>
        n > 0 && this.opts.log.info({ settled: n }, 'files left in trash by an unfinished cleanup settled'),
      'settling trash failed',
    );
    this.schedule?.onRound((r) => {
      if (r.outcome !== 'ran') return;
      const summary = cleanupSummary(r.report);
      if (
        summary.removedBlobs + summary.unreferencedBlobs + summary.untaggedManifests + summary.strayFiles ===
        0
      )
        return; // an hourly line saying nothing was removed would bury the rest
      this.track(
        this.berth.auth.audit.record({
          actor: null,
          address: null,
          action: 'cleanup.scheduled',
          detail: { round: r.round, protectionSeconds: r.report.protectionSeconds, ...summary },
        }),
        () => undefined,
        'writing the scheduled cleanup to the audit log failed',
      );
    });
    this.schedule?.start();
    this.syncTimer = this.clock.setInterval(() => this.syncRound(), SYNC_SCHEDULE_EVERY_MS);
  }

  /** Starts the scheduled syncs that are due; stop() waits for their runs. */
  private syncRound(): void {
    this.track(
      this.berth.syncSchedules.runDue().then(({ started, done }) => {
        for (const d of done) this.track(d, () => undefined, 'a scheduled sync failed');
        return started;
      }),
      (runs) =>
        runs.length > 0 &&
        this.opts.log.info(
          { runs: runs.map((r) => ({ id: r.id, repository: r.repository })) },
          'scheduled syncs started',
        ),
      'starting scheduled syncs failed',
    );
  }

  /** Stops the timers and waits for the jobs in progress (a scheduled cleanup's run) to finish. */
  async stop(): Promise<void> {
    this.clock.clearInterval(this.timer);
    this.clock.clearInterval(this.syncTimer);
    await this.schedule?.stop();
    await Promise.all(this.running);
  }

  private sweep(): void {
    const now = this.clock.now();
    this.track(
      this.berth.syncs.runs.failAbandoned(now),
      (n) => n > 0 && this.opts.log.info({ runs: n }, 'abandoned sync runs failed'),
      'failing abandoned sync runs failed',
    );
    this.track(
      this.berth.uploads.expire(now),
      (n) => n > 0 && this.opts.log.info({ removed: n }, 'expired upload sessions removed'),
      'expiring upload sessions failed',
    );
    this.track(
      this.berth.auth.limits.prune(now),
      (n) => n > 0 && this.opts.log.info({ removed: n }, 'old login failures forgotten'),
      'forgetting old login failures failed',
    );
  }

  /** Logs a job's outcome, and keeps it until it ends so that stop() can wait for it. */
  private track<T>(job: Promise<T>, done: (result: T) => unknown, failed: string): void {
    const p = job.then(done, (err: unknown) => this.opts.log.error({ err }, failed));
    this.running.add(p);
    void p.finally(() => this.running.delete(p));
  }
}
