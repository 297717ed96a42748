// Upstream manners on a fake clock: the token bucket's pace, backoff and Retry-After, the semaphore, ratelimit-remaining.
import { describe, expect, it } from 'vitest';
import { FakeClock } from '../../test/helpers/fake-clock.js';
import {
  backoffMs,
  DEFAULT_BACKOFF,
  mannersFor,
  parseRateLimitRemaining,
  retryAfterMs,
  Semaphore,
  TokenBucket,
} from './manners.js';

/** A sleep that moves the fake clock instead of waiting, and records what it was asked. */
function fakeSleep(clock: FakeClock) {
  const slept: number[] = [];
  const sleep = async (ms: number) => {
    slept.push(ms);
    clock.advanceTo(clock.now() + ms);
  };
  return { slept, sleep };
}

describe('TokenBucket', () => {
  it('lets a burst of `rate` through at once, then one every 1/rate s', async () => {
    const clock = new FakeClock(1_000_000);
    const { slept, sleep } = fakeSleep(clock);
    const bucket = new TokenBucket(4, clock, sleep);
    const times: number[] = [];
    for (let i = 0; i < 8; i++) {
      await bucket.take();
      times.push(clock.now() - 1_000_000);
    }
    expect(times).toEqual([0, 0, 0, 0, 250, 500, 750, 1000]);
    expect(slept).toEqual([250, 250, 250, 250]);
  });

  it('refills while idle, up to its burst', async () => {
    const clock = new FakeClock(0);
    const { slept, sleep } = fakeSleep(clock);
    const bucket = new TokenBucket(2, clock, sleep);
    await bucket.take();
    await bucket.take();
    clock.advanceTo(10_000);
    await bucket.take();
    await bucket.take();
    expect(slept).toEqual([]);
    await bucket.take();
    expect(slept).toEqual([500]);
  });

  it('serves takers in order when they come together', async () => {
    const clock = new FakeClock(0);
    const { sleep } = fakeSleep(clock);
    const bucket = new TokenBucket(1, clock, sleep);
    const order: number[] = [];
    await Promise.all([0, 1, 2].map((i) => bucket.take().then(() => order.push(i))));
    expect(order).toEqual([0, 1, 2]);
    expect(clock.now()).toBe(2000);
  });
});

describe('Semaphore', () => {
  it('lets `limit` holders in and the next one when one leaves', async () => {
    const s = new Semaphore(2);
    const a = await s.acquire();
    await s.acquire();
    let third = false;
    const c = s.acquire().then((r) => {
      third = true;
      return r;
    });
    await Promise.resolve();
    expect(third).toBe(false);
    expect(s.inUse).toBe(2);
    a();
    a(); // a second release of the same slot changes nothing
    (await c)();
    expect(third).toBe(true);
    expect(s.inUse).toBe(1);
  });
});

describe('backoff', () => {
  it('doubles from the base, capped, with jitter in [0.5, 1)', () => {
    const opts = { ...DEFAULT_BACKOFF, baseMs: 100, maxMs: 1000 };
    expect([0, 1, 2, 3, 4, 5].map((a) => backoffMs(a, undefined, opts, () => 0.999))).toEqual([
      100, 200, 400, 800, 1000, 1000,
    ]);
    expect(backoffMs(2, undefined, opts, () => 0)).toBe(200);
  });

  it('takes Retry-After as it is, and gives up when it asks for longer than the cap', () => {
    const opts = { ...DEFAULT_BACKOFF, maxMs: 60_000 };
    expect(backoffMs(0, 7000, opts, () => 0.5)).toBe(7000);
    expect(backoffMs(3, 60_001, opts, () => 0.5)).toBeUndefined();
  });

  it('reads Retry-After in seconds and as an HTTP date', () => {
    const now = Date.parse('2026-01-01T00:00:00Z');
    expect(retryAfterMs('3', now)).toBe(3000);
    expect(retryAfterMs('Thu, 01 Jan 2026 00:00:10 GMT', now)).toBe(10_000);
    expect(retryAfterMs('Wed, 31 Dec 2025 00:00:00 GMT', now)).toBe(0);
    expect(retryAfterMs(undefined, now)).toBeUndefined();
    expect(retryAfterMs('soon', now)).toBeUndefined();
  });
});

describe('ratelimit-remaining', () => {
  it("reads Docker Hub's form and a plain number", () => {
    expect(parseRateLimitRemaining('76;w=21600')).toBe(76);
    expect(parseRateLimitRemaining('0')).toBe(0);
    expect(parseRateLimitRemaining(['12;w=60'])).toBe(12);
    expect(parseRateLimitRemaining(undefined)).toBeUndefined();
    expect(parseRateLimitRemaining('none')).toBeUndefined();
  });
});

describe('mannersFor', () => {
  it('shares one set of limits per remote and its settings in the process', () => {
    const a = mannersFor({ name: 'hub', concurrency: 3, requestsPerSecond: 5 });
    expect(mannersFor({ name: 'hub', concurrency: 3, requestsPerSecond: 5 })).toBe(a);
    expect(a.slots.limit).toBe(3);
    expect(a.bucket?.rate).toBe(5);
    // edited settings: fresh limits; no rate: no bucket
    const b = mannersFor({ name: 'hub', concurrency: 4 });
    expect(b).not.toBe(a);
    expect(b.bucket).toBeUndefined();
  });
});
