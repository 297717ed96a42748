// parseSize: the sizes `berth quota set` and /api/v1/quotas take; formatBytes: how berth prints them.
import { describe, expect, it } from 'vitest';
import { BerthError } from './errors.js';
import { formatBytes, parseSize } from './sizes.js';

describe('parseSize', () => {
  it('reads IEC units as powers of 1024, in any case', () => {
    expect(parseSize('500MiB')).toBe(500 * 1024 * 1024);
    expect(parseSize('2GiB')).toBe(2 * 1024 ** 3);
    expect(parseSize('2gib')).toBe(2 * 1024 ** 3);
    expect(parseSize('1KiB')).toBe(1024);
    expect(parseSize('3TiB')).toBe(3 * 1024 ** 4);
    expect(parseSize('1PiB')).toBe(1024 ** 5);
  });

  it('reads SI units as powers of 1000', () => {
    expect(parseSize('1kB')).toBe(1000);
    expect(parseSize('1KB')).toBe(1000);
    expect(parseSize('500MB')).toBe(500_000_000);
    expect(parseSize('2GB')).toBe(2_000_000_000);
    expect(parseSize('1TB')).toBe(1e12);
  });

  it('reads a bare number or B as bytes, and zero', () => {
    expect(parseSize('1024')).toBe(1024);
    expect(parseSize('1024B')).toBe(1024);
    expect(parseSize('0')).toBe(0);
    expect(parseSize('0GiB')).toBe(0);
  });

  it('takes fractions, a space before the unit and blanks around, and rounds down to a whole byte', () => {
    expect(parseSize('1.5GiB')).toBe(1.5 * 1024 ** 3);
    expect(parseSize('1.5 GiB')).toBe(1.5 * 1024 ** 3);
    expect(parseSize(' 10MiB ')).toBe(10 * 1024 ** 2);
    expect(parseSize('0.1KiB')).toBe(102);
    expect(parseSize('1.5')).toBe(1);
  });

  it('refuses anything else with PARAMETER_INVALID, naming the input and examples', () => {
    for (const bad of [
      '',
      'GiB',
      '-1GiB',
      '1 GiB extra',
      '1e9',
      '10XB',
      '1,5GiB',
      '1..5GiB',
      'ten',
      '1 G i B',
      '0x10',
    ]) {
      let err: unknown;
      try {
        parseSize(bad);
      } catch (e) {
        err = e;
      }
      expect(err, bad).toBeInstanceOf(BerthError);
      expect((err as BerthError).code).toBe('PARAMETER_INVALID');
      expect((err as BerthError).message).toContain(`"${bad}" is not a size`);
      expect((err as BerthError).message).toContain('500MiB');
    }
  });

  it('refuses sizes beyond 2^53 bytes', () => {
    expect(parseSize('7PiB')).toBe(7 * 1024 ** 5);
    expect(() => parseSize('9PiB')).toThrow(/is not a size/);
    expect(() => parseSize('9999999999999999')).toThrow(/is not a size/);
  });
});

describe('formatBytes', () => {
  it('prints what parseSize reads back within rounding', () => {
    expect(formatBytes(parseSize('500MiB'))).toBe('500 MiB');
    expect(formatBytes(parseSize('2GiB'))).toBe('2.00 GiB');
    expect(formatBytes(parseSize('1PiB'))).toBe('1.00 PiB');
  });
});
