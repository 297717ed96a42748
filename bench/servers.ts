// The two servers under test, each a child process on a free loopback port with its data in a temp dir:
// berth (the built bin/berth.js serve, SQLite) and CNCF Distribution (`docker-registry serve CONFIG.yml`,
// filesystem storage; the s3 group gives both an S3 store). And their resident memory, from /proc.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { request, type Credentials } from './http.js';

export const ROOT = join(import.meta.dirname, '..', '..');

export interface Server {
  name: 'berth' | 'distribution';
  /** http://127.0.0.1:PORT */
  url: string;
  /** 127.0.0.1:PORT, as skopeo wants it */
  hostPort: string;
  child: ChildProcess;
  /** credentials to send (berth's admin; none for Distribution, which runs without auth) */
  creds?: Credentials;
  /** the data folder (berth: --data; Distribution: the filesystem driver's root) */
  data: string;
  /** berth's database when not the SQLite file in `data` (a postgres:// URL) */
  database?: string;
  /** Distribution's config file (for garbage-collect) */
  config?: string;
  /** the last of what the process printed */
  output(): string;
  stop(): Promise<void>;
}

/** A free loopback port (bound, then let go: the server takes it right after). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      s.close(() => resolve(port));
    });
  });
}

function capture(child: ChildProcess): () => string {
  let out = '';
  const keep = (b: Buffer) => {
    out = (out + b.toString('utf8')).slice(-64 * 1024);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  return () => out;
}

function stopper(child: ChildProcess): () => Promise<void> {
  return async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    await exited;
    clearTimeout(timer);
  };
}

const live = new Set<ChildProcess>();
/** Kills every server still running (the bench failed half-way). */
export function killAll(): void {
  for (const c of live) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
}

function track(child: ChildProcess): ChildProcess {
  live.add(child);
  child.once('exit', () => live.delete(child));
  return child;
}

/** Where berth's database is: the server's --database, else the SQLite file in its data folder. */
export const databaseOf = (s: Server): string => s.database ?? join(s.data, 'berth.db');

/**
 * Starts `bin/berth.js serve` on SQLite under `data` (or on `database`, a postgres:// URL), at log level warn.
 * BERTH_ADMIN_PASSWORD (`password`, else a random one) makes the first start create user admin. `nodeArgs` (e.g.
 * --cpu-prof, which Node 20 refuses in NODE_OPTIONS) go to the child's node.
 */
export async function startBerth(
  data: string,
  opts: {
    nodeArgs?: string[];
    args?: string[];
    env?: NodeJS.ProcessEnv;
    database?: string;
    password?: string;
  } = {},
): Promise<Server> {
  mkdirSync(data, { recursive: true });
  const password = opts.password ?? randomBytes(12).toString('base64url');
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    ...opts.env,
    BERTH_LOG_LEVEL: 'warn',
    BERTH_ADMIN_PASSWORD: password,
  };
  const child = track(
    spawn(
      process.execPath,
      [
        ...(opts.nodeArgs ?? []),
        join(ROOT, 'bin', 'berth.js'),
        'serve',
        '--listen',
        '127.0.0.1:0',
        '--data',
        data,
        ...(opts.database ? ['--database', opts.database] : []),
        ...(opts.args ?? []),
      ],
      { stdio: ['ignore', 'pipe', 'pipe'], env },
    ),
  );
  const output = capture(child);
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`berth did not start in 60 s:\n${output()}`)), 60_000);
    const onData = () => {
      const m = /berth listening on (\S+)/.exec(output());
      if (m) {
        clearTimeout(timer);
        child.stdout!.off('data', onData);
        resolve(m[1]!);
      }
    };
    child.stdout!.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`berth serve exited with ${code}:\n${output()}`));
    });
  });
  return {
    name: 'berth',
    url,
    hostPort: url.replace(/^http:\/\//, ''),
    child,
    creds: { user: 'admin', password },
    data,
    ...(opts.database ? { database: opts.database } : {}),
    output,
    stop: stopper(child),
  };
}

/** The Distribution binary: docker-registry (Debian), else registry (upstream); BERTH_BENCH_REGISTRY overrides. */
export function distributionBinary(): string {
  return process.env.BERTH_BENCH_REGISTRY ?? 'docker-registry';
}

/**
 * Starts CNCF Distribution with filesystem storage under `data` (or the storage driver given in `driver`: its YAML
 * lines under `storage:`, e.g. `s3:` and its parameters), deletes enabled, the in-memory blob descriptor cache of
 * its default config, and logging at warn with the access log off (as berth runs at warn). `env` replaces the
 * child's environment.
 */
export async function startDistribution(
  data: string,
  opts: { driver?: string[]; env?: NodeJS.ProcessEnv } = {},
): Promise<Server> {
  mkdirSync(data, { recursive: true });
  const port = await freePort();
  const config = join(data, '..', 'distribution.yml');
  writeFileSync(
    config,
    [
      'version: 0.1',
      'log:',
      '  level: warn',
      '  accesslog:',
      '    disabled: true',
      'storage:',
      '  cache:',
      '    blobdescriptor: inmemory',
      ...(opts.driver ?? ['  filesystem:', `    rootdirectory: ${data}`]),
      '  delete:',
      '    enabled: true',
      '  maintenance:',
      '    uploadpurging:',
      '      enabled: false',
      'http:',
      `  addr: 127.0.0.1:${port}`,
      '',
    ].join('\n'),
  );
  const child = track(
    spawn(distributionBinary(), ['serve', config], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: opts.env ?? process.env,
    }),
  );
  const output = capture(child);
  const url = `http://127.0.0.1:${port}`;
  const exited = new Promise<never>((_, reject) =>
    child.once('exit', (code) => reject(new Error(`docker-registry exited with ${code}:\n${output()}`))),
  );
  exited.catch(() => undefined);
  const deadline = Date.now() + 30_000;
  for (;;) {
    const ok = await Promise.race([
      request('GET', `${url}/v2/`).then(
        (a) => a.status === 200,
        () => false,
      ),
      exited,
    ]);
    if (ok) break;
    if (Date.now() > deadline) throw new Error(`docker-registry did not answer in 30 s:\n${output()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    name: 'distribution',
    url,
    hostPort: `127.0.0.1:${port}`,
    child,
    data,
    config,
    output,
    stop: stopper(child),
  };
}

/** CPU seconds (user + system) a process has used so far, from /proc/PID/stat (clock ticks of 1/100 s). */
export function cpuSeconds(pid: number): number {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return NaN;
  }
}

function statusField(pid: number, field: string): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : NaN;
}

/**
 * The peak resident memory of a process over a stretch of time: VmHWM after resetting it (writing 5 to
 * /proc/PID/clear_refs, Linux >= 4.0), and VmRSS sampled every 20 ms in case the reset is not allowed.
 */
export class PeakMemory {
  private peak = 0;
  private readonly timer: NodeJS.Timeout;
  private readonly reset: boolean;

  constructor(private readonly pid: number) {
    let reset = false;
    try {
      writeFileSync(`/proc/${pid}/clear_refs`, '5');
      reset = true;
    } catch {
      // not ours to reset (or an old kernel): the samples stand alone
    }
    this.reset = reset;
    this.sample();
    this.timer = setInterval(() => this.sample(), 20);
  }

  private sample(): void {
    try {
      this.peak = Math.max(this.peak, statusField(this.pid, 'VmRSS'));
    } catch {
      // the process is gone
    }
  }

  /** Stops sampling; the peak in bytes. */
  stop(): number {
    clearInterval(this.timer);
    this.sample();
    let hwm = 0;
    if (this.reset) {
      try {
        hwm = statusField(this.pid, 'VmHWM');
      } catch {
        hwm = 0;
      }
    }
    return Math.max(this.peak, Number.isFinite(hwm) ? hwm : 0);
  }
}
