// Covers src/core/digest.ts: digest validation and parsing (sha256, sha512), hex helpers, one-shot and streaming hashes.
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  algorithmOf,
  DigestCounter,
  digestOfHex,
  hexOf,
  isDigest,
  isHex64,
  parseDigest,
  sha256,
  sha512,
} from './digest.js';
import { errorOf } from '../../test/helpers/errors.js';

const hex = (data: string | Buffer): string => createHash('sha256').update(data).digest('hex');
const hex512 = (data: string | Buffer): string => createHash('sha512').update(data).digest('hex');

describe('isDigest', () => {
  const valid = `sha256:${hex('x')}`;

  it('accepts sha256 with 64 and sha512 with 128 lowercase hex digits', () => {
    expect(isDigest(valid)).toBe(true);
    expect(isDigest(`sha512:${hex512('x')}`)).toBe(true);
    expect(isDigest(`sha512:${hex512('x').toUpperCase()}`)).toBe(false);
    expect(isDigest(`sha512:${hex512('x').slice(1)}`)).toBe(false);
  });

  it('refuses uppercase hex, wrong lengths, other algorithms and missing prefixes', () => {
    expect(isDigest(valid.toUpperCase())).toBe(false);
    expect(isDigest(`sha256:${hex('x').toUpperCase()}`)).toBe(false);
    expect(isDigest(valid.slice(0, -1))).toBe(false);
    expect(isDigest(`${valid}0`)).toBe(false);
    expect(isDigest(hex('x'))).toBe(false);
    expect(isDigest(`sha512:${hex('x')}`)).toBe(false);
    expect(isDigest(`sha256:${hex512('x')}`)).toBe(false);
    expect(isDigest(`sha384:${hex512('x').slice(0, 96)}`)).toBe(false);
    expect(isDigest(` ${valid}`)).toBe(false);
    expect(isDigest(`${valid}\n`)).toBe(false);
    expect(isDigest('')).toBe(false);
  });
});

describe('parseDigest', () => {
  it('returns a valid digest unchanged', () => {
    const d = `sha256:${hex('abc')}`;
    expect(parseDigest(d)).toBe(d);
  });

  it('returns a valid sha512 digest unchanged', () => {
    const d = `sha512:${hex512('abc')}`;
    expect(parseDigest(d)).toBe(d);
  });

  it('names an unsupported but well-formed algorithm', () => {
    const e = errorOf(() => parseDigest(`sha384:${hex512('a').slice(0, 96)}`, 'layer digest'));
    expect(e.code).toBe('DIGEST_INVALID');
    expect(e.message).toContain('unsupported algorithm sha384');
    expect(e.message).toContain('sha256 and sha512');
    expect(e.message).toContain('layer digest');
    expect(e.detail).toEqual({ algorithm: 'sha384' });
  });

  it('refuses malformed digests with the expected shape in the message', () => {
    const bad = ['sha256:abc', 'sha256:', 'nonsense', `sha256:${'g'.repeat(64)}`, '', `sha512:${hex('a')}`];
    for (const b of bad) {
      const e = errorOf(() => parseDigest(b));
      expect(e.code).toBe('DIGEST_INVALID');
      expect(e.message).toContain('sha256:<64 hex digits> or sha512:<128 hex digits>');
      expect(e.message).toContain(JSON.stringify(b));
    }
  });
});

describe('hex helpers', () => {
  it('hexOf and digestOfHex are inverse, the length of the hex telling the algorithm', () => {
    const h = hex('round trip');
    const d = digestOfHex(h)!;
    expect(d).toBe(`sha256:${h}`);
    expect(hexOf(d)).toBe(h);
    const h512 = hex512('round trip');
    const d512 = digestOfHex(h512)!;
    expect(d512).toBe(`sha512:${h512}`);
    expect(hexOf(d512)).toBe(h512);
    expect(algorithmOf(d512)).toBe('sha512');
    expect(algorithmOf(d)).toBe('sha256');
    for (const bad of [h.slice(1), h.toUpperCase(), `${h}0`, '']) expect(digestOfHex(bad)).toBeUndefined();
  });

  it('isHex64 accepts exactly 64 lowercase hex digits', () => {
    expect(isHex64(hex('a'))).toBe(true);
    expect(isHex64(hex('a').slice(1))).toBe(false);
    expect(isHex64(hex('a').toUpperCase())).toBe(false);
    expect(isHex64(`sha256:${hex('a')}`)).toBe(false);
  });
});

describe('sha256', () => {
  it('hashes strings and buffers like node:crypto', () => {
    expect(sha256('hello')).toBe(`sha256:${hex('hello')}`);
    const bytes = Buffer.from([0, 1, 2, 255]);
    expect(sha256(bytes)).toBe(`sha256:${hex(bytes)}`);
  });

  it('gives the well-known digest of the empty input', () => {
    expect(sha256(Buffer.alloc(0))).toBe(`sha256:${hex(Buffer.alloc(0))}`);
    expect(sha256('')).toMatch(/^sha256:e3b0c442/);
  });
});

describe('sha512', () => {
  it('hashes like node:crypto', () => {
    expect(sha512('hello')).toBe(`sha512:${hex512('hello')}`);
  });
});

describe('DigestCounter', () => {
  it('hashes chunks as if they were one buffer and counts their bytes', () => {
    const chunks = [Buffer.from('abc'), Buffer.alloc(0), Buffer.alloc(70_000, 7), Buffer.from('xyz')];
    const whole = Buffer.concat(chunks);
    const c = new DigestCounter();
    for (const ch of chunks) c.update(ch);
    expect(c.size).toBe(whole.length);
    expect(c.digest()).toBe(sha256(whole));
  });

  it('hashes with sha512 when told', () => {
    const c = new DigestCounter('sha512');
    c.update(Buffer.from('ab'));
    c.update(Buffer.from('c'));
    expect(c.digest()).toBe(sha512('abc'));
  });

  it('starts at zero bytes and the empty digest', () => {
    const c = new DigestCounter();
    expect(c.size).toBe(0);
    expect(c.digest()).toBe(sha256(''));
  });
});
