// `berth serve`'s scheduled-cleanup, time-limit, upload-bound and archive-limit options: shown in its help with their environment variables, bad values exit 2.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { buildProgram, run } from './program.js';
import { archiveLimitsOf, type ServeOptions } from './serve.js';
import { ARCHIVE_LIMIT_OPTIONS, ARCHIVE_LIMITS, type ArchiveLimit } from '../archive/tar-guard.js';

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

describe('berth serve --archive-max-… (the archive limits)', () => {
  it('lists every limit of src/archive/tar-guard.ts with its environment variable and default', async () => {
    const r = await berth('serve', '--help');
    for (const limit of Object.keys(ARCHIVE_LIMITS) as ArchiveLimit[]) {
      const option = ARCHIVE_LIMIT_OPTIONS[limit];
      const env = `BERTH_${option.toUpperCase().replace(/-/g, '_')}`;
      const help = r.out.replace(/\s+/g, ' ');
      expect(help).toMatch(
        new RegExp(`--${option} <\\w+> .*?\\(default: ${ARCHIVE_LIMITS[limit]}\\) \\(env: ${env}\\)`),
      );
    }
  });

  it('reads whole numbers, and sizes with a binary unit', async () => {
    const program = buildProgram();
    let seen: ServeOptions | undefined;
    program.commands.find((c) => c.name() === 'serve')!.action((opts: ServeOptions) => void (seen = opts));
    await program.parseAsync(
      [
        'serve',
        '--archive-max-entries',
        '10',
        '--archive-max-name-bytes',
        '2k',
        '--archive-max-gzip-bytes',
        '3G',
      ],
      { from: 'user' },
    );
    expect(archiveLimitsOf(seen!)).toEqual({ entries: 10, nameBytes: 2048, gzipTotalBytes: 3 * 1024 ** 3 });
  });

  it.each([
    ['--archive-max-entries', '0'],
    ['--archive-max-entries', '10k'],
    ['--archive-max-name-bytes', 'lots'],
    ['--archive-max-gzip-ratio', '-1'],
  ])('refuses %s %s (exit 2)', async (option, value) => {
    const r = await berth('serve', option, value);
    expect(r.code).toBe(2);
    expect(r.err).toContain(`"${value}" is not a limit`);
  });
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
