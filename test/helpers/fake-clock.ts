// A clock for tests: time stands still until the test moves it, and then due timers fire in time order.
import type { Clock, TimerHandle } from '../../src/gc/clock.js';

interface Timer {
  at: number;
  every?: number;
  fn: () => void;
}

export class FakeClock implements Clock {
  private readonly timers = new Map<number, Timer>();
  private nextId = 1;

  /** `random` answers the clock's random() (default: always 0.5) */
  constructor(
    private t: number,
    private readonly rand: () => number = () => 0.5,
  ) {}

  now(): number {
    return this.t;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const id = this.nextId++;
    this.timers.set(id, { at: this.t + Math.max(0, ms), fn });
    return id;
  }

  clearTimeout(timer: TimerHandle): void {
    this.timers.delete(timer as number);
  }

  setInterval(fn: () => void, ms: number): TimerHandle {
    const id = this.nextId++;
    const every = Math.max(1, ms);
    this.timers.set(id, { at: this.t + every, every, fn });
    return id;
  }

  clearInterval(timer: TimerHandle): void {
    this.timers.delete(timer as number);
  }

  random(): number {
    return this.rand();
  }

  /** How many timers are set. */
  get pending(): number {
    return this.timers.size;
  }

  /**
   * Moves time forward to `to`, firing each timer due by then at its own time, earliest first (a callback runs
   * synchronously; what it starts goes on after this returns).
   */
  advanceTo(to: number): void {
    for (;;) {
      let next: [number, Timer] | undefined;
      for (const entry of this.timers) {
        if (entry[1].at > to) continue;
        if (!next || entry[1].at < next[1].at) next = entry;
      }
      if (!next) break;
      const [id, timer] = next;
      this.t = Math.max(this.t, timer.at);
      if (timer.every) timer.at += timer.every;
      else this.timers.delete(id);
      timer.fn();
    }
    this.t = Math.max(this.t, to);
  }
}
