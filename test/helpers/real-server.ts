// Starts the real `berth serve` (the built bin) as a child process on a free port, and runs real clients.
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { removeTestDatabase, testDatabaseUrl } from './backend.js';
import { ADMIN } from './in-process.js';
import { releaseDataStore, storeArgs } from './data-store.js';

export const ROOT = join(import.meta.dirname, '..', '..');
export const BIN = join(ROOT, 'bin', 'berth.js');

export interface RealServer {
  url: string;
  hostPort: string;
  data: string;
  child: ChildProcess;
  output: () => string;
  stop(signal?: NodeJS.Signals): Promise<void>;
}

export interface RealServerOptions {
  /** default: a fresh temp dir, removed by stop() (with its store: test/helpers/data-store.ts) */
  data?: string;
  /** default: a fresh test database, removed by stop() */
  database?: string;
  /** more options for `berth serve` (e.g. --cleanup-interval 2) */
  args?: string[];
  /** more environment for the process (BERTH_LOG_LEVEL defaults to BERTH_TEST_LOG, else warn) */
  env?: NodeJS.ProcessEnv;
}

export async function startRealServer(label = 'e2e', opts: RealServerOptions = {}): Promise<RealServer> {
  const data = opts.data ?? mkdtempSync(join(tmpdir(), `${label}-`));
  const database = opts.database ?? (await testDatabaseUrl(label));
  // BERTH_TEST_STORE=s3: the data folder's bucket (the same for every server on it), unless the test chose a store
  const store = opts.args?.includes('--store') ? [] : await storeArgs(data);
  const child = spawn(
    process.execPath,
    [
      BIN,
      'serve',
      '--listen',
      '127.0.0.1:0',
      '--data',
      data,
      '--database',
      database,
      ...store,
      ...(opts.args ?? []),
    ],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        ...process.env,
        BERTH_LOG_LEVEL: process.env.BERTH_TEST_LOG ?? 'warn',
        BERTH_ADMIN_PASSWORD: ADMIN.password,
        ...opts.env,
      },
    },
  );
  let out = '';
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`berth serve did not start in 30 s:\n${out}`)), 30_000);
    const onData = (b: Buffer) => {
      out += b.toString();
      const m = /berth listening on (\S+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', (b: Buffer) => (out += b.toString()));
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`berth serve exited with ${code}:\n${out}`));
    });
  });
  return {
    url,
    hostPort: url.replace(/^https?:\/\//, ''),
    data,
    child,
    output: () => out,
    stop: async (signal: NodeJS.Signals = 'SIGTERM') => {
      // (a process killed by a signal has no exit code, but its signal code)
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill(signal);
        await exited;
      }
      // a data folder made here goes with its store (a test's own stays, with its bucket, for the next server)
      if (!opts.data) {
        rmSync(data, { recursive: true, force: true });
        await releaseDataStore(data);
      }
      // the database made here goes too (SQLite file's temp dir, or the PostgreSQL schema)
      if (!opts.database) await removeTestDatabase(database);
    },
  };
}

const exec = promisify(execFile);

/** Runs a command; resolves with stdout, rejects with its stderr in the message. */
export async function run(
  cmd: string,
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; encoding?: 'buffer' } = {},
): Promise<string | Buffer> {
  try {
    const r = await exec(cmd, args, {
      maxBuffer: 64 * 1024 * 1024,
      env: opts.env ?? process.env,
      encoding: opts.encoding ?? 'utf8',
    });
    return r.stdout;
  } catch (e) {
    const err = e as { stderr?: string; stdout?: string; code?: number };
    throw new Error(`${cmd} ${args.join(' ')} failed (${err.code}): ${err.stderr ?? ''}${err.stdout ?? ''}`);
  }
}

const CREDENTIAL_FLAGS = [
  '--creds',
  '--src-creds',
  '--dest-creds',
  '--no-creds',
  '--src-no-creds',
  '--dest-no-creds',
  '--authfile',
  '--src-authfile',
  '--dest-authfile',
];

/**
 * The administrator's credentials for the registry side(s) of a skopeo command, unless it names its own
 * (or --no-creds, or an --authfile): `copy` gets --src-creds/--dest-creds for each docker:// side, other commands --creds.
 */
export function withCredentials(args: string[]): string[] {
  if (args.some((a) => CREDENTIAL_FLAGS.some((f) => a === f || a.startsWith(`${f}=`)))) return args;
  const creds = `${ADMIN.user}:${ADMIN.password}`;
  const [command, ...rest] = args;
  const refs = rest.filter((a) => !a.startsWith('-'));
  if (command === 'copy') {
    const extra: string[] = [];
    if (refs.at(-2)?.startsWith('docker://')) extra.push('--src-creds', creds);
    if (refs.at(-1)?.startsWith('docker://')) extra.push('--dest-creds', creds);
    return [command, ...extra, ...rest];
  }
  if (refs.some((r) => r.startsWith('docker://'))) return [command!, '--creds', creds, ...rest];
  return args;
}

export const skopeo = async (...args: string[]): Promise<string> =>
  (await run('skopeo', withCredentials(args))) as string;
