// Scheduled cleanup: one run per round of the interval, on whichever process takes the round's lease first.
import { randomUUID } from 'node:crypto';
import type { Cleanup, CleanupLog, CleanupReport } from './cleanup.js';
import { DEFAULT_PROTECTION_SECONDS } from './cleanup.js';
import type { Leases } from '../db/leases.js';
import { realClock, type Clock, type TimerHandle } from './clock.js';

export const CLEANUP_LEASE = 'cleanup';

/** What a cleanup run removed, in the few numbers the log and the audit log record. */
export function cleanupSummary(report: CleanupReport) {
  const { blobs, bytes, manifests, strayFiles } = report.removed;
  return {
    removedBlobs: blobs,
    removedBytes: bytes,
    removedManifests: manifests,
    strayFiles,
    unreferencedBlobs: report.repositories.reduce((n, r) => n + r.blobs, 0),
    untaggedManifests: report.repositories.reduce((n, r) => n + r.manifests, 0),
    repositories: report.repositories.map((r) => ({
      repository: r.repository,
      version: r.version,
      blobs: r.blobs,
      manifests: r.manifests,
    })),
  };
}

export interface ScheduleLog extends CleanupLog {
  error(obj: object, msg: string): void;
  debug(obj: object, msg: string): void;
}

export interface CleanupScheduleOptions {
  intervalSeconds: number;
  /** as for `berth cleanup --protection` (default 3600) */
  protectionSeconds?: number;
  /** this process's name as a lease holder (default: a random one) */
  holder?: string;
  log?: ScheduleLog;
  /** the time and timers rounds follow (default: the real ones); tests move a fake one */
  clock?: Clock;
}

export type RoundResult =
  | { round: number; outcome: 'ran'; report: CleanupReport }
  | { round: number; outcome: 'skipped' }
  | { round: number; outcome: 'failed'; error: unknown };

/**
 * Time is cut into rounds of `intervalSeconds`, counted from the epoch, so every process agrees on them. At the
 * start of each round (plus a little random delay) every process tries to take the `cleanup` lease until the
 * round's end; the one that gets it runs cleanup, the others skip the round. The lease is not released after
 * the run, so the round is not run twice; it is renewed while a run lasts, so a run that overruns its round is
 * never joined by another (the rounds it overruns are skipped). A process that dies mid-run stops renewing,
 * and the lease lapses within `renewMs * 2`.
 *
 * Two cleanups at once would be safe (the invariant in cleanup.ts holds under any interleaving); the lease only
 * keeps several processes from doing the same work.
 */
export class CleanupSchedule {
  readonly holder: string;
  private readonly intervalMs: number;
  private readonly renewMs: number;
  private readonly jitterMs: number;
  private readonly listeners = new Set<(r: RoundResult) => void>();
  private readonly clock: Clock;
  private timer: TimerHandle | undefined;
  private running: Promise<void> | undefined;
  private stopped = true;

  constructor(
    private readonly cleanup: Pick<Cleanup, 'run'>,
    private readonly leases: Leases,
    private readonly opts: CleanupScheduleOptions,
  ) {
    if (!(opts.intervalSeconds > 0)) throw new Error('the cleanup interval must be positive');
    this.intervalMs = opts.intervalSeconds * 1000;
    this.renewMs = Math.max(500, Math.min(this.intervalMs / 2, 30_000));
    this.jitterMs = Math.min(this.intervalMs / 10, 10_000);
    this.holder = opts.holder ?? randomUUID();
    this.clock = opts.clock ?? realClock;
  }

  /** The round that time `now` falls in. */
  roundOf(now: number): number {
    return Math.floor(now / this.intervalMs);
  }

  /** Calls `listener` after every round this process tried (ran, skipped or failed). */
  onRound(listener: (r: RoundResult) => void): void {
    this.listeners.add(listener);
  }

  /** Tries the round `now` falls in: runs cleanup when this process takes its lease. */
  async runRound(now = this.clock.now()): Promise<RoundResult> {
    const round = this.roundOf(now);
    const end = (round + 1) * this.intervalMs;
    let result: RoundResult;
    try {
      if (!(await this.leases.acquire(CLEANUP_LEASE, this.holder, end, now))) {
        result = { round, outcome: 'skipped' };
      } else {
        const renewing = this.clock.setInterval(() => {
          this.leases
            .renew(CLEANUP_LEASE, this.holder, Math.max(end, this.clock.now() + 2 * this.renewMs))
            .catch(() => undefined); // a failed renewal only shortens the lease
        }, this.renewMs);
        try {
          const report = await this.cleanup.run({
            protectionSeconds: this.opts.protectionSeconds ?? DEFAULT_PROTECTION_SECONDS,
            log: this.opts.log,
          });
          result = { round, outcome: 'ran', report };
        } finally {
          this.clock.clearInterval(renewing);
        }
      }
    } catch (error) {
      result = { round, outcome: 'failed', error };
    }
    this.report(result);
    for (const listener of this.listeners) listener(result);
    return result;
  }

  /** Tries the current round soon, then every round after, until stop(). */
  start(): void {
    this.stopped = false;
    this.schedule(this.clock.now());
  }

  /** Stops trying; waits for a run in progress to finish. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.clock.clearTimeout(this.timer);
    await this.running;
  }

  /** Settles when no round is being tried (the next one is then scheduled): tests wait for it after moving time. */
  async idle(): Promise<void> {
    await this.running;
  }

  /** Sets the timer for the round `at` falls in, a random moment within its first tenth (at most 10 s). */
  private schedule(at: number): void {
    const delay = Math.max(0, at - this.clock.now()) + this.clock.random() * this.jitterMs;
    this.timer = this.clock.setTimeout(() => {
      this.running = this.runRound().then(() => {
        this.running = undefined;
        if (!this.stopped) this.schedule((this.roundOf(this.clock.now()) + 1) * this.intervalMs);
      });
    }, delay);
  }

  private report(r: RoundResult): void {
    const log = this.opts.log;
    if (r.outcome === 'ran') {
      log?.info({ round: r.round, ...cleanupSummary(r.report) }, 'scheduled cleanup ran');
    } else if (r.outcome === 'skipped') {
      log?.debug({ round: r.round }, 'scheduled cleanup: another process has this round');
    } else {
      log?.error({ round: r.round, err: r.error }, 'scheduled cleanup failed');
    }
  }
}
