// Covers digestOfBlobKey in src/gc/strays.ts: which keys under blobs/ are content addresses (sha256 and sha512).
import { describe, expect, it } from 'vitest';
import { hexOf, sha256, sha512 } from '../core/digest.js';
import { Keys } from '../storage/cas.js';
import { digestOfBlobKey } from './strays.js';

describe('digestOfBlobKey', () => {
  it('reads back the digest of every blob key, of either algorithm', () => {
    for (const d of [sha256('a'), sha512('a')]) expect(digestOfBlobKey(Keys.blob(d))).toBe(d);
  });

  it('refuses keys that are no content address', () => {
    const h256 = hexOf(sha256('a'));
    const h512 = hexOf(sha512('a'));
    for (const key of [
      `blobs/sha512/${h256.slice(0, 2)}/${h256}`, // a sha256 hex under sha512/
      `blobs/sha256/${h512.slice(0, 2)}/${h512}`, // a sha512 hex under sha256/
      `blobs/sha512/zz/${h512}`, // the folder is not the hex's first two digits
      `blobs/sha384/${h512.slice(0, 2)}/${h512.slice(0, 96)}`,
      `blobs/sha512/${h512.slice(0, 2)}/${h512}.tmp`,
      'blobs/sha512/zz-temp',
    ]) {
      expect(digestOfBlobKey(key), key).toBeUndefined();
    }
  });
});
