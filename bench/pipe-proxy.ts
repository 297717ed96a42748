// The cache bench's floor: a bare Node.js HTTP hop in front of Distribution (`pipe`), or one that also hashes every
// blob byte with sha256 and writes it to a file (`hash-store`, what any caching hop must do), run as its own process.
//
//   node dist-bench/bench/pipe-proxy.js UPSTREAM_URL pipe|hash-store DIR     prints "listening PORT"
import { spawn } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { Agent, createServer, request } from 'node:http';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

function serve(upstream: URL, mode: 'pipe' | 'hash-store', dir: string): void {
  const agent = new Agent({ keepAlive: true, maxSockets: 16 });
  const server = createServer((req, res) => {
    const up = request(
      {
        host: upstream.hostname,
        port: upstream.port,
        path: req.url,
        method: req.method,
        headers: req.headers,
        agent,
      },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        const blob = mode === 'hash-store' && req.method === 'GET' && /\/blobs\/sha256:/.test(req.url ?? '');
        if (!blob) return void answer.pipe(res);
        const hash = createHash('sha256');
        const file = join(dir, randomUUID());
        const sink = createWriteStream(file, { highWaterMark: 1024 * 1024 });
        answer.on('data', (chunk: Buffer) => {
          hash.update(chunk);
          sink.write(chunk);
          if (!res.write(chunk)) {
            answer.pause();
            res.once('drain', () => answer.resume());
          }
        });
        answer.on('end', () => {
          hash.digest('hex');
          sink.end(() => void rm(file, { force: true }).then(() => res.end()));
        });
      },
    );
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  server.listen(0, '127.0.0.1', () => {
    const a = server.address();
    console.log(`listening ${typeof a === 'object' && a ? a.port : 0}`);
  });
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const [url, mode, dir] = process.argv.slice(2);
  if (!url || (mode !== 'pipe' && mode !== 'hash-store') || !dir) {
    console.error('usage: pipe-proxy.js UPSTREAM_URL pipe|hash-store DIR');
    process.exit(2);
  }
  serve(new URL(url), mode, dir);
}

/** Starts the hop as a child process in front of `upstream`; resolves with its URL and a stop function. */
export async function startPipeProxy(
  upstream: string,
  mode: 'pipe' | 'hash-store',
  dir: string,
): Promise<{ url: string; stop(): Promise<void> }> {
  const child = spawn(process.execPath, [fileURLToPath(import.meta.url), upstream, mode, dir], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (b: Buffer) => {
      out += b.toString();
      const m = /listening (\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    child.once('exit', (code) => reject(new Error(`pipe-proxy exited with ${code}`)));
  });
  return {
    url: `http://127.0.0.1:${port}`,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise<void>((r) => child.once('exit', () => r()));
      child.kill('SIGTERM');
      await exited;
    },
  };
}
