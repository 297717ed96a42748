// Covers src/core/digest.ts: digest validation and parsing, hex helpers, one-shot and streaming sha256.
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { digestOfHex, hexOf, isDigest, isHex64, parseDigest, sha256, Sha256Counter } from './digest.js';
import { errorOf } from '../../test/helpers/errors.js';

const hex = (data: string | Buffer): string => createHash('sha256').update(data).digest('hex');

describe('isDigest', () => {
  const valid = `sha256:${hex('x')}`;

  it('accepts sha256 with 64 lowercase hex digits', () => {
    expect(isDigest(valid)).toBe(true);
  });

  it('refuses uppercase hex, wrong lengths, other algorithms and missing prefixes', () => {
    expect(isDigest(valid.toUpperCase())).toBe(false);
    expect(isDigest(`sha256:${hex('x').toUpperCase()}`)).toBe(false);
    expect(isDigest(valid.slice(0, -1))).toBe(false);
    expect(isDigest(`${valid}0`)).toBe(false);
    expect(isDigest(hex('x'))).toBe(false);
    expect(isDigest(`sha512:${hex('x')}${hex('y')}`)).toBe(false);
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

  it('names an unsupported but well-formed algorithm', () => {
    const e = errorOf(() => parseDigest(`sha512:${hex('a')}${hex('b')}`, 'layer digest'));
    expect(e.code).toBe('DIGEST_INVALID');
    expect(e.message).toContain('unsupported algorithm');
    expect(e.message).toContain('layer digest');
  });

  it('refuses malformed digests with the expected shape in the message', () => {
    for (const bad of ['sha256:abc', 'sha256:', 'nonsense', `sha256:${'g'.repeat(64)}`, '']) {
      const e = errorOf(() => parseDigest(bad));
      expect(e.code).toBe('DIGEST_INVALID');
      expect(e.message).toContain('not a valid sha256 digest');
      expect(e.message).toContain(JSON.stringify(bad));
    }
  });
});

describe('hex helpers', () => {
  it('hexOf and digestOfHex are inverse', () => {
    const h = hex('round trip');
    const d = digestOfHex(h);
    expect(d).toBe(`sha256:${h}`);
    expect(hexOf(d)).toBe(h);
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

describe('Sha256Counter', () => {
  it('hashes chunks as if they were one buffer and counts their bytes', () => {
    const chunks = [Buffer.from('abc'), Buffer.alloc(0), Buffer.alloc(70_000, 7), Buffer.from('xyz')];
    const whole = Buffer.concat(chunks);
    const c = new Sha256Counter();
    for (const ch of chunks) c.update(ch);
    expect(c.size).toBe(whole.length);
    expect(c.digest()).toBe(sha256(whole));
  });

  it('starts at zero bytes and the empty digest', () => {
    const c = new Sha256Counter();
    expect(c.size).toBe(0);
    expect(c.digest()).toBe(sha256(''));
  });
});
