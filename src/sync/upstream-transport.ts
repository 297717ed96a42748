// The Upstream client's transport: requests with a remote's manners, credentials and redirects, counted in its stats.
import http from 'node:http';
import https from 'node:https';
import { rootCertificates } from 'node:tls';
import { realClock } from '../gc/clock.js';
import {
  backoffMs,
  DEFAULT_BACKOFF,
  mannersFor,
  parseRateLimitRemaining,
  retryAfterMs,
  sleepOn,
} from './manners.js';
import type { RemoteConnection } from './remote.js';
import { authStateFor, UpstreamAuth } from './upstream-auth.js';
import type { UpstreamStats } from './upstream.js';
import type { UpstreamOptions } from './upstream-http.js';
import {
  header,
  MAX_JSON_BYTES,
  MAX_REDIRECTS,
  parseJsonOr,
  readBody,
  REDIRECTS,
  requestFailed,
  registryBase,
  snippet,
  upstreamError,
  type Answer,
} from './upstream-wire.js';

/** How the operations of the client reach upstream. */
export interface Transport {
  /**
   * A registry request with the remote's manners: a concurrency slot and a bucket token per attempt, credentials
   * for `scope` (a new token on 401), retries of 429 and 503 with backoff. Answers 2xx and 404 (the slot goes back
   * when the body is read or dropped); throws for the rest.
   */
  exchange(method: string, url: URL, scope: string, headers?: http.OutgoingHttpHeaders): Promise<Answer>;
  /** the URL of a registry path (`/v2/…`) */
  urlOf(path: string): URL;
  readonly rateLimitRemaining: number | undefined;
}

/** The transport of one client: its agents, credentials and counters. */
export function createTransport(
  conn: RemoteConnection,
  opts: UpstreamOptions,
  stats: UpstreamStats,
): Transport {
  const clock = opts.clock ?? realClock;
  const sleep = opts.sleep ?? sleepOn(clock);
  const backoff = { ...DEFAULT_BACKOFF, ...opts.backoff };
  const manners = opts.manners ?? mannersFor(conn, clock, sleep);
  const base = registryBase(conn.url);
  const idleTimeoutMs = opts.idleTimeoutMs ?? 60_000;
  const remote = conn.name;
  let rateLimitRemaining: number | undefined;

  const tlsOptions = { rejectUnauthorized: conn.tlsVerify };
  const registryAgent =
    base.protocol === 'https:'
      ? new https.Agent({ keepAlive: true, ...tlsOptions, ...(conn.caPem ? { ca: conn.caPem } : {}) })
      : new http.Agent({ keepAlive: true });
  // other hosts (presigned blob URLs): the system's CAs and the remote's
  const otherHttps = new https.Agent({
    keepAlive: true,
    ...tlsOptions,
    ...(conn.caPem ? { ca: [...rootCertificates, conn.caPem] } : {}),
  });
  const otherHttp = new http.Agent({ keepAlive: true });

  const agentFor = (u: URL): http.Agent =>
    u.origin === base.origin ? registryAgent : u.protocol === 'https:' ? otherHttps : otherHttp;

  /** One HTTP request, no retries, no redirects. */
  function send(method: string, url: URL, headers: http.OutgoingHttpHeaders): Promise<http.IncomingMessage> {
    return new Promise((resolve, reject) => {
      const lib = url.protocol === 'https:' ? https : http;
      const req = lib.request(url, { method, headers, agent: agentFor(url) }, (res) => {
        res.setTimeout(idleTimeoutMs, () => res.destroy(new Error(`no data for ${idleTimeoutMs} ms`)));
        resolve(res);
      });
      req.setTimeout(idleTimeoutMs, () => req.destroy(new Error(`no answer in ${idleTimeoutMs} ms`)));
      req.once('error', (e) => reject(requestFailed(remote, `${method} ${url.origin}${url.pathname}`, e)));
      req.end();
    });
  }

  function noteRateLimit(res: http.IncomingMessage): void {
    const remaining = parseRateLimitRemaining(res.headers['ratelimit-remaining']);
    if (remaining === undefined) return;
    rateLimitRemaining = remaining;
    opts.onRateLimit?.(remaining);
  }

  /** A request and its redirects; Authorization goes only to the registry's own origin. */
  async function sendFollowing(
    method: string,
    url: URL,
    headers: http.OutgoingHttpHeaders,
    authorization: string | undefined,
  ): Promise<http.IncomingMessage> {
    let target = url;
    for (let hop = 0; ; hop++) {
      const h = { ...headers };
      if (authorization !== undefined && target.origin === base.origin) h.authorization = authorization;
      stats.requests[method] = (stats.requests[method] ?? 0) + 1;
      const res = await send(method, target, h);
      noteRateLimit(res);
      const location = header(res, 'location');
      if (!REDIRECTS.has(res.statusCode ?? 0) || location === undefined) return res;
      res.resume();
      if (hop >= MAX_REDIRECTS)
        throw upstreamError(remote, 'protocol', `more than ${MAX_REDIRECTS} redirects for ${url.pathname}`);
      target = new URL(location, target);
    }
  }

  /**
   * A registry request with the remote's manners: a concurrency slot and a bucket token per attempt, credentials
   * for `scope` (a new token on 401), retries of 429 and 503 with backoff. Answers 2xx and 404 (released by the
   * caller once the body is read); throws for the rest.
   */
  async function exchange(
    method: string,
    url: URL,
    scope: string,
    headers: http.OutgoingHttpHeaders = {},
  ): Promise<Answer> {
    let authTries = 0;
    for (let attempt = 0; ;) {
      const authorization = await auth.header(scope);
      const release = await manners.slots.acquire();
      let res: http.IncomingMessage;
      try {
        if (manners.bucket) await manners.bucket.take();
        res = await sendFollowing(method, url, headers, authorization);
      } catch (e) {
        release();
        throw e;
      }
      const status = res.statusCode ?? 0;
      if ((status >= 200 && status < 300) || status === 404) {
        if (authorization !== undefined) auth.used(scope);
        res.once('close', release);
        return { res, release };
      }
      const body = await readBody(res, MAX_JSON_BYTES, 'an error answer', remote).catch(() =>
        Buffer.alloc(0),
      );
      release();
      const what = `${method} ${url.pathname}`;
      if (status === 401 && authTries < 2) {
        authTries++;
        if (await auth.unauthorized(scope, authorization, res.headers['www-authenticate'])) continue;
      }
      if (status === 401 || status === 403)
        throw upstreamError(
          remote,
          'unauthorized',
          `${what} was refused (${status}${conn.username ? '' : ', no credentials configured'}): ${snippet(body)}`,
          status,
        );
      if (status === 429 || status === 503) {
        if (status === 429) stats.throttled++;
        const after = retryAfterMs(res.headers['retry-after'], clock.now());
        const wait =
          attempt < backoff.retries ? backoffMs(attempt, after, backoff, () => clock.random()) : undefined;
        if (wait === undefined)
          throw upstreamError(
            remote,
            status === 429 ? 'throttled' : 'unavailable',
            `${what} answered ${status}${after !== undefined ? ` (Retry-After ${Math.ceil(after / 1000)} s)` : ''} ` +
              `after ${attempt + 1} attempts: ${snippet(body)}`,
            status,
          );
        stats.retries++;
        attempt++;
        await sleep(wait);
        continue;
      }
      throw upstreamError(remote, 'protocol', `${what} answered ${status}: ${snippet(body)}`, status);
    }
  }

  const auth = new UpstreamAuth(
    remote,
    conn.username,
    conn.password,
    async (realm, query, basic) => {
      const u = new URL(realm);
      for (const [k, v] of query) u.searchParams.append(k, v);
      const res = await send('GET', u, basic ? { authorization: basic } : {});
      const body = await readBody(res, MAX_JSON_BYTES, 'the token answer', remote);
      if (res.statusCode !== 200)
        throw upstreamError(
          remote,
          'unauthorized',
          `its token server ${u.origin}${u.pathname} answered ${res.statusCode}: ${snippet(body)}`,
          res.statusCode,
        );
      const json = parseJsonOr(body) as
        { token?: string; access_token?: string; expires_in?: number } | undefined;
      const token = json?.token ?? json?.access_token;
      if (typeof token !== 'string' || token === '')
        throw upstreamError(remote, 'protocol', `its token server ${u.origin}${u.pathname} sent no token`);
      return { token, expiresInSeconds: typeof json?.expires_in === 'number' ? json.expires_in : 60 };
    },
    () => clock.now(),
    // a fake clock: a test of its own, with its own state
    clock === realClock ? authStateFor(base.href, conn.username, conn.password) : undefined,
  );

  const prefix = base.pathname.replace(/\/+$/, '');
  return {
    exchange,
    urlOf: (path: string): URL => new URL(`${base.origin}${prefix}${path}`),
    get rateLimitRemaining() {
      return rateLimitRemaining;
    },
  };
}
