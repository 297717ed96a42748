// The port through which a repository's on-demand blobs get their bytes from a remote (implemented in src/sync/on-demand.ts).
import type { Readable } from 'node:stream';
import type { Digest } from '../core/digest.js';

/** An on-demand blob of a repository: held (its latest version names it) with its bytes still at a remote. */
export interface OnDemandBlob {
  repository: string;
  digest: Digest;
  size: number;
}

/**
 * Fetches an on-demand blob from its remote while streaming it: the stream carries the bytes as they arrive and
 * fails (the client's connection cut) rather than end with bytes that do not hash to the digest. Undefined when
 * the blob is no longer on demand (fetched meanwhile, by this process or another): the store has its bytes.
 */
export interface OnDemandSource {
  open(blob: OnDemandBlob): Promise<Readable | undefined>;
}
