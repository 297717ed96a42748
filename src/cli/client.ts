// HTTP client for berth's management API: JSON calls, streamed uploads, and OCI error JSON turned into ApiError.
import http from 'node:http';
import https from 'node:https';
import { Readable } from 'node:stream';
import { text } from 'node:stream/consumers';

/** An error the server answered with (or a failure to reach it), as `{code, message, detail}`. */
export class ApiError extends Error {
  readonly code: string;
  readonly detail: unknown;
  readonly status: number | undefined;

  constructor(code: string, message: string, detail?: unknown, status?: number) {
    super(message);
    this.name = 'ApiError';
    this.code = code;
    this.detail = detail;
    this.status = status;
  }
}

/** Builds the error for a 4xx/5xx answer from its body: the first entry of the OCI error JSON, or the status. */
export function errorFromResponse(status: number, body: string, statusText = ''): ApiError {
  try {
    const first = (JSON.parse(body) as { errors?: unknown[] }).errors?.[0] as
      Record<string, unknown> | undefined;
    if (first && typeof first.code === 'string') {
      const message = typeof first.message === 'string' ? first.message : '';
      return new ApiError(first.code, message, first.detail, status);
    }
  } catch {
    // not JSON: described by the status below
  }
  const snippet = body.trim().slice(0, 200);
  const message = `the server answered ${status}${statusText ? ` ${statusText}` : ''}${snippet ? `: ${snippet}` : ''}`;
  return new ApiError(`HTTP_${status}`, message, undefined, status);
}

function parseBody(status: number, body: string, statusText?: string): unknown {
  if (status >= 400) throw errorFromResponse(status, body, statusText);
  if (body === '') return undefined;
  try {
    return JSON.parse(body);
  } catch {
    throw new ApiError(
      'BAD_RESPONSE',
      `the server answered ${status} with a body that is not JSON`,
      body.slice(0, 200),
    );
  }
}

/** Checks a --server value; the URL keeps any path prefix (http://host/berth/ → API under /berth/api/v1). */
export function parseServerUrl(server: string): URL {
  let url: URL;
  try {
    url = new URL(server.endsWith('/') ? server : `${server}/`);
  } catch {
    throw new Error(`"${server}" is not a URL (expected e.g. http://127.0.0.1:5000)`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new Error(`"${server}" must be an http:// or https:// URL`);
  }
  return url;
}

/** Socket errors that mean no connection was made. */
const NOT_REACHED = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ETIMEDOUT',
]);

/** Errors of a certificate the client does not trust (OpenSSL's verification codes, Node's host-name check). */
const UNTRUSTED = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_UNTRUSTED',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_SIGNATURE_FAILURE',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/** Whether a TLS handshake failed because the other side answered in plain HTTP (OpenSSL's "wrong version number"). */
const speaksPlainHttp = (code: string | undefined, reason: string): boolean =>
  code === 'ERR_SSL_WRONG_VERSION_NUMBER' || /wrong version number|packet length too long/i.test(reason);

/** The API path of a repository (its name keeps its slashes) and of something under it (`/-/versions`…). */
export const repositoryPath = (name: string, rest = ''): string => `api/v1/repositories/${name}${rest}`;

/**
 * A client of one berth server. It speaks node:http rather than fetch, which refuses some ports (6000, 6667…)
 * a server may well listen on, and cannot stream a request body from a file without buffering.
 */
export class BerthClient {
  readonly server: URL;

  /**
   * `authorization`: the Authorization header every request carries (Basic or Bearer credentials), if any;
   * `unauthorizedHint`: what to do about a 401, added to its error when the server gave no detail
   */
  constructor(
    server: string,
    private readonly authorization?: string,
    private readonly unauthorizedHint?: string,
  ) {
    this.server = parseServerUrl(server);
  }

  private withHint(e: unknown): unknown {
    if (!(e instanceof ApiError) || e.status !== 401 || e.detail !== undefined || !this.unauthorizedHint)
      return e;
    return new ApiError(e.code, e.message, this.unauthorizedHint, e.status);
  }

  /** The URL of an API path; repository names keep their slashes. */
  url(path: string): URL {
    return new URL(path.replace(/^\//, ''), this.server);
  }

  /** A failure to talk to the server: it could not be reached, or the connection broke mid-request. */
  private connectionError(e: unknown): ApiError {
    const err = e as NodeJS.ErrnoException & { errors?: Error[] };
    const reason = err.message || err.errors?.[0]?.message || err.code || String(err);
    if (this.server.protocol === 'https:' && speaksPlainHttp(err.code, reason)) {
      const plain = new URL(this.server.href);
      plain.protocol = 'http:';
      return new ApiError(
        'PLAIN_HTTP',
        `the berth server at ${this.server.origin} speaks plain HTTP, not HTTPS: ${reason}`,
        `use --server ${plain.href.replace(/\/$/, '')} (or serve HTTPS: berth serve --tls-cert FILE --tls-key FILE)`,
      );
    }
    if (UNTRUSTED.has(err.code ?? '')) {
      return new ApiError(
        'TLS_UNTRUSTED',
        `the berth server at ${this.server.origin} has a certificate this machine does not trust: ${reason}`,
        'if your own CA signed it, point NODE_EXTRA_CA_CERTS at the CA certificate (a PEM file)',
      );
    }
    if (NOT_REACHED.has(err.code ?? '')) {
      return new ApiError(
        'UNREACHABLE',
        `cannot reach the berth server at ${this.server.origin}: ${reason}`,
        'is `berth serve` running there? Use --server URL or BERTH_SERVER to point at another one',
      );
    }
    return new ApiError(
      'CONNECTION_BROKEN',
      `the connection to the berth server at ${this.server.origin} broke before it answered: ${reason}`,
      'the server may have rejected the request; its log says why',
    );
  }

  getJson(path: string): Promise<unknown> {
    return this.send('GET', path, {});
  }

  postJson(path: string, body: unknown): Promise<unknown> {
    return this.sendJson('POST', path, body);
  }

  patchJson(path: string, body: unknown): Promise<unknown> {
    return this.sendJson('PATCH', path, body);
  }

  putJson(path: string, body: unknown): Promise<unknown> {
    return this.sendJson('PUT', path, body);
  }

  private sendJson(method: string, path: string, body: unknown): Promise<unknown> {
    return this.send(
      method,
      path,
      { 'content-type': 'application/json' },
      Readable.from([JSON.stringify(body)]),
    );
  }

  /** A request without a body (DELETE, or a POST that acts on the path alone); resolves to the JSON answer, if any. */
  call(method: 'POST' | 'DELETE', path: string): Promise<unknown> {
    return this.send(method, path, {});
  }

  /** POSTs a stream as the request body, chunked unless `contentLength` is given, and returns the JSON answer. */
  postStream(path: string, body: Readable, contentType: string, contentLength?: number): Promise<unknown> {
    const headers: Record<string, string | number> = { 'content-type': contentType };
    if (contentLength !== undefined) headers['content-length'] = contentLength;
    return this.send('POST', path, headers, body);
  }

  /**
   * One request; resolves to the JSON answer, rejects with an ApiError. An error answer the server sends
   * before it has read the whole body wins over the broken pipe it causes; an error of the body stream
   * itself (a local read failure) wins over everything.
   */
  private send(
    method: string,
    path: string,
    headers: Record<string, string | number>,
    body?: Readable,
  ): Promise<unknown> {
    const url = this.url(path);
    const request = url.protocol === 'https:' ? https.request : http.request;
    return new Promise((resolve, reject) => {
      let done = false;
      const finish = (outcome: () => unknown): void => {
        if (done) return;
        done = true;
        try {
          resolve(outcome());
        } catch (e) {
          reject(e);
        }
        body?.destroy();
        req.destroy();
      };
      const fail = (e: unknown): void =>
        finish(() => {
          throw e;
        });
      const auth = this.authorization === undefined ? {} : { authorization: this.authorization };
      const req = request(url, { method, headers: { accept: 'application/json', ...auth, ...headers } });
      req.on('response', (res) => {
        text(res).then(
          (t) =>
            finish(() => {
              try {
                return parseBody(res.statusCode ?? 0, t, res.statusMessage);
              } catch (e) {
                throw this.withHint(e);
              }
            }),
          (e: unknown) => fail(this.connectionError(e)),
        );
      });
      req.on('error', (e: NodeJS.ErrnoException) => {
        // the server may have answered (and closed) before reading everything: give its answer a moment
        const wait = NOT_REACHED.has(e.code ?? '') ? 0 : 250;
        setTimeout(() => fail(this.connectionError(e)), wait);
      });
      if (body) {
        body.once('error', fail);
        body.pipe(req);
      } else {
        req.end();
      }
    });
  }
}
