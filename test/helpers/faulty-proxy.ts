// An HTTP proxy in front of a real upstream that counts requests and injects faults: 429/503, redirects, cut or wrong bytes, failing tag pages.
import http from 'node:http';
import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';

/** What the proxy does to a request a rule matches. */
export type Fault =
  /** answer this status (with these headers) without asking upstream */
  | { kind: 'status'; status: number; headers?: Record<string, string>; body?: string }
  /** answer 307 to the same path on the proxy's second port (another "host"), as a presigned URL would */
  | { kind: 'redirect' }
  /** forward, but cut the connection after `bytes` bytes of the body (the headers promise more) */
  | { kind: 'truncate'; bytes: number }
  /** forward, with the body's first byte changed (same length: only the digest tells) */
  | { kind: 'corrupt' }
  /** forward, adding these headers to the answer */
  | { kind: 'headers'; headers: Record<string, string> }
  /** forward without the client's Authorization (upstream answers its own 401 and challenge) */
  | { kind: 'drop-auth' }
  /** hold the request until release() */
  | { kind: 'hold' };

interface Rule {
  method?: string;
  path: RegExp;
  fault: Fault;
  remaining: number;
}

export interface ProxiedRequest {
  method: string;
  /** path and query */
  url: string;
  /** the Authorization header the client sent, if any */
  authorization?: string;
  /** served on the second port (after a redirect) */
  redirected: boolean;
}

export interface TagPaging {
  /** tags per page at most (the client's `n` may ask for fewer) */
  pageSize: number;
  /** answer this page (1-based) with `failStatus` */
  failPage?: number;
  failStatus?: number;
}

/** A proxy in front of `upstream` (a base URL): forwards every request, unless a rule says otherwise. */
export class FaultyProxy {
  readonly requests: ProxiedRequest[] = [];
  private rules: Rule[] = [];
  private held: (() => void)[] = [];
  private inFlightNow = 0;
  /** the most requests being answered at once so far */
  maxInFlight = 0;
  /** when set, tags/list is answered in pages by the proxy (upstream's list cut up, with Link headers) */
  tagPaging: TagPaging | undefined;
  /** Authorization headers of redirected requests, kept by the "presigned" id in their URL */
  private readonly signed = new Map<string, string | undefined>();

  private constructor(
    readonly upstream: URL,
    private readonly main: http.Server,
    private readonly other: http.Server,
  ) {}

  static async start(upstream: string): Promise<FaultyProxy> {
    const servers = [http.createServer(), http.createServer()] as const;
    const proxy = new FaultyProxy(new URL(upstream), servers[0], servers[1]);
    servers[0].on('request', (req, res) => proxy.handle(req, res, false));
    servers[1].on('request', (req, res) => proxy.handle(req, res, true));
    for (const s of servers) await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    return proxy;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.main.address() as AddressInfo).port}`;
  }

  get hostPort(): string {
    return this.url.replace('http://', '');
  }

  /** The base URL of the second port, the "other host" redirects lead to. */
  get otherUrl(): string {
    return `http://127.0.0.1:${(this.other.address() as AddressInfo).port}`;
  }

  /** Applies `fault` to the next `times` requests whose path (without query) matches (and method, if given). */
  inject(match: { method?: string; path: RegExp }, fault: Fault, times = 1): this {
    this.rules.push({ ...match, fault, remaining: times });
    return this;
  }

  /** Forgets the rules, the counts and the paging. */
  reset(): void {
    this.rules = [];
    this.requests.length = 0;
    this.maxInFlight = 0;
    this.tagPaging = undefined;
  }

  /** How many requests came with this method (and a path matching `path`), on either port. */
  count(method: string, path?: RegExp): number {
    return this.requests.filter((r) => r.method === method && (!path || path.test(r.url.split('?')[0]!)))
      .length;
  }

  /** How many requests are held now; release() lets the oldest go (all: releaseAll()). */
  get holding(): number {
    return this.held.length;
  }

  release(): void {
    this.held.shift()?.();
  }

  releaseAll(): void {
    while (this.held.length > 0) this.release();
  }

  async stop(): Promise<void> {
    this.releaseAll();
    for (const s of [this.main, this.other]) {
      s.closeAllConnections();
      await new Promise((r) => s.close(r));
    }
  }

  private take(method: string, path: string): Fault | undefined {
    const rule = this.rules.find(
      (r) => r.remaining > 0 && (!r.method || r.method === method) && r.path.test(path),
    );
    if (!rule) return undefined;
    rule.remaining--;
    return rule.fault;
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse, redirected: boolean) {
    const method = req.method ?? 'GET';
    const url = req.url ?? '/';
    const path = url.split('?')[0]!;
    this.requests.push({ method, url, authorization: req.headers.authorization, redirected });
    this.inFlightNow++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlightNow);
    res.once('close', () => this.inFlightNow--);
    let authorization = req.headers.authorization;
    if (redirected) {
      // a "presigned" URL: the credentials of the original request ride on its id, not on a header
      const sig = new URL(url, 'http://x').searchParams.get('sig') ?? '';
      authorization = this.signed.get(sig);
    }
    const fault = redirected ? undefined : this.take(method, path);
    if (fault?.kind === 'hold') await new Promise<void>((r) => this.held.push(r));
    if (fault?.kind === 'status') {
      const body = Buffer.from(
        fault.body ?? JSON.stringify({ errors: [{ code: 'INJECTED', message: `injected ${fault.status}` }] }),
      );
      const headers: http.OutgoingHttpHeaders = { 'content-type': 'application/json', ...fault.headers };
      // sent with its length, unless the rule asks for chunks
      if (headers['transfer-encoding'] === undefined) headers['content-length'] = body.length;
      res.writeHead(fault.status, headers);
      res.end(method === 'HEAD' ? undefined : body);
      return;
    }
    if (fault?.kind === 'redirect') {
      const sig = randomUUID();
      this.signed.set(sig, authorization);
      const target = new URL(url, this.otherUrl);
      target.searchParams.set('sig', sig);
      res.writeHead(307, { location: target.href, 'content-length': '0' });
      res.end();
      return;
    }
    if (fault?.kind === 'drop-auth') authorization = undefined;
    const paging = !redirected && method === 'GET' && /\/tags\/list$/.test(path) ? this.tagPaging : undefined;
    if (paging) return this.pageTags(url, authorization, paging, res);
    const forwardedUrl = redirected ? stripSig(url) : url;
    const headers = { ...req.headers, host: this.upstream.host };
    delete headers.authorization;
    if (authorization !== undefined) headers.authorization = authorization;
    const up = http.request(new URL(forwardedUrl, this.upstream), { method, headers }, (upRes) => {
      const out = { ...upRes.headers, ...(fault?.kind === 'headers' ? fault.headers : {}) };
      res.writeHead(upRes.statusCode ?? 502, out);
      let sent = 0;
      let first = true;
      upRes.on('data', (chunk: Buffer) => {
        if (fault?.kind === 'corrupt' && first && chunk.length > 0) {
          chunk = Buffer.from(chunk);
          chunk[0] = chunk[0]! ^ 0xff;
        }
        first = false;
        if (fault?.kind === 'truncate' && sent + chunk.length >= fault.bytes) {
          if (sent > fault.bytes) return;
          upRes.destroy();
          // the client gets the bytes up to the cut, then sees the connection go before the body it was promised
          res.write(chunk.subarray(0, fault.bytes - sent), () => res.socket?.destroy());
          sent = fault.bytes + 1;
          return;
        }
        sent += chunk.length;
        res.write(chunk);
      });
      upRes.on('end', () => res.end());
    });
    up.on('error', () => res.socket?.destroy());
    req.pipe(up);
  }

  /** Answers a tags/list page cut from upstream's whole list, with a Link to the next page. */
  private pageTags(
    url: string,
    authorization: string | undefined,
    paging: TagPaging,
    res: http.ServerResponse,
  ) {
    const u = new URL(url, 'http://x');
    const last = u.searchParams.get('last');
    const n = Math.min(
      paging.pageSize,
      Number(u.searchParams.get('n') ?? paging.pageSize) || paging.pageSize,
    );
    const page = Number(u.searchParams.get('page') ?? '1');
    if (paging.failPage === page) {
      res.writeHead(paging.failStatus ?? 500, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({ errors: [{ code: 'INJECTED', message: `injected failure of page ${page}` }] }),
      );
      return;
    }
    const headers: http.OutgoingHttpHeaders = { host: this.upstream.host };
    if (authorization !== undefined) headers.authorization = authorization;
    http
      .get(new URL(u.pathname, this.upstream), { headers }, (upRes) => {
        const chunks: Buffer[] = [];
        upRes.on('data', (c: Buffer) => chunks.push(c));
        upRes.on('end', () => {
          if (upRes.statusCode !== 200) {
            res.writeHead(upRes.statusCode ?? 502, upRes.headers);
            res.end(Buffer.concat(chunks));
            return;
          }
          const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { name: string; tags: string[] };
          const all = [...(body.tags ?? [])].sort();
          const from = last === null ? 0 : all.findIndex((t) => t > last);
          const tags = from < 0 ? [] : all.slice(from, from + n);
          const out: http.OutgoingHttpHeaders = { 'content-type': 'application/json' };
          if (from >= 0 && from + n < all.length) {
            const next = new URLSearchParams({
              n: String(n),
              last: tags[tags.length - 1]!,
              page: String(page + 1),
            });
            out.link = `<${u.pathname}?${next}>; rel="next"`;
          }
          res.writeHead(200, out);
          res.end(JSON.stringify({ name: body.name, tags }));
        });
      })
      .on('error', () => res.socket?.destroy());
  }
}

const stripSig = (url: string): string => {
  const u = new URL(url, 'http://x');
  u.searchParams.delete('sig');
  return `${u.pathname}${u.search}`;
};
