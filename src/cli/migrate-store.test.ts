// Covers progressLines and reportLines of src/cli/migrate-store.ts: what `berth migrate-store` prints as it goes and at the end.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { progressLines, reportLines } from './migrate-store.js';

const MiB = 1024 * 1024;

describe('migrate-store output', () => {
  afterEach(() => vi.restoreAllMocks());

  it('prints progress at the start, then at most once every 5 s, and at the end', () => {
    let err = '';
    vi.spyOn(process.stderr, 'write').mockImplementation((t) => ((err += String(t)), true));
    let now = 0;
    const p = progressLines(5000, () => now);
    const at = (done: number, bytesDone: number) => ({ done, total: 2, bytesDone, bytesTotal: 4 * MiB });
    p.update(at(0, 0));
    now = 4999;
    p.update(at(0, MiB)); // too soon: not printed
    now = 5000;
    p.update(at(1, 2 * MiB));
    now = 6000;
    p.update(at(2, 4 * MiB));
    p.end();
    expect(err.split('\n')).toEqual([
      'migrate-store: 0/2 blobs, 0 B of 4.00 MiB',
      'migrate-store: 1/2 blobs, 2.00 MiB of 4.00 MiB',
      'migrate-store: 2/2 blobs, 4.00 MiB of 4.00 MiB, done',
      '',
    ]);
  });

  it('reports what was copied, found, skipped and not copied', () => {
    const lines = reportLines({
      total: { count: 5, bytes: 5 * MiB },
      copied: { count: 2, bytes: 2 * MiB },
      replaced: 1,
      present: { count: 1, bytes: MiB },
      skipped: { markedMissing: 1, onDemand: 2, gone: 0 },
      abortedUnfinished: 1,
      failed: [
        { digest: 'sha256:aa', size: 3, key: 'blobs/sha256/aa/aa', problem: 'missing', detail: 'no object' },
      ],
      verified: true,
    });
    expect(lines).toEqual([
      'copied 2 blobs (2.00 MiB), of which 1 replaced an object of the wrong size or bytes, each hashed against its digest',
      'already there: 1 blob (1.00 MiB), read back and hashed',
      'skipped: 1 blob marked missing (no object in the source), 2 on-demand blobs with no bytes yet',
      'aborted 1 unfinished upload under blobs/ (an interrupted run’s)',
      'not copied: sha256:aa (missing): no object',
    ]);
  });
});
