// Upstream manners: a remote's concurrency limit and token bucket, backoff with jitter honouring Retry-After.
import type { Clock } from '../gc/clock.js';
import { realClock } from '../gc/clock.js';

/** Waits `ms` (tests inject one that moves a fake clock instead). */
export type Sleep = (ms: number) => Promise<void>;

/** A sleep on a clock's timers. */
export const sleepOn =
  (clock: Clock): Sleep =>
  (ms) =>
    new Promise((resolve) => {
      if (ms <= 0) return resolve();
      clock.setTimeout(resolve, ms);
    });

/** At most `limit` holders at once; the others wait in order. */
export class Semaphore {
  private active = 0;
  private readonly waiting: (() => void)[] = [];
  constructor(readonly limit: number) {}

  async acquire(): Promise<() => void> {
    if (this.active >= this.limit) await new Promise<void>((r) => this.waiting.push(r));
    else this.active++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiting.shift();
      // the slot passes straight to the next waiter (active stays the same)
      if (next) next();
      else this.active--;
    };
  }

  get inUse(): number {
    return this.active;
  }
}

/**
 * A token bucket: `rate` tokens a second, holding at most `burst` (default: one second's worth, at least 1).
 * take() resolves when a token is there; takers are served in order.
 */
export class TokenBucket {
  private tokens: number;
  private last: number;
  private queue: Promise<void> = Promise.resolve();
  readonly burst: number;

  constructor(
    readonly rate: number,
    private readonly clock: Clock,
    private readonly sleep: Sleep,
    burst?: number,
  ) {
    this.burst = burst ?? Math.max(1, Math.floor(rate));
    this.tokens = this.burst;
    this.last = clock.now();
  }

  private refill(): void {
    const now = this.clock.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) / 1000) * this.rate);
    this.last = now;
  }

  take(): Promise<void> {
    const turn = this.queue.then(async () => {
      for (;;) {
        this.refill();
        if (this.tokens >= 1) {
          this.tokens -= 1;
          return;
        }
        await this.sleep(Math.ceil(((1 - this.tokens) / this.rate) * 1000));
      }
    });
    this.queue = turn;
    return turn;
  }
}

export interface BackoffOptions {
  /** the first delay, ms (default 500) */
  baseMs: number;
  /** the longest delay and the longest Retry-After honoured, ms (default 60 s) */
  maxMs: number;
  /** retries after the first attempt (default 5) */
  retries: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { baseMs: 500, maxMs: 60_000, retries: 5 };

/** Retry-After in ms: delta-seconds or an HTTP date; undefined when absent or unreadable. */
export function retryAfterMs(header: string | undefined, now: number): number | undefined {
  if (header === undefined || header.trim() === '') return undefined;
  const v = header.trim();
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/**
 * The wait before retry number `attempt` (0 for the first retry): Retry-After when upstream sent it, else
 * exponential backoff with full jitter (base · 2^attempt, capped, times a random factor in [0.5, 1)).
 * Undefined: Retry-After asks for longer than maxMs, so retrying now is pointless.
 */
export function backoffMs(
  attempt: number,
  retryAfter: number | undefined,
  opts: BackoffOptions,
  random: () => number,
): number | undefined {
  if (retryAfter !== undefined) return retryAfter > opts.maxMs ? undefined : retryAfter;
  const exp = Math.min(opts.maxMs, opts.baseMs * 2 ** attempt);
  return Math.round(exp * (0.5 + random() / 2));
}

/** `ratelimit-remaining: 76;w=21600` → 76 (undefined when absent or unreadable). */
export function parseRateLimitRemaining(header: string | string[] | undefined): number | undefined {
  const v = Array.isArray(header) ? header[0] : header;
  if (v === undefined) return undefined;
  const m = /^\s*(\d+)/.exec(v);
  return m ? Number(m[1]) : undefined;
}

/** A remote's shared limits: every client of the same remote in this process takes from the same ones. */
export interface Manners {
  slots: Semaphore;
  bucket: TokenBucket | undefined;
}

const shared = new Map<string, Manners>();

/**
 * The limits of a remote in this process, shared by every Upstream made for it (sync runs, on-demand fetches and
 * the cache together stay within them). Keyed by name and settings: an edited remote gets fresh ones.
 */
export function mannersFor(
  remote: { name: string; concurrency: number; requestsPerSecond?: number },
  clock: Clock = realClock,
  sleep: Sleep = sleepOn(clock),
): Manners {
  const key = `${remote.name}\0${remote.concurrency}\0${remote.requestsPerSecond ?? ''}`;
  if (clock !== realClock) return fresh(remote, clock, sleep);
  let m = shared.get(key);
  if (!m) {
    m = fresh(remote, clock, sleep);
    shared.set(key, m);
  }
  return m;
}

function fresh(
  remote: { concurrency: number; requestsPerSecond?: number },
  clock: Clock,
  sleep: Sleep,
): Manners {
  return {
    slots: new Semaphore(Math.max(1, remote.concurrency)),
    bucket:
      remote.requestsPerSecond !== undefined && remote.requestsPerSecond > 0
        ? new TokenBucket(remote.requestsPerSecond, clock, sleep)
        : undefined,
  };
}
