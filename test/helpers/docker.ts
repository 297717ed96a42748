// A private Docker engine for one test file: dockerd (Debian's docker.io) on vfs, no networking, everything in a temp dir.
//
// The engine is started as `dockerd --iptables=false --ip6tables=false --bridge=none --storage-driver=vfs` with its
// own data-root, exec-root, pidfile and unix socket (and so its own managed containerd, whose state lives under the
// exec-root); nothing of the machine's Docker is used or touched (dockerd 20.10 only creates the empty plugin
// discovery folder /run/docker/plugins, a fixed path). The client runs with DOCKER_HOST on that socket and
// a DOCKER_CONFIG of its own, so logins never leak between tests or into ~/.docker. Running dockerd needs root.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { hasCommand } from './backend.js';

/** Debian's client (/usr/bin/docker, from docker.io beside the engine) before any other `docker` on PATH. */
export const DOCKER_CLI = existsSync('/usr/bin/docker') ? '/usr/bin/docker' : 'docker';
const DOCKERD = hasCommand('dockerd') ? 'dockerd' : '/usr/sbin/dockerd';

/** Why a private Docker engine cannot run here, or undefined when it can. */
export function dockerUnavailable(): string | undefined {
  if (!hasCommand(DOCKER_CLI) && !existsSync(DOCKER_CLI))
    return 'docker is not installed (apt-get install docker.io)';
  if (!hasCommand('dockerd') && !existsSync(DOCKERD))
    return 'dockerd is not installed (apt-get install docker.io)';
  if (process.getuid?.() !== 0) return 'dockerd needs root: run the tests as root';
  return undefined;
}

export interface DockerResult {
  code: number;
  out: string;
  err: string;
}

export interface DockerEngine {
  /** the temp dir holding everything: data-root, exec-root, pidfile, socket, client config, the engine's log */
  dir: string;
  /** the client's DOCKER_CONFIG */
  config: string;
  /** `docker ARGS` against this engine; resolves with its exit code and output (`input`: its standard input, piped) */
  docker(args: string[], input?: string | Readable): Promise<DockerResult>;
  /** `docker ARGS`, rejecting (with its output) unless it exits 0; resolves with stdout */
  ok(...args: string[]): Promise<string>;
  /** what dockerd wrote so far */
  log(): string;
  /** stops dockerd (and its containerd), then removes the temp dir */
  stop(): Promise<void>;
}

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** Resolves when `child` has exited, or after `ms` (true when it exited). */
const exited = (child: ChildProcess, ms: number): Promise<boolean> =>
  child.exitCode !== null || child.signalCode !== null
    ? Promise.resolve(true)
    : new Promise((resolve) => {
        const timer = setTimeout(() => resolve(false), ms);
        child.once('exit', () => {
          clearTimeout(timer);
          resolve(true);
        });
      });

/** GET /_ping on the engine's socket: true when it answers 200. */
const ping = (socket: string): Promise<boolean> =>
  new Promise((resolve) => {
    const req = request({ socketPath: socket, path: '/_ping', timeout: 2000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('error', () => resolve(false));
    req.on('timeout', () => req.destroy());
    req.end();
  });

/** Starts a private engine and waits (up to 60 s) until it answers on its socket. */
export async function startDockerEngine(label = 'docker'): Promise<DockerEngine> {
  // a short path: the socket's path must fit in sun_path (108 bytes), containerd's too
  const dir = mkdtempSync(join(tmpdir(), `${label}-`));
  const config = join(dir, 'config');
  mkdirSync(config);
  const socket = join(dir, 'docker.sock');
  const execRoot = join(dir, 'exec');
  // its own daemon.json, so that a machine's /etc/docker/daemon.json cannot conflict with these flags; it moves the
  // engine's identity key (by default /etc/docker/key.json) into the temp dir too
  const configFile = join(dir, 'daemon.json');
  writeFileSync(configFile, `${JSON.stringify({ 'deprecated-key-path': join(dir, 'key.json') })}\n`);
  const child = spawn(
    DOCKERD,
    [
      '--iptables=false',
      '--ip6tables=false',
      '--bridge=none',
      '--storage-driver=vfs',
      '--config-file',
      configFile,
      '--data-root',
      join(dir, 'data'),
      '--exec-root',
      execRoot,
      '--pidfile',
      join(dir, 'docker.pid'),
      '-H',
      `unix://${socket}`,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let log = '';
  child.stdout!.on('data', (b: Buffer) => (log += b.toString()));
  child.stderr!.on('data', (b: Buffer) => (log += b.toString()));
  child.on('error', (e) => (log += `spawn failed: ${e.message}\n`));
  const env = { ...process.env, DOCKER_HOST: `unix://${socket}`, DOCKER_CONFIG: config };

  const docker = (args: string[], input?: string | Readable): Promise<DockerResult> =>
    new Promise((resolve, reject) => {
      const p = spawn(DOCKER_CLI, args, { env, stdio: ['pipe', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      p.stdout.on('data', (b: Buffer) => (out += b.toString()));
      p.stderr.on('data', (b: Buffer) => (err += b.toString()));
      p.on('error', reject);
      p.on('close', (code) => resolve({ code: code ?? -1, out, err }));
      // (a client that exits before reading all its input fails by its exit code, not by EPIPE here)
      p.stdin.on('error', () => {});
      if (typeof input === 'object') input.pipe(p.stdin);
      else p.stdin.end(input ?? '');
    });

  const stop = async (): Promise<void> => {
    // dockerd stops its managed containerd on SIGTERM; if it has to be killed, that containerd is ended by its pid
    const containerdPid = (): number | undefined => {
      try {
        return (
          Number(readFileSync(join(execRoot, 'containerd', 'containerd.pid'), 'utf8').trim()) || undefined
        );
      } catch {
        return undefined;
      }
    };
    const sub = containerdPid();
    if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      if (!(await exited(child, 30_000))) {
        child.kill('SIGKILL');
        await exited(child, 10_000);
      }
    }
    if (sub !== undefined && alive(sub)) {
      process.kill(sub, 'SIGKILL');
      for (let i = 0; i < 100 && alive(sub); i++) await new Promise((r) => setTimeout(r, 50));
    }
    rmSync(dir, { recursive: true, force: true });
  };

  const deadline = Date.now() + 60_000;
  while (!(await ping(socket))) {
    if (child.exitCode !== null || child.signalCode !== null || Date.now() > deadline) {
      await stop();
      throw new Error(`dockerd did not start (exit ${child.exitCode ?? child.signalCode}):\n${log}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }

  return {
    dir,
    config,
    docker,
    ok: async (...args) => {
      const r = await docker(args);
      if (r.code !== 0) throw new Error(`docker ${args.join(' ')} failed (${r.code}): ${r.err}${r.out}`);
      return r.out;
    },
    log: () => log,
    stop,
  };
}
