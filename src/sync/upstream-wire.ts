// The wire of the Upstream client: URLs and names upstream uses, headers, bodies read with limits, its errors.
import type http from 'node:http';
import { BerthError } from '../core/errors.js';
import { isManifestMediaType, MediaTypes } from '../core/media-types.js';

/** The Accept header of manifest requests: OCI and Docker manifests and indexes. */
export const MANIFEST_ACCEPT = [
  MediaTypes.ociManifest,
  MediaTypes.ociIndex,
  MediaTypes.dockerManifest,
  MediaTypes.dockerManifestList,
].join(', ');

export const REDIRECTS = new Set([301, 302, 303, 307, 308]);
export const MAX_REDIRECTS = 5;
const DOCKER_HUB_HOSTS = new Set([
  'docker.io',
  'index.docker.io',
  'registry-1.docker.io',
  'registry.hub.docker.com',
]);
/** tags/list pages and error bodies larger than this are refused */
export const MAX_JSON_BYTES = 16 * 1024 * 1024;

export type Kind =
  | 'unauthorized'
  | 'throttled'
  | 'unavailable'
  | 'bad-content'
  | 'unreachable'
  | 'untrusted-certificate'
  | 'protocol';

/** Node's codes for a TLS certificate it does not trust (unknown issuer, self-signed, expired, another name). */
const CERTIFICATE_ERRORS = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_UNTRUSTED',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_SIGNATURE_FAILURE',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/** A request that failed: an untrusted certificate says how to trust it, the rest say what broke. */
export function requestFailed(remote: string, what: string, e: Error & { code?: string }): BerthError {
  if (e.code !== undefined && CERTIFICATE_ERRORS.has(e.code)) {
    return upstreamError(
      remote,
      'untrusted-certificate',
      `${what} failed: its TLS certificate is not trusted (${e.message}); give the remote the CA that signed ` +
        `it (caPem; berth remote edit ${remote} --ca-file FILE) or, on a network you trust, turn verification ` +
        `off (tlsVerify: false; --insecure-skip-verify)`,
    );
  }
  return upstreamError(remote, 'unreachable', `${what} failed: ${e.message}`);
}

/** An upstream failure, naming the remote, what was asked and what upstream answered. */
export function upstreamError(remote: string, kind: Kind, message: string, status?: number): BerthError {
  return new BerthError('UPSTREAM_ERROR', `remote ${remote}: ${message}`, {
    remote,
    kind,
    ...(status === undefined ? {} : { status }),
  });
}

/** The repository name upstream knows: Docker Hub's official images live under `library/`. */
export function upstreamName(baseUrl: string, repository: string): string {
  const host = new URL(baseUrl).hostname;
  return DOCKER_HUB_HOSTS.has(host) && !repository.includes('/') ? `library/${repository}` : repository;
}

/** The registry's base URL (Docker Hub's API host for docker.io), without a trailing slash. */
export function registryBase(url: string): URL {
  const u = new URL(url);
  if (u.hostname === 'docker.io' || u.hostname === 'index.docker.io') u.hostname = 'registry-1.docker.io';
  u.search = '';
  u.hash = '';
  return u;
}

/** A response header's (first) value. */
export const header = (res: http.IncomingMessage, name: string): string | undefined => {
  const v = res.headers[name];
  return Array.isArray(v) ? v[0] : v;
};

export const mediaTypeOf = (h: string | undefined): string => (h ?? '').split(';')[0]!.trim();

export function readBody(
  res: http.IncomingMessage,
  limit: number,
  what: string,
  remote: string,
): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    res.on('data', (c: Buffer) => {
      size += c.length;
      if (size > limit) {
        res.destroy();
        reject(upstreamError(remote, 'bad-content', `${what} is larger than ${limit} bytes`));
        return;
      }
      chunks.push(c);
    });
    res.once('end', () => resolve(Buffer.concat(chunks)));
    res.once('error', (e) =>
      reject(upstreamError(remote, 'unreachable', `${what} broke off: ${e.message}`, res.statusCode)),
    );
    res.once('close', () => {
      if (!res.complete) reject(upstreamError(remote, 'unreachable', `${what} broke off`, res.statusCode));
    });
  });
}

export interface Answer {
  res: http.IncomingMessage;
  /** gives the concurrency slot back (called once the body is read or dropped) */
  release(): void;
}

export function parseJsonOr(bytes: Buffer): unknown {
  try {
    return JSON.parse(bytes.toString('utf8'));
  } catch {
    return undefined;
  }
}

export const snippet = (body: Buffer): string => {
  const text = body.toString('utf8').replace(/\s+/g, ' ').trim();
  return text === '' ? '(no body)' : text.length > 300 ? `${text.slice(0, 300)}…` : text;
};

/** The manifest's media type: Content-Type when it names one, else the manifest's own mediaType field. */
export function manifestMediaType(contentType: string | undefined, bytes: Buffer): string {
  const t = mediaTypeOf(contentType);
  if (isManifestMediaType(t)) return t;
  const own = (parseJsonOr(bytes) as { mediaType?: unknown } | undefined)?.mediaType;
  return typeof own === 'string' && own !== '' ? own : t;
}

/** The next page of a `Link: <…>; rel="next"` header, resolved against the current page. */
export function nextLink(header: string | undefined, current: URL): URL | undefined {
  if (header === undefined) return undefined;
  for (const part of header.split(',')) {
    const m = /<([^>]*)>\s*;\s*rel="?next"?/i.exec(part);
    if (m) return new URL(m[1]!, current);
  }
  return undefined;
}
