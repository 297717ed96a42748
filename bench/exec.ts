// Runs external commands (skopeo, openssl, cp, docker-registry garbage-collect), timed.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import type { Server } from './servers.js';

const live = new Set<ChildProcess>();
export function killCommands(): void {
  for (const c of live) c.kill('SIGKILL');
}

export interface Ran {
  seconds: number;
  /** the last MiB of what it printed on stdout */
  stdout: string;
  stderr: string;
  /** with `countLines`: how many lines of its whole stdout contained that string */
  counted: number;
}

/** Runs a command to its end; a non-zero exit is an error with its output. */
export function runCommand(
  cmd: string,
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; countLines?: string } = {},
): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const start = process.hrtime.bigint();
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: opts.env ?? process.env });
    live.add(child);
    let stdout = '';
    let stderr = '';
    let counted = 0;
    let partial = '';
    child.stdout.on('data', (b: Buffer) => {
      const text = b.toString();
      stdout = (stdout + text).slice(-1024 * 1024);
      if (opts.countLines === undefined) return;
      const lines = (partial + text).split('\n');
      partial = lines.pop()!;
      for (const l of lines) if (l.includes(opts.countLines)) counted++;
    });
    child.stderr.on('data', (b: Buffer) => (stderr = (stderr + b.toString()).slice(-64 * 1024)));
    child.on('error', (e) => {
      live.delete(child);
      reject(new Error(`${cmd}: ${e.message}`));
    });
    child.on('close', (code, signal) => {
      live.delete(child);
      const seconds = Number(process.hrtime.bigint() - start) / 1e9;
      if (opts.countLines !== undefined && partial.includes(opts.countLines)) counted++;
      if (code === 0) resolve({ seconds, stdout, stderr, counted });
      else reject(new Error(`${cmd} ${args.join(' ')} failed (${code ?? signal}):\n${stderr}${stdout}`));
    });
  });
}

/** The first line a command prints (for version banners), or undefined when it cannot run. */
export function firstLine(cmd: string, args: string[]): string | undefined {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.error || r.status !== 0) return undefined;
  return (r.stdout || r.stderr).split('\n')[0]?.trim();
}

const creds = (s: Server) => (s.creds ? `${s.creds.user}:${s.creds.password}` : undefined);

/** skopeo copy of an OCI layout image to the server, digests preserved (no recompression on the way). */
export function skopeoPush(layoutRef: string, server: Server, ref: string): Promise<Ran> {
  const c = creds(server);
  return runCommand('skopeo', [
    'copy',
    '--quiet',
    '--preserve-digests',
    '--dest-tls-verify=false',
    ...(c ? ['--dest-creds', c] : []),
    layoutRef,
    `docker://${server.hostPort}/${ref}`,
  ]);
}

/** skopeo copy from the server into `dest` (oci:DIR:TAG or dir:DIR). */
export function skopeoPull(server: Server, ref: string, dest: string): Promise<Ran> {
  const c = creds(server);
  return runCommand('skopeo', [
    'copy',
    '--quiet',
    '--preserve-digests',
    '--src-tls-verify=false',
    ...(c ? ['--src-creds', c] : []),
    `docker://${server.hostPort}/${ref}`,
    dest,
  ]);
}
