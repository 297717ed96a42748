// Which includes let a sync skip tags/list: only literal tags and digests, never a glob with "*" or "?".
import { describe, expect, it } from 'vitest';
import { onlyLiterals } from './remote.js';

describe('onlyLiterals', () => {
  it('is true for tags and digests only', () => {
    expect(onlyLiterals(['3.20', 'latest', `sha256:${'a'.repeat(64)}`])).toBe(true);
  });
  it('is false for an empty include (every tag) and for any glob', () => {
    expect(onlyLiterals([])).toBe(false);
    expect(onlyLiterals(['3.20', 'v*'])).toBe(false);
    expect(onlyLiterals(['1.?'])).toBe(false);
  });
});
