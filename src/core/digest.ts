// Content digests: parsing, validation and streaming sha256.
import { createHash, type Hash } from 'node:crypto';
import { BerthError } from './errors.js';

export type Digest = `sha256:${string}`;

const SHA256 = /^sha256:[a-f0-9]{64}$/;
const ANY_DIGEST = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;

export function isDigest(s: string): s is Digest {
  return SHA256.test(s);
}

/** Parses a digest a client gave; only sha256 is supported, other well-formed algorithms are named as such. */
export function parseDigest(s: string, what = 'digest'): Digest {
  if (isDigest(s)) return s;
  if (ANY_DIGEST.test(s) && !s.startsWith('sha256:')) {
    throw new BerthError(
      'DIGEST_INVALID',
      `${what} "${s}" uses an unsupported algorithm; berth supports sha256`,
    );
  }
  throw new BerthError(
    'DIGEST_INVALID',
    `${what} "${s}" is not a valid sha256 digest (sha256:<64 hex digits>)`,
  );
}

export const hexOf = (d: Digest): string => d.slice('sha256:'.length);
export const digestOfHex = (hex: string): Digest => `sha256:${hex}`;
export const isHex64 = (s: string): boolean => /^[a-f0-9]{64}$/.test(s);

export function sha256(data: Buffer | string): Digest {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

/** Incremental sha256 over a stream of chunks, with a byte count. */
export class Sha256Counter {
  private readonly hash: Hash = createHash('sha256');
  size = 0;
  update(chunk: Buffer): void {
    this.hash.update(chunk);
    this.size += chunk.length;
  }
  digest(): Digest {
    return `sha256:${this.hash.digest('hex')}`;
  }
}
