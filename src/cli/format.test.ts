// The text the CLI prints: sizes, the upload summary, the --only-missing line, tables and diffs.
import { describe, expect, it } from 'vitest';
import {
  changeCount,
  diffLines,
  formatBytes,
  formatTime,
  omissionSummary,
  repositoryDetails,
  repositoryTable,
  table,
  uploadSummary,
  versionTable,
} from './format.js';

const DIGEST = `sha256:${'ab'.repeat(32)}`;

describe('formatBytes', () => {
  it('uses binary units', () => {
    expect(formatBytes(0)).toBe('0 B');
    expect(formatBytes(1023)).toBe('1023 B');
    expect(formatBytes(1536)).toBe('1.50 KiB');
    expect(formatBytes(123468)).toBe('121 KiB');
    expect(formatBytes(300_000_000)).toBe('286 MiB');
    expect(formatBytes(12.6)).toBe('13 B');
  });
});

describe('uploadSummary', () => {
  const result = {
    repository: 'library/app',
    version: 3,
    format: 'docker-archive',
    manifests: [{ digest: DIGEST, mediaType: 'application/vnd.oci.image.manifest.v1+json', tags: ['1.0'] }],
    blobs: { uploaded: 1, reused: 2, foreign: 0 },
  };

  it('says version, digest, tags and blob counts in one line', () => {
    expect(uploadSummary(result)).toBe(
      'library/app version 3: sha256:abababababab… tagged 1.0; 1 blob uploaded, 2 reused, 0 foreign',
    );
  });

  it('counts untagged child manifests of an index', () => {
    const child = { digest: DIGEST, mediaType: 'x', tags: [] };
    const r = {
      ...result,
      manifests: [...result.manifests, child, child],
      blobs: { uploaded: 4, reused: 0, foreign: 1 },
    };
    expect(uploadSummary(r)).toBe(
      'library/app version 3: sha256:abababababab… tagged 1.0, 2 untagged manifests; 4 blobs uploaded, 0 reused, 1 foreign',
    );
  });

  it('names a single untagged manifest by digest', () => {
    const r = { ...result, manifests: [{ digest: DIGEST, mediaType: 'x', tags: [] }] };
    expect(uploadSummary(r)).toMatch(/^library\/app version 3: sha256:abababababab…; /);
  });
});

describe('omissionSummary', () => {
  const none = { blobs: 0, bytes: 0 };
  it('says how many layers and bytes were left out', () => {
    const o = { paths: new Set<string>(), present: { blobs: 2, bytes: 143360 }, foreign: none };
    expect(omissionSummary(o, 'library/app', 3)).toBe(
      'left out 2 of 3 layers (140 KiB) already in library/app',
    );
  });
  it('mentions foreign layers', () => {
    const o = {
      paths: new Set<string>(),
      present: { blobs: 1, bytes: 8365 },
      foreign: { blobs: 1, bytes: 65795 },
    };
    expect(omissionSummary(o, 'win/app', 1)).toBe(
      'left out 1 of 1 layer (8.17 KiB) already in win/app and 1 foreign layer (64.3 KiB)',
    );
  });
  it('says so when nothing was left out', () => {
    const o = { paths: new Set<string>(), present: none, foreign: none };
    expect(omissionSummary(o, 'new/app', 3)).toBe(
      "left out nothing: new/app holds none of the archive's 3 layers",
    );
  });
});

describe('tables', () => {
  it('aligns columns', () => {
    expect(
      table([
        ['A', 'B'],
        ['long', 'x'],
      ]),
    ).toBe('A     B\nlong  x');
  });

  it('lists repositories, or says there are none', () => {
    expect(repositoryTable([])).toBe('no repositories');
    expect(repositoryTable([{ name: 'a/b', latestVersion: 2, createdAt: '2026-01-02T03:04:05.678Z' }])).toBe(
      'NAME  LATEST VERSION  CREATED\na/b   2               2026-01-02 03:04:05Z',
    );
  });

  it('lists versions, with added/removed as counts or content groups', () => {
    const out = versionTable([
      { number: 1, createdAt: 'not a date', added: 3, removed: 0 },
      {
        number: 2,
        createdAt: '2026-01-02T03:04:05Z',
        added: { manifests: [1], blobs: [1, 2], tags: [] },
        removed: [],
      },
    ]);
    expect(out.split('\n')).toEqual([
      'VERSION  CREATED               ADDED                        REMOVED',
      '1        not a date            3                            0',
      '2        2026-01-02 03:04:05Z  1 manifest, 2 blobs, 0 tags  0',
    ]);
    expect(changeCount(undefined)).toBe('-');
  });

  it('shows a repository with its tags', () => {
    const repo = { name: 'a/b', latestVersion: 2, createdAt: '2026-01-02T03:04:05Z' };
    const version = {
      number: 2,
      createdAt: '2026-01-03T00:00:00Z',
      content: {
        manifests: [{ digest: DIGEST, mediaType: 'm' }],
        blobs: [
          { digest: DIGEST, size: 1024 },
          { digest: DIGEST, size: 1024 },
        ],
        tags: [{ name: 'latest', digest: DIGEST }],
      },
    };
    expect(repositoryDetails(repo, version).split('\n')).toEqual([
      'name            a/b',
      'created         2026-01-02 03:04:05Z',
      'latest version  2 (2026-01-03 00:00:00Z)',
      'content         1 manifest, 2 blobs (2.00 KiB)',
      'tags',
      `  latest  ${DIGEST}`,
    ]);
    expect(repositoryDetails({ ...repo, latestVersion: null }, undefined)).toContain('latest version  none');
  });
});

describe('diffLines', () => {
  const empty = { manifests: [], blobs: [], tags: [] };
  it('marks additions and removals', () => {
    const d = {
      from: 1,
      to: 2,
      added: { ...empty, tags: [{ name: '1.0', digest: DIGEST }], blobs: [{ digest: DIGEST, size: 10 }] },
      removed: { ...empty, manifests: [{ digest: DIGEST, mediaType: 'm' }] },
    };
    expect(diffLines('a/b', d)).toEqual([
      'a/b: version 1 → 2',
      `+ tag 1.0 → ${DIGEST}`,
      `+ blob ${DIGEST} (10 B)`,
      `- manifest ${DIGEST} (m)`,
    ]);
  });
  it('says when there is no difference', () => {
    expect(diffLines('a/b', { from: 2, to: 2, added: empty, removed: empty })).toEqual([
      'a/b: version 2 → 2',
      'no differences',
    ]);
  });
});

it('formats times to the second in UTC', () => {
  expect(formatTime('2026-11-22T18:03:00.123+01:00')).toBe('2026-11-22 17:03:00Z');
});
