// Runs the `berth` command in this process against a server, capturing its exit code, stdout and stderr.
import { vi } from 'vitest';
import { run } from '../../src/cli/program.js';
import { ADMIN } from './in-process.js';

export async function runBerth(
  server: string,
  ...args: string[]
): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  vi.spyOn(console, 'log').mockImplementation((...a: unknown[]) => void (out += `${a.join(' ')}\n`));
  vi.spyOn(console, 'error').mockImplementation((...a: unknown[]) => void (err += `${a.join(' ')}\n`));
  vi.spyOn(process.stderr, 'write').mockImplementation((t) => ((err += String(t)), true));
  try {
    // as the administrator, unless the test names its own credentials
    const creds = args.some((a) => a === '-u' || a.startsWith('--username') || a.startsWith('--password'))
      ? []
      : ['--username', ADMIN.user, '--password', ADMIN.password];
    const code = await run(['node', 'berth', ...args, '--server', server, ...creds]);
    return { code, out, err };
  } finally {
    vi.restoreAllMocks();
  }
}
