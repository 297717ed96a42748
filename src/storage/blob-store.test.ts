// Covers the key layout of src/storage/blob-store.ts (Keys): content-addressed blobs, uploads and staging areas.
import { describe, expect, it } from 'vitest';
import { hexOf, sha256 } from '../core/digest.js';
import { Keys } from './blob-store.js';

describe('Keys', () => {
  it('places a blob at blobs/sha256/<first 2 hex>/<64 hex>', () => {
    for (const content of ['a', 'b', 'layer bytes']) {
      const d = sha256(content);
      const hex = hexOf(d);
      const key = Keys.blob(d);
      expect(key).toMatch(/^blobs\/sha256\/[a-f0-9]{2}\/[a-f0-9]{64}$/);
      expect(key).toBe(`blobs/sha256/${hex.slice(0, 2)}/${hex}`);
      expect(key.startsWith(Keys.blobsRoot)).toBe(true);
    }
  });

  it('gives different blobs different keys', () => {
    expect(Keys.blob(sha256('x'))).not.toBe(Keys.blob(sha256('y')));
  });

  it('keeps an upload and a staging entry inside their folders', () => {
    expect(Keys.upload('u1')).toBe('uploads/u1/data');
    expect(Keys.upload('u1').startsWith(Keys.uploadDir('u1'))).toBe(true);
    expect(Keys.staging('s1', 4)).toBe('staging/s1/4');
    expect(Keys.staging('s1', 4).startsWith(Keys.stagingDir('s1'))).toBe(true);
    expect(Keys.stagingDir('s1')).toMatch(/\/$/);
    expect(Keys.uploadDir('u1')).toMatch(/\/$/);
  });
});
