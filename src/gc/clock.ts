// The clock background jobs read and set their timers on: the real one, or a fake one that tests move by hand.
export type TimerHandle = unknown;

export interface Clock {
  /** ms since the epoch */
  now(): number;
  /** calls `fn` once after `ms`; the timer never keeps the process alive */
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(timer: TimerHandle): void;
  /** calls `fn` every `ms`; the timer never keeps the process alive */
  setInterval(fn: () => void, ms: number): TimerHandle;
  clearInterval(timer: TimerHandle): void;
  /** a number in [0, 1), for random delays */
  random(): number;
}

export const realClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms).unref(),
  clearTimeout: (t) => clearTimeout(t as NodeJS.Timeout),
  setInterval: (fn, ms) => setInterval(fn, ms).unref(),
  clearInterval: (t) => clearInterval(t as NodeJS.Timeout),
  random: () => Math.random(),
};
