// A loopback HTTP proxy in front of an upstream registry that counts requests by method and kind, and lets a test answer some itself.
import { createServer, request, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** What a request was for: tags/list, a manifest, a blob, the /v2/ ping, a token, or anything else. */
export function kindOf(path: string): 'tags' | 'manifest' | 'blob' | 'ping' | 'other' {
  if (/\/tags\/list(\?|$)/.test(path)) return 'tags';
  if (/\/manifests\//.test(path)) return 'manifest';
  if (/\/blobs\/sha/.test(path)) return 'blob';
  if (/^\/v2\/?(\?|$)/.test(path)) return 'ping';
  return 'other';
}

export interface CountingProxy {
  url: string;
  /** requests seen, e.g. "GET tags", "HEAD manifest", "GET blob", and by upstream's status, e.g. "GET tags 401" */
  counts: Map<string, number>;
  /** the paths of the requests seen, in order, as "METHOD path" */
  log: string[];
  count(key: string): number;
  /** requests of `key` upstream answered with anything but a 401 challenge (an auth flow's first try) */
  served(key: string): number;
  reset(): void;
  /** answers a request itself when it returns true (after counting it) */
  intercept?: (req: IncomingMessage, res: ServerResponse) => boolean;
  close(): Promise<void>;
}

export async function startCountingProxy(target: string): Promise<CountingProxy> {
  const to = new URL(target);
  const proxy: CountingProxy = {
    url: '',
    counts: new Map(),
    log: [],
    count: (key) => proxy.counts.get(key) ?? 0,
    served: (key) => proxy.count(key) - proxy.count(`${key} 401`),
    reset: () => {
      proxy.counts.clear();
      proxy.log.length = 0;
    },
    close: () => new Promise((r) => server.close(() => r())),
  };
  const server = createServer((req, res) => {
    const path = req.url ?? '/';
    const key = `${req.method} ${kindOf(path)}`;
    proxy.counts.set(key, proxy.count(key) + 1);
    proxy.log.push(`${req.method} ${path}`);
    if (proxy.intercept?.(req, res)) return;
    const headers = { ...req.headers, host: to.host };
    const up = request({ host: to.hostname, port: to.port, method: req.method, path, headers }, (answer) => {
      const byStatus = `${key} ${answer.statusCode}`;
      proxy.counts.set(byStatus, proxy.count(byStatus) + 1);
      // a redirect to the upstream itself stays behind the proxy
      const location = answer.headers.location;
      if (location?.startsWith(target)) answer.headers.location = location.replace(target, proxy.url);
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  server.keepAliveTimeout = 1000;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  proxy.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const close = proxy.close;
  proxy.close = async () => {
    server.closeAllConnections();
    await close();
  };
  return proxy;
}
