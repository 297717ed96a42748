// A tiny registry on loopback that serves blobs only, as told: right bytes, wrong bytes, or held half-way; it counts GETs.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export type BlobMode = 'ok' | 'wrong' | 'hold';

export interface BlobServer {
  url: string;
  /** the bytes served under each `<repository>/<digest>` */
  blobs: Map<string, Buffer>;
  /** how each blob is served (default 'ok'): 'wrong' flips its last byte, 'hold' sends half and waits for release() */
  mode: BlobMode;
  /** GET requests of blobs, by `<repository>/<digest>` */
  gets: Map<string, number>;
  /** resolves once `n` blob GETs are being held (mode 'hold') */
  holding(n: number): Promise<void>;
  /** sends the rest of every held response */
  release(): void;
  close(): Promise<void>;
}

export async function startBlobServer(): Promise<BlobServer> {
  const held: (() => void)[] = [];
  let waiting: { n: number; resolve: () => void }[] = [];
  const self: BlobServer = {
    url: '',
    blobs: new Map(),
    mode: 'ok',
    gets: new Map(),
    holding: (n) =>
      new Promise((resolve) => {
        if (held.length >= n) resolve();
        else waiting.push({ n, resolve });
      }),
    release: () => held.splice(0).forEach((go) => go()),
    close: () =>
      new Promise((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
  const server: Server = createServer((req, res) => {
    const m = /^\/v2\/(.+)\/blobs\/(sha256:[a-f0-9]{64})$/.exec(req.url ?? '');
    if (req.url === '/v2/' || req.url === '/v2') return void res.writeHead(200).end('{}');
    const key = m ? `${m[1]}/${m[2]}` : '';
    const bytes = self.blobs.get(key);
    if (!m || !bytes) return void res.writeHead(404, { 'content-type': 'application/json' }).end('{}');
    if (req.method === 'GET') self.gets.set(key, (self.gets.get(key) ?? 0) + 1);
    const body = Buffer.from(bytes);
    if (self.mode === 'wrong') body[body.length - 1] = body[body.length - 1]! ^ 0xff;
    res.writeHead(200, {
      'content-type': 'application/octet-stream',
      'content-length': body.length,
      'docker-content-digest': m[2],
    });
    if (req.method === 'HEAD') return void res.end();
    if (self.mode !== 'hold') return void res.end(body);
    const half = Math.floor(body.length / 2);
    res.write(body.subarray(0, half));
    held.push(() => res.end(body.subarray(half)));
    waiting = waiting.filter((w) => (held.length >= w.n ? (w.resolve(), false) : true));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  self.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return self;
}
