// Tag selection of a sync plan: globs with * and ?, literal tags, digests in the include set, excludes; the download pool.
import { describe, expect, it } from 'vitest';
import { globMatches, inPool, tagSelected } from './plan.js';

const D = `sha256:${'a'.repeat(64)}`;

describe('tag selection', () => {
  it('globs: * any characters, ? one, the rest literal (dots too)', () => {
    expect(globMatches('v*', 'v1.2')).toBe(true);
    expect(globMatches('v*', 'latest')).toBe(false);
    expect(globMatches('1.?', '1.2')).toBe(true);
    expect(globMatches('1.?', '1.22')).toBe(false);
    expect(globMatches('1.2', '1x2')).toBe(false);
    expect(globMatches('*-alpine', '3.20-alpine')).toBe(true);
  });

  it('an empty include selects every tag; excludes win; digests in the include set select no tag', () => {
    expect(tagSelected({ include: [], exclude: [] }, 'x')).toBe(true);
    expect(tagSelected({ include: ['v*'], exclude: ['v2'] }, 'v2')).toBe(false);
    expect(tagSelected({ include: ['v*'], exclude: ['v2'] }, 'v1')).toBe(true);
    expect(tagSelected({ include: [D], exclude: [] }, 'latest')).toBe(false);
  });
});

describe('inPool', () => {
  it('keeps at most n calls in flight and the results in order', async () => {
    let inFlight = 0;
    let most = 0;
    const out = await inPool([5, 1, 3, 2, 4], 2, async (x) => {
      most = Math.max(most, ++inFlight);
      await new Promise((r) => setImmediate(r));
      inFlight--;
      return x * 10;
    });
    expect(out).toEqual([50, 10, 30, 20, 40]);
    expect(most).toBe(2);
  });

  it('after a failure starts nothing new and throws once the calls in flight have ended', async () => {
    const started: number[] = [];
    let ended = 0;
    const p = inPool([1, 2, 3, 4, 5, 6], 2, async (x) => {
      started.push(x);
      await new Promise((r) => setImmediate(r));
      ended++;
      if (x === 1) throw new Error('one failed');
      return x;
    });
    await expect(p).rejects.toThrow('one failed');
    expect(ended).toBe(started.length);
    expect(started.length).toBeLessThan(6);
  });
});
