// A remote as sync, on-demand blobs and the cache use it: where upstream is, how to reach it, and what to bring in.
import type { Digest } from '../core/digest.js';

/** How to reach an upstream registry: what an Upstream client is made from (the password decrypted). */
export interface RemoteConnection {
  name: string;
  /** base URL, e.g. https://registry-1.docker.io or http://127.0.0.1:5001 */
  url: string;
  username?: string;
  password?: string;
  /** PEM of CAs to trust (absent: the system's) */
  caPem?: string;
  /** false: do not verify upstream's TLS certificate */
  tlsVerify: boolean;
  /** requests in flight at once, at most */
  concurrency: number;
  /** token-bucket rate, requests per second (absent: unlimited) */
  requestsPerSecond?: number;
}

export type ReferrersPolicy = 'none' | 'all' | string[];
export type DownloadPolicy = 'immediate' | 'on_demand';

/** A remote: its connection and what a sync from it brings in. */
export interface Remote {
  connection: RemoteConnection;
  /** tag globs ("v*"), literal tags or digests; empty: every tag */
  include: string[];
  exclude: string[];
  /** "os/arch" or "os/arch/variant"; empty: every platform */
  platforms: string[];
  referrers: ReferrersPolicy;
  policy: DownloadPolicy;
}

/** Whether every include is a literal (a tag without "*" or "?", or a digest): a sync then needs no tags/list. */
export const onlyLiterals = (include: string[]): boolean =>
  include.length > 0 && include.every((p) => !/[*?]/.test(p));

export type { Digest };
