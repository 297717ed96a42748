// The port sync, on-demand blobs and the pull-through cache use to read an upstream registry (HTTP client: upstream-http.ts).
import type { Readable } from 'node:stream';
import type { Digest } from '../core/digest.js';
import type { Descriptor } from '../core/manifests.js';

/** A manifest as upstream serves it: the bytes are kept as they are, so digests never change. */
export interface UpstreamManifest {
  digest: Digest;
  mediaType: string;
  bytes: Buffer;
}

/** What HEAD tells of a manifest. */
export interface UpstreamManifestHead {
  digest: Digest;
  mediaType: string;
  size: number;
}

/** What a client sent upstream and how upstream answered: a run's statistics and the remote's metrics. */
export interface UpstreamStats {
  /** requests sent, by method (GET, HEAD), retries included */
  requests: Record<string, number>;
  retries: number;
  /** answers 429 */
  throttled: number;
  /** blob and manifest bytes received */
  bytes: number;
}

/**
 * One upstream registry, as a remote configures it (URL, credentials, TLS, concurrency, rate limit). Repository
 * names are upstream's (the client adds `library/` for Docker Hub's official images). Every method retries 429 and
 * 503 with backoff (honouring Retry-After), takes a token before each request, and follows redirects to other hosts
 * without the registry's Authorization header. Errors are BerthErrors naming the remote and what it answered.
 */
export interface Upstream {
  /** The repository's tags, a page at a time (following Link). */
  tags(repository: string): AsyncIterable<string[]>;
  /** A manifest's digest, media type and size (a HEAD), or undefined when upstream has no such reference. */
  headManifest(repository: string, reference: string): Promise<UpstreamManifestHead | undefined>;
  /**
   * A manifest's bytes (a GET), or undefined when upstream has none; verified against the digest when
   * `reference` is one, and against Docker-Content-Digest when upstream sends it.
   */
  getManifest(repository: string, reference: string): Promise<UpstreamManifest | undefined>;
  /**
   * A blob's bytes as a stream that checks them as they pass: it fails (destroyed with an error) when they end
   * short of `size`, run past it, or do not hash to `digest`, so no caller keeps wrong bytes.
   */
  getBlob(repository: string, digest: Digest, size: number): Promise<Readable>;
  /** The manifests that refer to `digest` (referrers API, else the tag schema), optionally of one artifact type. */
  referrers(repository: string, digest: Digest, artifactType?: string): Promise<Descriptor[]>;
  readonly stats: UpstreamStats;
  /** the last `ratelimit-remaining` upstream sent (undefined: none yet) */
  readonly rateLimitRemaining: number | undefined;
}
