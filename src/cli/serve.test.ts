// `berth serve`'s scheduled-cleanup, time-limit and upload-bound options: shown in its help with their environment variables, bad values exit 2.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { run } from './program.js';

async function berth(...args: string[]) {
  let out = '';
  let err = '';
  vi.spyOn(process.stdout, 'write').mockImplementation((s) => ((out += String(s)), true));
  vi.spyOn(process.stderr, 'write').mockImplementation((s) => ((err += String(s)), true));
  const code = await run(['node', 'berth', ...args]);
  vi.restoreAllMocks();
  return { code, out, err };
}

afterEach(() => vi.restoreAllMocks());

describe('berth serve --cleanup-interval / --cleanup-protection', () => {
  it('are listed in the help, with their environment variables', async () => {
    const r = await berth('serve', '--help');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/--cleanup-interval <seconds>[\s\S]*env:\s+BERTH_CLEANUP_INTERVAL/);
    expect(r.out).toMatch(/--cleanup-protection <seconds>[\s\S]*env:\s+BERTH_CLEANUP_PROTECTION/);
    expect(r.out).toMatch(/--cleanup-interval <seconds>[\s\S]*default:\s+3600,\s+hourly/);
    expect(r.out).toMatch(/--untagged-after <hours>[\s\S]*env:\s+BERTH_UNTAGGED_AFTER/);
  });

  it('refuses --untagged-after that is not a number of hours (exit 2)', async () => {
    const r = await berth('serve', '--untagged-after', '1d');
    expect(r.code).toBe(2);
    expect(r.err).toContain('"1d" is not a number of hours');
  });

  it.each([['--cleanup-interval'], ['--cleanup-protection']])(
    'refuse %s that is not a number of seconds (exit 2, before anything starts)',
    async (option) => {
      const r = await berth('serve', option, 'hourly');
      expect(r.code).toBe(2);
      expect(r.err).toContain('"hourly" is not a number of seconds');
    },
  );
});

describe('berth serve --idle-timeout / --headers-timeout', () => {
  it('are listed in the help, with their environment variables', async () => {
    const r = await berth('serve', '--help');
    expect(r.out).toMatch(/--idle-timeout <seconds>[\s\S]*env:\s+BERTH_IDLE_TIMEOUT/);
    expect(r.out).toMatch(/--headers-timeout <seconds>[\s\S]*env:\s+BERTH_HEADERS_TIMEOUT/);
  });

  it.each([['--idle-timeout'], ['--headers-timeout']])(
    'refuse %s that is not a number of seconds',
    async (option) => {
      const r = await berth('serve', option, '1m');
      expect(r.code).toBe(2);
      expect(r.err).toContain('"1m" is not a number of seconds');
    },
  );
});

describe('berth serve --max-uploads-per-repository / --max-uploads-per-user', () => {
  it('are listed in the help, with their environment variables', async () => {
    const r = await berth('serve', '--help');
    expect(r.out).toMatch(
      /--max-uploads-per-repository <count>[\s\S]*env:\s+BERTH_MAX_UPLOADS_PER_REPOSITORY/,
    );
    expect(r.out).toMatch(/--max-uploads-per-user <count>[\s\S]*env:\s+BERTH_MAX_UPLOADS_PER_USER/);
  });

  it.each([['--max-uploads-per-repository'], ['--max-uploads-per-user']])(
    'refuse %s that is not a whole number',
    async (option) => {
      const r = await berth('serve', option, 'lots');
      expect(r.code).toBe(2);
      expect(r.err).toContain('"lots" is not a whole number');
    },
  );
});
