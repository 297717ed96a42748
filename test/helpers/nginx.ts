// nginx in front of berth processes for the tests: its configuration (shown in docs/deploy.md), and starting it.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { hasCommand } from './backend.js';

/** The nginx binary: on PATH, else Debian's /usr/sbin/nginx (not on a normal user's PATH); null when absent. */
export function nginxBinary(): string | null {
  if (hasCommand('nginx')) return 'nginx';
  return existsSync('/usr/sbin/nginx') ? '/usr/sbin/nginx' : null;
}

export interface NginxConfigOptions {
  /** HOST:PORT nginx listens on */
  listen: string;
  /** HOST:PORT of every berth process */
  upstreams: string[];
  /** folder of the pid file, the logs and nginx's temporary files */
  dir: string;
  /** the `user` directive, for a master running as root (workers would otherwise be nobody) */
  user?: string;
}

/** The configuration: round robin over the berth processes, bodies streamed both ways, no size limit. */
export function nginxConfig(o: NginxConfigOptions): string {
  const servers = o.upstreams.map((u) => `    server ${u} max_fails=1 fail_timeout=5s;`).join('\n');
  return `${o.user ? `user ${o.user};\n` : ''}daemon off;
worker_processes 1;
pid ${o.dir}/nginx.pid;
error_log ${o.dir}/error.log warn;

events {
  worker_connections 1024;
}

http {
  # where nginx would spool bodies; with buffering off below, it does not
  client_body_temp_path ${o.dir}/client_body;
  proxy_temp_path ${o.dir}/proxy;
  fastcgi_temp_path ${o.dir}/fastcgi;
  uwsgi_temp_path ${o.dir}/uwsgi;
  scgi_temp_path ${o.dir}/scgi;
  log_format upstream '$remote_addr [$time_local] "$request" $status $body_bytes_sent $request_time '
                      'upstream=$upstream_addr upstream_status=$upstream_status';
  access_log ${o.dir}/access.log upstream;

  upstream berth {
    # round robin; a process that fails is left out for 5 s, then tried again
${servers}
    keepalive 32;
  }

  server {
    listen ${o.listen};

    # layers and archives: no size limit, streamed through as they come (never spooled to disk first)
    client_max_body_size 0;
    proxy_request_buffering off;
    proxy_buffering off;
    proxy_http_version 1.1;
    proxy_set_header Connection "";
    proxy_set_header Host $http_host;
    # the client's address as nginx saw it, replacing any X-Forwarded-For the client sent (berth trusts the
    # header from nginx's address only: --trust-proxy); X-Forwarded-Host as the client sent it is dropped
    proxy_set_header X-Forwarded-For $remote_addr;
    proxy_set_header X-Forwarded-Host "";
    proxy_set_header X-Forwarded-Proto $scheme;

    # time between two reads or writes, not for a whole request: a large layer may take long
    proxy_connect_timeout 5s;
    proxy_send_timeout 300s;
    proxy_read_timeout 300s;
    client_body_timeout 300s;
    send_timeout 300s;

    # a request that could not reach a process (or timed out) goes to the next one; nginx never passes on a
    # POST or PATCH that reached a process, nor a request whose body it has begun to stream: clients retry those
    proxy_next_upstream error timeout;
    proxy_next_upstream_tries 3;

    location / {
      proxy_pass http://berth;
    }
  }
}
`;
}

/** A free TCP port on 127.0.0.1 (free when asked: nginx binds it right after). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      s.close(() => resolve(port));
    });
  });
}

export interface Nginx {
  url: string;
  hostPort: string;
  child: ChildProcess;
  /** the access log so far: one line per request, with the upstream(s) that took it */
  accessLog(): string;
  stop(): Promise<void>;
}

/** Starts nginx (not as a daemon) with the configuration above in `dir`; resolves once it proxies /healthz. */
export async function startNginx(bin: string, dir: string, upstreams: string[]): Promise<Nginx> {
  mkdirSync(dir, { recursive: true });
  const port = await freePort();
  const listen = `127.0.0.1:${port}`;
  const user = process.getuid?.() === 0 ? 'root' : undefined;
  const conf = join(dir, 'nginx.conf');
  writeFileSync(conf, nginxConfig({ listen, upstreams, dir, user }));
  const errorLog = join(dir, 'error.log');
  // -e: the error log from the start (else nginx first opens /var/log/nginx/error.log, not writable by users)
  const child = spawn(bin, ['-p', dir, '-c', conf, '-e', errorLog], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr!.on('data', (b: Buffer) => (out += b.toString()));
  const url = `http://${listen}`;
  const log = () => `${out}${existsSync(errorLog) ? readFileSync(errorLog, 'utf8') : ''}`;
  for (let i = 0; ; i++) {
    if (child.exitCode !== null) throw new Error(`nginx exited with ${child.exitCode}:\n${log()}`);
    const ok = await fetch(`${url}/healthz`).then(
      (r) => r.status === 200,
      () => false,
    );
    if (ok) break;
    if (i > 100) throw new Error(`nginx did not answer in 10 s:\n${log()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url,
    hostPort: listen,
    child,
    accessLog: () => {
      const f = join(dir, 'access.log');
      return existsSync(f) ? readFileSync(f, 'utf8') : '';
    },
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    },
  };
}
