// Presigned GET URLs of an S3 store's objects (`berth serve --s3-redirect`), signed for the internal or a public endpoint.
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { assertStoreKey } from './blob-store.js';
import type { BlobUrls } from './blob-urls.js';
import { s3Client, type S3Location } from './s3-config.js';

export interface S3RedirectSettings {
  /** how long a URL is valid, in seconds (SigV4 allows 1 to 604800, seven days) */
  ttlSeconds: number;
  /** the endpoint clients reach S3 at, when not the one berth uses (a proxy, a CDN): the URLs are signed for it */
  publicEndpoint?: string;
}

/** 20 minutes: long enough for a slow pull of a large layer to start, short enough that a leaked URL soon dies. */
export const DEFAULT_REDIRECT_TTL = 1200;
/** SigV4 presigned URLs live at most seven days. */
export const MAX_REDIRECT_TTL = 604_800;

/** `--s3-redirect-ttl`: whole seconds, 1 to 604800. */
export function parseRedirectTtl(s: string): number {
  const n = /^\d{1,7}$/.test(s) ? Number(s) : NaN;
  if (!(n >= 1 && n <= MAX_REDIRECT_TTL)) {
    throw new Error(
      `--s3-redirect-ttl "${s}" is not a lifetime S3 accepts: give whole seconds from 1 to ${MAX_REDIRECT_TTL} (seven days); default ${DEFAULT_REDIRECT_TTL}`,
    );
  }
  return n;
}

/**
 * `--s3-public-endpoint`: an http(s) origin with no credentials, path or query. A signature covers the host and the
 * path, so whatever stands in front of S3 must pass both on unchanged: a path prefix that a proxy strips would
 * break every URL, and is refused here rather than found by the first pull.
 */
export function parsePublicEndpoint(s: string): string {
  let u: URL;
  try {
    u = new URL(s);
  } catch {
    throw new Error(`--s3-public-endpoint "${s}" is not a URL: give http(s)://HOST[:PORT]`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') {
    throw new Error(`--s3-public-endpoint "${s}" must be an http:// or https:// URL`);
  }
  if (u.username || u.password) {
    throw new Error(
      '--s3-public-endpoint must not hold credentials: URLs are signed with the store’s own keys',
    );
  }
  if (u.pathname !== '/' || u.search || u.hash) {
    throw new Error(
      `--s3-public-endpoint "${s}" must be http(s)://HOST[:PORT] with no path or query: a signature covers the path, so a proxy in front of S3 must pass paths (and the Host header) on unchanged`,
    );
  }
  return u.origin;
}

/**
 * Signs GETs of the store's objects with the store's credentials, for the endpoint berth uses or for
 * `publicEndpoint` (addressed the way the store is: path-style with an endpoint). No request is made: a URL for a
 * missing object is made as readily, and S3 answers it 404.
 */
export class S3Presigner implements BlobUrls {
  readonly ttlSeconds: number;
  private readonly client: S3Client;

  constructor(
    private readonly location: S3Location,
    client: S3Client,
    settings: S3RedirectSettings,
  ) {
    this.ttlSeconds = settings.ttlSeconds;
    this.client = settings.publicEndpoint
      ? s3Client({
          ...location,
          endpoint: settings.publicEndpoint,
          forcePathStyle: location.forcePathStyle ?? location.endpoint !== undefined,
        })
      : client;
  }

  async url(key: string, now: Date): Promise<string> {
    assertStoreKey(key);
    const get = new GetObjectCommand({
      Bucket: this.location.bucket,
      Key: this.location.prefix + key,
      // what berth's own answer says of a blob's bytes, whatever the object was stored with
      ResponseContentType: 'application/octet-stream',
    });
    return getSignedUrl(this.client, get, { expiresIn: this.ttlSeconds, signingDate: now });
  }
}
