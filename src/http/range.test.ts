// Covers src/http/range.ts: parseRange for closed, open-ended and suffix byte ranges, ignorable headers, and RANGE_INVALID.
import { describe, expect, it } from 'vitest';
import { BerthError } from '../core/errors.js';
import { parseRange } from './range.js';

function rangeError(header: string, size: number): BerthError {
  try {
    parseRange(header, size);
  } catch (e) {
    expect(e).toBeInstanceOf(BerthError);
    return e as BerthError;
  }
  throw new Error(`expected ${header} on ${size} bytes to be refused`);
}

describe('parseRange', () => {
  it('is undefined without a header', () => {
    expect(parseRange(undefined, 10)).toBeUndefined();
  });

  it('reads a closed range, both ends inclusive', () => {
    expect(parseRange('bytes=0-0', 10)).toEqual({ start: 0, end: 0 });
    expect(parseRange('bytes=2-5', 10)).toEqual({ start: 2, end: 5 });
    expect(parseRange('bytes=0-9', 10)).toEqual({ start: 0, end: 9 });
  });

  it('reads a range of the last byte', () => {
    expect(parseRange('bytes=9-9', 10)).toEqual({ start: 9, end: 9 });
  });

  it('clamps an end past the last byte', () => {
    expect(parseRange('bytes=4-1000', 10)).toEqual({ start: 4, end: 9 });
  });

  it('reads an open-ended range to the last byte', () => {
    expect(parseRange('bytes=3-', 10)).toEqual({ start: 3, end: 9 });
    expect(parseRange('bytes=9-', 10)).toEqual({ start: 9, end: 9 });
    expect(parseRange('bytes=0-', 1)).toEqual({ start: 0, end: 0 });
  });

  it('reads suffix ranges: the last N bytes', () => {
    expect(parseRange('bytes=-1', 10)).toEqual({ start: 9, end: 9 });
    expect(parseRange('bytes=-4', 10)).toEqual({ start: 6, end: 9 });
    expect(parseRange('bytes=-10', 10)).toEqual({ start: 0, end: 9 });
  });

  it('takes a suffix longer than the blob as the whole blob', () => {
    expect(parseRange('bytes=-500', 10)).toEqual({ start: 0, end: 9 });
  });

  it('tolerates surrounding whitespace and the unit in another case', () => {
    expect(parseRange('  bytes=1-2 ', 10)).toEqual({ start: 1, end: 2 });
    expect(parseRange('Bytes=1-2', 10)).toEqual({ start: 1, end: 2 });
  });

  it('ignores a range unit other than bytes (RFC 9110: must be ignored)', () => {
    expect(parseRange('items=0-5', 10)).toBeUndefined();
  });

  it('ignores several ranges and serves the whole blob instead', () => {
    expect(parseRange('bytes=0-1,4-5', 10)).toBeUndefined();
    expect(parseRange('bytes=0-1, -2', 10)).toBeUndefined();
  });

  it('refuses a start at or past the end of the blob, with the size in the detail', () => {
    for (const h of ['bytes=10-', 'bytes=10-20', 'bytes=11-12']) {
      const e = rangeError(h, 10);
      expect(e.code).toBe('RANGE_INVALID');
      expect(e.status).toBe(416);
      expect(e.detail).toEqual({ size: 10 });
      expect(e.message).toContain('10 bytes');
    }
  });

  it('refuses a start after the end', () => {
    expect(rangeError('bytes=5-2', 10).code).toBe('RANGE_INVALID');
  });

  it('refuses an empty suffix and any range of an empty blob', () => {
    expect(rangeError('bytes=-0', 10).message).toContain('empty');
    expect(rangeError('bytes=0-', 0).code).toBe('RANGE_INVALID');
    expect(rangeError('bytes=-5', 0).code).toBe('RANGE_INVALID');
    expect(rangeError('bytes=0-0', 0).detail).toEqual({ size: 0 });
  });

  it('refuses a malformed bytes range, quoting the header', () => {
    for (const h of ['bytes=', 'bytes=-', 'bytes=a-b', 'bytes=1', 'bytes=1-2-3', 'bytes=-1-2', 'garbage']) {
      const e = rangeError(h, 10);
      expect(e.code, h).toBe('RANGE_INVALID');
      expect(e.message).toContain(`"${h}"`);
    }
  });
});
