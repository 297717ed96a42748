// The command line's exit codes and error lines: usage errors exit 2, failures exit 1 with the server's words.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { BerthError } from '../core/errors.js';
import { ApiError } from './client.js';
import { run } from './program.js';
import { errorLines } from './report.js';

/** Runs `berth ARGS…` in this process; returns its exit code and what it wrote to stdout and stderr. */
async function berth(...args: string[]) {
  let out = '';
  let err = '';
  vi.spyOn(process.stdout, 'write').mockImplementation((s) => ((out += String(s)), true));
  vi.spyOn(process.stderr, 'write').mockImplementation((s) => ((err += String(s)), true));
  vi.spyOn(console, 'log').mockImplementation((...a: unknown[]) => void (out += `${a.join(' ')}\n`));
  vi.spyOn(console, 'error').mockImplementation((...a: unknown[]) => void (err += `${a.join(' ')}\n`));
  const code = await run(['node', 'berth', ...args]);
  vi.restoreAllMocks();
  return { code, out, err };
}

afterEach(() => vi.restoreAllMocks());

describe('usage errors exit 2', () => {
  it('rejects an invalid repository name before sending anything', async () => {
    const r = await berth('upload', 'x.tar', 'Library/App:1.0');
    expect(r.code).toBe(2);
    expect(r.err).toContain("berth: command-argument value 'Library/App:1.0' is invalid");
    expect(r.err).toContain('invalid repository name "Library/App"');
  });

  it('rejects an invalid tag and a --server that is not a URL', async () => {
    expect((await berth('upload', 'x.tar', 'app:-bad')).err).toContain('invalid tag "-bad"');
    const r = await berth('repo', 'list', '--server', 'localhost:5000');
    expect(r.code).toBe(2);
    expect(r.err).toContain('must be an http:// or https:// URL');
  });

  it('rejects a version that is not a number, unknown commands and missing arguments', async () => {
    expect((await berth('repo', 'diff', 'a/b', '1', 'latest')).code).toBe(2);
    expect((await berth('nope')).code).toBe(2);
    expect((await berth('upload', 'x.tar')).code).toBe(2);
    expect((await berth('repo')).code).toBe(2);
  });

  it('exits 0 for --help', async () => {
    const r = await berth('--help');
    expect(r.code).toBe(0);
    expect(r.out).toContain('upload [options] <archive> <repo[:tag]>');
  });
});

describe('failures exit 1', () => {
  it('says so when the archive does not exist', async () => {
    const r = await berth('upload', '/nonexistent/app.tar', 'app', '--server', 'http://127.0.0.1:9');
    expect(r).toMatchObject({ code: 1, err: 'berth: /nonexistent/app.tar: no such file or directory\n' });
  });

  it('says so when the server cannot be reached, and how to point at another', async () => {
    const r = await berth('repo', 'list', '--server', 'http://127.0.0.1:9');
    expect(r.code).toBe(1);
    expect(r.err).toMatch(
      /^berth: cannot reach the berth server at http:\/\/127\.0\.0\.1:9: .*\nberth: is `berth serve`/,
    );
  });

  it('takes the server from BERTH_SERVER', async () => {
    vi.stubEnv('BERTH_SERVER', 'http://127.0.0.1:9');
    try {
      expect((await berth('repo', 'list')).err).toContain('http://127.0.0.1:9');
    } finally {
      vi.unstubAllEnvs();
    }
  });
});

describe('errorLines', () => {
  it('prints the code and message of a server error, and its detail when it adds something', () => {
    expect(errorLines(new ApiError('DENIED', 'no push access', { repository: 'a/b' }, 403))).toEqual([
      'berth: DENIED: no push access',
      'berth: {"repository":"a/b"}',
    ]);
  });

  it('leaves out a detail that repeats the message', () => {
    const e = new ApiError(
      'BLOB_UNKNOWN',
      'missing in other/app: sha256:aa, sha256:bb',
      {
        repository: 'other/app',
        missing: ['sha256:aa', 'sha256:bb'],
      },
      404,
    );
    expect(errorLines(e)).toEqual(['berth: BLOB_UNKNOWN: missing in other/app: sha256:aa, sha256:bb']);
  });

  it('prints local errors without a code', () => {
    expect(errorLines(new Error('disk on fire'))).toEqual(['berth: disk on fire']);
    expect(errorLines(new ApiError('UNREACHABLE', 'cannot reach', 'is it running?'))).toEqual([
      'berth: cannot reach',
      'berth: is it running?',
    ]);
    expect(errorLines(new BerthError('ARCHIVE_INVALID', 'not an image archive'))).toEqual([
      'berth: ARCHIVE_INVALID: not an image archive',
    ]);
  });
});
