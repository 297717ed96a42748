// Byte sizes as people write them (500MiB, 2GiB, 1.5TB, 1024) and as berth prints them (1.50 GiB).
import { BerthError } from './errors.js';

/** Bytes per unit, matched without regard to case: IEC (KiB = 1024 B) and SI (kB = 1000 B). */
const UNIT: Record<string, number> = {
  b: 1,
  kib: 2 ** 10,
  mib: 2 ** 20,
  gib: 2 ** 30,
  tib: 2 ** 40,
  pib: 2 ** 50,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
  tb: 1e12,
  pb: 1e15,
};

/**
 * The bytes of "500MiB", "2GiB", "1.5 TB", "1024B" or "1024" (a bare number is bytes), rounded down to a whole
 * byte. Units are IEC (KiB, MiB, GiB, TiB, PiB: powers of 1024) or SI (kB, MB, GB, TB, PB: powers of 1000), in
 * any case. Refused with PARAMETER_INVALID: anything else, and sizes beyond 2^53 bytes (8 PiB).
 */
export function parseSize(s: string): number {
  const m = /^(\d{1,16}(?:\.\d{1,6})?)\s*([a-z]{0,3})$/i.exec(s.trim());
  const unit = m ? UNIT[(m[2] || 'b').toLowerCase()] : undefined;
  const bytes = m && unit !== undefined ? Math.floor(Number(m[1]) * unit) : NaN;
  if (!Number.isSafeInteger(bytes)) {
    throw new BerthError(
      'PARAMETER_INVALID',
      `"${s}" is not a size: write a number and a unit, e.g. 500MiB, 2GiB, 1.5TB (KiB/MiB/GiB/TiB: powers of 1024; kB/MB/GB/TB: powers of 1000; no unit: bytes)`,
    );
  }
  return bytes;
}

/** 0 B, 1023 B, 1.50 KiB, 121 KiB, 286 MiB: three significant digits, IEC units. */
export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i += 1;
  }
  return i === 0 ? `${Math.round(n)} B` : `${v.toFixed(v < 10 ? 2 : v < 100 ? 1 : 0)} ${units[i]}`;
}
