// Parsing of the HTTP Range header (one range of bytes) against an object's size.
import { BerthError } from '../core/errors.js';
import type { ByteRange } from '../storage/blob-store.js';

/** Returns the inclusive range asked for, or undefined for no (or an ignorable) Range header. */
export function parseRange(header: string | undefined, size: number): ByteRange | undefined {
  if (header === undefined) return undefined;
  const spec = header.trim();
  // RFC 9110 §14.2: a range unit the server does not understand MUST be ignored (the whole blob is sent).
  const unit = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+)=/.exec(spec);
  if (unit && unit[1]!.toLowerCase() !== 'bytes') return undefined;
  // Several ranges are valid HTTP; a server may ignore the header rather than answer multipart (§14.2).
  if (unit && spec.includes(',')) return undefined;
  const m = /^bytes=(\d*)-(\d*)$/i.exec(spec);
  if (!m || (m[1] === '' && m[2] === '')) {
    throw new BerthError(
      'RANGE_INVALID',
      `the Range header "${header}" is not one range of bytes (bytes=START-END)`,
      { size },
    );
  }
  let start: number;
  let end: number;
  if (m[1] === '') {
    const suffix = Number(m[2]);
    if (suffix === 0) throw new BerthError('RANGE_INVALID', `the range "${header}" is empty`, { size });
    start = Math.max(0, size - suffix);
    end = size - 1;
  } else {
    start = Number(m[1]);
    end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  }
  if (start >= size || start > end) {
    throw new BerthError('RANGE_INVALID', `the range "${header}" is outside the blob's ${size} bytes`, {
      size,
    });
  }
  return { start, end };
}
