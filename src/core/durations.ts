// Durations as people write them: 90s, 15m, 12h, 30d (and "never" where that makes sense).
import { BerthError } from './errors.js';

const UNIT: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Milliseconds of "30d", "12h", "15m" or "90s"; null for "never". */
export function parseDuration(s: string): number | null {
  if (s === 'never') return null;
  const m = /^(\d{1,6})([smhd])$/.exec(s.trim());
  if (!m || Number(m[1]) === 0) {
    throw new BerthError(
      'PARAMETER_INVALID',
      `"${s}" is not a duration: write a whole number and a unit, e.g. 90s, 15m, 12h, 30d (or never)`,
    );
  }
  return Number(m[1]) * UNIT[m[2]!]!;
}
