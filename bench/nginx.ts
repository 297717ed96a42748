// nginx in front of berth processes for the scale group: round robin, bodies streamed both ways, its
// configuration and logs in the bench's scratch folder (the deployment of docs/deploy.md, minus TLS).
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort } from './servers.js';

/** The nginx binary: BERTH_BENCH_NGINX, else on PATH, else Debian's /usr/sbin/nginx; undefined when absent. */
export function nginxBinary(): string | undefined {
  if (process.env.BERTH_BENCH_NGINX) return process.env.BERTH_BENCH_NGINX;
  for (const dir of (process.env.PATH ?? '').split(':')) {
    if (dir && existsSync(join(dir, 'nginx'))) return join(dir, 'nginx');
  }
  return existsSync('/usr/sbin/nginx') ? '/usr/sbin/nginx' : undefined;
}

function config(listen: string, upstreams: string[], dir: string): string {
  return `${process.getuid?.() === 0 ? 'user root;\n' : ''}daemon off;
worker_processes auto;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events {
  worker_connections 4096;
}
http {
  client_body_temp_path ${dir}/client_body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  access_log off;
  upstream berth {
${upstreams.map((u) => `    server ${u};`).join('\n')}
    keepalive 64;
  }
  server {
    listen ${listen};
    client_max_body_size 0;
    proxy_request_buffering off;
    proxy_buffering off;
    proxy_http_version 1.1;
    proxy_set_header Connection "";
    proxy_set_header Host $http_host;
    proxy_set_header X-Forwarded-For $remote_addr;
    proxy_set_header X-Forwarded-Proto $scheme;
    proxy_read_timeout 300s;
    proxy_send_timeout 300s;
    location / {
      proxy_pass http://berth;
    }
  }
}
`;
}

const live = new Set<ChildProcess>();
/** Kills every nginx still running (the bench failed or was stopped half-way). */
export function killNginx(): void {
  for (const c of live) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
}

export interface Nginx {
  url: string;
  child: ChildProcess;
  stop(): Promise<void>;
}

/** Starts nginx over `upstreams` (HOST:PORT each) with its files in `dir`; resolves once it proxies /v2/. */
export async function startNginx(bin: string, dir: string, upstreams: string[]): Promise<Nginx> {
  mkdirSync(dir, { recursive: true });
  const listen = `127.0.0.1:${await freePort()}`;
  const conf = join(dir, 'nginx.conf');
  writeFileSync(conf, config(listen, upstreams, dir));
  const errorLog = join(dir, 'error.log');
  // -e: the error log from the start (else nginx first opens /var/log/nginx/error.log, not writable by users)
  const child = spawn(bin, ['-p', dir, '-c', conf, '-e', errorLog], { stdio: ['ignore', 'pipe', 'pipe'] });
  live.add(child);
  child.once('exit', () => live.delete(child));
  let out = '';
  child.stdout!.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr!.on('data', (b: Buffer) => (out += b.toString()));
  const url = `http://${listen}`;
  const log = () => `${out}${existsSync(errorLog) ? readFileSync(errorLog, 'utf8') : ''}`;
  for (let i = 0; ; i++) {
    if (child.exitCode !== null) throw new Error(`nginx exited with ${child.exitCode}:\n${log()}`);
    const ok = await fetch(`${url}/v2/`).then(
      (r) => r.status === 200 || r.status === 401,
      () => false,
    );
    if (ok) break;
    if (i > 100) {
      child.kill('SIGKILL');
      throw new Error(`nginx did not answer in 10 s:\n${log()}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url,
    child,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    },
  };
}
