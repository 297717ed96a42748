// Runs the `berth` command in this process against a server, capturing its exit code, stdout and stderr.
import { Readable } from 'node:stream';
import { vi } from 'vitest';
import { run } from '../../src/cli/program.js';
import { ADMIN } from './in-process.js';

export interface BerthRun {
  code: number;
  out: string;
  err: string;
}

/** Whether the arguments name credentials of their own (`--password-stdin` does not: it is a new password). */
const namesCredentials = (args: string[]): boolean =>
  args.some((a) => a === '-u' || a === '-p' || /^--(username|password)(=|$)/.test(a));

/** `berth ARGS --server URL` as the administrator, unless the arguments name their own credentials. */
export function runBerth(server: string, ...args: string[]): Promise<BerthRun> {
  const creds = namesCredentials(args) ? [] : ['--username', ADMIN.user, '--password', ADMIN.password];
  return runBerthWith({ server }, ...args, ...creds);
}

/**
 * `berth ARGS --server URL` with no credentials added (the command finds its own: environment, stored login),
 * and `stdin`, if given, as standard input.
 */
export async function runBerthWith(
  { server, stdin }: { server: string; stdin?: string },
  ...args: string[]
): Promise<BerthRun> {
  let out = '';
  let err = '';
  vi.spyOn(console, 'log').mockImplementation((...a: unknown[]) => void (out += `${a.join(' ')}\n`));
  vi.spyOn(console, 'error').mockImplementation((...a: unknown[]) => void (err += `${a.join(' ')}\n`));
  vi.spyOn(process.stderr, 'write').mockImplementation((t) => ((err += String(t)), true));
  if (stdin !== undefined) {
    vi.spyOn(process, 'stdin', 'get').mockReturnValue(Readable.from([stdin]) as typeof process.stdin);
  }
  try {
    const code = await run(['node', 'berth', ...args, '--server', server]);
    return { code, out, err };
  } finally {
    vi.restoreAllMocks();
  }
}

/**
 * `berth ARGS` as given (no --server, no credentials): the commands that open the instance themselves (serve,
 * fsck, admin), with `stdin`, if given, as standard input.
 */
export async function runBerthOffline(args: string[], { stdin }: { stdin?: string } = {}): Promise<BerthRun> {
  let out = '';
  let err = '';
  vi.spyOn(console, 'log').mockImplementation((...a: unknown[]) => void (out += `${a.join(' ')}\n`));
  vi.spyOn(console, 'error').mockImplementation((...a: unknown[]) => void (err += `${a.join(' ')}\n`));
  vi.spyOn(process.stderr, 'write').mockImplementation((t) => ((err += String(t)), true));
  if (stdin !== undefined) {
    vi.spyOn(process, 'stdin', 'get').mockReturnValue(Readable.from([stdin]) as typeof process.stdin);
  }
  try {
    const code = await run(['node', 'berth', ...args]);
    return { code, out, err };
  } finally {
    vi.restoreAllMocks();
  }
}
