// The Upstream port over HTTP: tags, manifests, verified blob streams and referrers of a remote, with its manners.
import { Transform, type Readable } from 'node:stream';
import { algorithmOf, hashOf, hexOf, isDigest, type Digest } from '../core/digest.js';
import { BerthError } from '../core/errors.js';
import { inlineHash, type HashWorker } from '../core/hash-worker.js';
import { MAX_MANIFEST_BYTES, type Descriptor } from '../core/manifests.js';
import { isManifestMediaType, MediaTypes } from '../core/media-types.js';
import type { Clock } from '../gc/clock.js';
import type { BackoffOptions, Manners, Sleep } from './manners.js';
import type { RemoteConnection } from './remote.js';
import type { Upstream, UpstreamManifest, UpstreamManifestHead, UpstreamStats } from './upstream.js';
import { createTransport } from './upstream-transport.js';
import {
  header,
  manifestMediaType,
  MANIFEST_ACCEPT,
  MAX_JSON_BYTES,
  mediaTypeOf,
  nextLink,
  parseJsonOr,
  readBody,
  upstreamError,
  upstreamName,
} from './upstream-wire.js';

export { MANIFEST_ACCEPT, upstreamError, upstreamName } from './upstream-wire.js';

export interface UpstreamOptions {
  /** time for Retry-After dates, token expiry and the token bucket (default: the real one) */
  clock?: Clock;
  /** how backoff and the token bucket wait (default: a timer of the clock) */
  sleep?: Sleep;
  /** called with each `ratelimit-remaining` upstream sends */
  onRateLimit?(remaining: number): void;
  backoff?: Partial<BackoffOptions>;
  /** tags asked for per tags/list page (default 1000) */
  tagsPageSize?: number;
  /** a request fails when upstream sends nothing for this long, ms (default 60 s) */
  idleTimeoutMs?: number;
  /** the limits to take from (default: the remote's, shared in this process) */
  manners?: Manners;
  /** where blob streams are hashed (default: on the event loop) */
  hasher?: HashWorker;
}

/** An Upstream client for one remote (see the port in upstream.ts). */
export function createUpstream(conn: RemoteConnection, opts: UpstreamOptions = {}): Upstream {
  const pageSize = opts.tagsPageSize ?? 1000;
  const remote = conn.name;
  const stats: UpstreamStats = { requests: {}, retries: 0, throttled: 0, bytes: 0 };
  const transport = createTransport(conn, opts, stats);
  const { exchange, urlOf } = transport;

  const scopeOf = (name: string): string => `repository:${name}:pull`;

  async function getManifestOf(repository: string, reference: string): Promise<UpstreamManifest | undefined> {
    const name = upstreamName(conn.url, repository);
    const { res, release } = await exchange(
      'GET',
      urlOf(`/v2/${name}/manifests/${reference}`),
      scopeOf(name),
      {
        accept: MANIFEST_ACCEPT,
      },
    );
    const what = `manifest ${name}:${reference}`;
    try {
      if (res.statusCode === 404) {
        res.resume();
        return undefined;
      }
      const declared = Number(res.headers['content-length'] ?? 0);
      if (declared > MAX_MANIFEST_BYTES) {
        res.destroy();
        throw upstreamError(
          remote,
          'bad-content',
          `${what} is ${declared} bytes, more than ${MAX_MANIFEST_BYTES}`,
        );
      }
      const bytes = await readBody(res, MAX_MANIFEST_BYTES, what, remote);
      stats.bytes += bytes.length;
      const sent = header(res, 'docker-content-digest');
      const byDigest = isDigest(reference) ? reference : undefined;
      const algorithm = byDigest
        ? algorithmOf(byDigest)
        : sent && isDigest(sent)
          ? algorithmOf(sent)
          : 'sha256';
      const digest = hashOf(algorithm, bytes);
      if (byDigest && digest !== byDigest)
        throw upstreamError(
          remote,
          'bad-content',
          `${what}: its bytes hash to ${digest}, not the digest asked for`,
        );
      if (sent !== undefined && isDigest(sent) && hashOf(algorithmOf(sent), bytes) !== sent)
        throw upstreamError(
          remote,
          'bad-content',
          `${what}: its bytes hash to ${hashOf(algorithmOf(sent), bytes)}, not ${sent} (Docker-Content-Digest)`,
        );
      return { digest, mediaType: manifestMediaType(res.headers['content-type'], bytes), bytes };
    } finally {
      release();
    }
  }

  return {
    get stats() {
      return stats;
    },
    get rateLimitRemaining() {
      return transport.rateLimitRemaining;
    },

    async *tags(repository: string): AsyncIterable<string[]> {
      const name = upstreamName(conn.url, repository);
      let next: URL | undefined = urlOf(`/v2/${name}/tags/list`);
      next.searchParams.set('n', String(pageSize));
      for (let page = 1; next !== undefined; page++) {
        const { res, release } = await exchange('GET', next, scopeOf(name));
        let body: Buffer;
        try {
          if (res.statusCode === 404) {
            res.resume();
            throw new BerthError('NAME_UNKNOWN', `remote ${remote} has no repository ${name}`, {
              remote,
              repository: name,
            });
          }
          body = await readBody(res, MAX_JSON_BYTES, `tags of ${name} (page ${page})`, remote);
        } finally {
          release();
        }
        const json = parseJsonOr(body) as { tags?: unknown } | undefined;
        if (
          json === undefined ||
          (json.tags !== null && json.tags !== undefined && !Array.isArray(json.tags))
        )
          throw upstreamError(
            remote,
            'protocol',
            `tags of ${name} (page ${page}) are not a tags/list answer`,
          );
        yield ((json.tags as unknown[] | null | undefined) ?? []).filter(
          (t): t is string => typeof t === 'string',
        );
        next = nextLink(header(res, 'link'), next);
      }
    },

    async headManifest(repository: string, reference: string): Promise<UpstreamManifestHead | undefined> {
      const name = upstreamName(conn.url, repository);
      const { res, release } = await exchange(
        'HEAD',
        urlOf(`/v2/${name}/manifests/${reference}`),
        scopeOf(name),
        {
          accept: MANIFEST_ACCEPT,
        },
      );
      res.resume();
      release();
      if (res.statusCode === 404) return undefined;
      const sent = header(res, 'docker-content-digest');
      const digest =
        sent !== undefined && isDigest(sent) ? sent : isDigest(reference) ? reference : undefined;
      const size = Number(res.headers['content-length']);
      const mediaType = mediaTypeOf(res.headers['content-type']);
      if (digest !== undefined && Number.isSafeInteger(size) && isManifestMediaType(mediaType))
        return { digest, mediaType, size };
      // upstream does not say enough in a HEAD: the manifest itself tells
      const m = await getManifestOf(repository, reference);
      return m && { digest: m.digest, mediaType: m.mediaType, size: m.bytes.length };
    },

    getManifest: getManifestOf,

    async getBlob(repository: string, digest: Digest, size: number): Promise<Readable> {
      const name = upstreamName(conn.url, repository);
      const { res } = await exchange('GET', urlOf(`/v2/${name}/blobs/${digest}`), scopeOf(name));
      const what = `blob ${digest} of ${name}`;
      if (res.statusCode === 404) {
        res.resume();
        throw new BerthError('BLOB_UNKNOWN', `remote ${remote} has no ${what}`, { remote, digest });
      }
      const declared = res.headers['content-length'];
      if (declared !== undefined && Number(declared) !== size) {
        res.destroy();
        throw upstreamError(remote, 'bad-content', `${what} is ${declared} bytes upstream, not ${size}`);
      }
      // hashed on the hashing thread when there is one: the event loop receives and passes on meanwhile
      const hash = opts.hasher
        ? opts.hasher.hash(algorithmOf(digest), size)
        : inlineHash(algorithmOf(digest));
      const verifier = new Transform({
        transform(chunk: Buffer, _enc, cb) {
          stats.bytes += chunk.length;
          if (hash.size + chunk.length > size)
            return cb(upstreamError(remote, 'bad-content', `${what} runs past its ${size} bytes`));
          let wait: Promise<void> | undefined;
          try {
            wait = hash.update(chunk);
          } catch (e) {
            return cb(e as Error);
          }
          if (wait) wait.then(() => cb(null, chunk), cb);
          else cb(null, chunk);
        },
        flush(cb) {
          if (hash.size !== size)
            return cb(
              upstreamError(remote, 'bad-content', `${what} ended after ${hash.size} of ${size} bytes`),
            );
          hash
            .digest()
            .then(
              (got) =>
                got === digest
                  ? cb()
                  : cb(upstreamError(remote, 'bad-content', `${what}: its bytes hash to ${got}`)),
              cb,
            );
        },
      });
      verifier.once('close', () => hash.abort());
      // a body broken off upstream: the reader sees an error naming it, never a short end
      res.once('error', (e) =>
        verifier.destroy(upstreamError(remote, 'unreachable', `${what} broke off: ${e.message}`)),
      );
      res.once('aborted', () => verifier.destroy(upstreamError(remote, 'unreachable', `${what} broke off`)));
      // a reader that stops early: the connection goes (it cannot be reused mid-body)
      verifier.once('close', () => {
        if (!res.complete) res.destroy();
      });
      res.pipe(verifier);
      return verifier;
    },

    async referrers(repository: string, digest: Digest, artifactType?: string): Promise<Descriptor[]> {
      const name = upstreamName(conn.url, repository);
      const u = urlOf(`/v2/${name}/referrers/${digest}`);
      if (artifactType !== undefined) u.searchParams.set('artifactType', artifactType);
      const { res, release } = await exchange('GET', u, scopeOf(name), { accept: MediaTypes.ociIndex });
      let index: unknown;
      try {
        if (res.statusCode === 404) {
          res.resume();
          index = undefined;
        } else index = parseJsonOr(await readBody(res, MAX_MANIFEST_BYTES, `referrers of ${digest}`, remote));
      } finally {
        release();
      }
      if (index === undefined) {
        // no referrers API: the tag schema (sha256-<hex>)
        const tagged = await getManifestOf(repository, `${algorithmOf(digest)}-${hexOf(digest)}`);
        index = tagged && parseJsonOr(tagged.bytes);
      }
      const manifests = (index as { manifests?: unknown } | undefined)?.manifests;
      if (!Array.isArray(manifests)) return [];
      return (manifests as Descriptor[]).filter(
        (d) =>
          typeof d === 'object' &&
          d !== null &&
          isDigest(d.digest) &&
          (artifactType === undefined || d.artifactType === artifactType),
      );
    },
  };
}
