// Content digests: the supported algorithms (sha256, sha512), parsing, validation and streaming hashes.
import { createHash, type Hash } from 'node:crypto';
import { BerthError } from './errors.js';

/** The digest algorithms berth stores and verifies, with the length of their hex encoding. */
export const ALGORITHMS = { sha256: 64, sha512: 128 } as const;
export type Algorithm = keyof typeof ALGORITHMS;

export type Digest = `sha256:${string}` | `sha512:${string}`;

const SUPPORTED = /^(?:sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})$/;
const ANY_DIGEST = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;
const SHAPE = 'sha256:<64 hex digits> or sha512:<128 hex digits>';

export function isDigest(s: string): s is Digest {
  return SUPPORTED.test(s);
}

export const isAlgorithm = (s: string): s is Algorithm => Object.hasOwn(ALGORITHMS, s);

/** Parses a digest a client gave; a well-formed digest of another algorithm is refused naming that algorithm. */
export function parseDigest(s: string, what = 'digest'): Digest {
  if (isDigest(s)) return s;
  throw invalidDigest(s, what);
}

/** The DIGEST_INVALID error for `s` (which isDigest refused): names an unsupported algorithm, else the shape. */
export function invalidDigest(s: string, what = 'digest'): BerthError {
  const algorithm = s.slice(0, s.indexOf(':'));
  if (ANY_DIGEST.test(s) && !isAlgorithm(algorithm)) {
    return new BerthError(
      'DIGEST_INVALID',
      `${what} "${s}" uses the unsupported algorithm ${algorithm}; berth supports sha256 and sha512`,
      { algorithm },
    );
  }
  return new BerthError('DIGEST_INVALID', `${what} "${s}" is not a valid digest (${SHAPE})`);
}

export const algorithmOf = (d: Digest): Algorithm => (d.startsWith('sha512:') ? 'sha512' : 'sha256');
export const hexOf = (d: Digest): string => d.slice(d.indexOf(':') + 1);
/** The digest of a bare hex encoding; its length tells the algorithm (64: sha256, 128: sha512). */
export function digestOfHex(hex: string): Digest | undefined {
  if (/^[a-f0-9]{64}$/.test(hex)) return `sha256:${hex}`;
  if (/^[a-f0-9]{128}$/.test(hex)) return `sha512:${hex}`;
  return undefined;
}
export const isHex64 = (s: string): boolean => /^[a-f0-9]{64}$/.test(s);

export const hashOf = (algorithm: Algorithm, data: Buffer | string): Digest =>
  `${algorithm}:${createHash(algorithm).update(data).digest('hex')}`;

export const sha256 = (data: Buffer | string): Digest => hashOf('sha256', data);
export const sha512 = (data: Buffer | string): Digest => hashOf('sha512', data);

/** Incremental hash over a stream of chunks, with a byte count. */
export class DigestCounter {
  private readonly hash: Hash;
  size = 0;
  constructor(readonly algorithm: Algorithm = 'sha256') {
    this.hash = createHash(algorithm);
  }
  update(chunk: Buffer): void {
    this.hash.update(chunk);
    this.size += chunk.length;
  }
  digest(): Digest {
    return `${this.algorithm}:${this.hash.digest('hex')}`;
  }
}
