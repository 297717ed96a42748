// Where an S3 blob store is (s3://BUCKET[/PREFIX], endpoint, region) and the S3 client made for it.
import { S3Client } from '@aws-sdk/client-s3';

export interface S3Location {
  bucket: string;
  /** the key prefix every object of the store goes under: '' or segments ending with '/' ("registry/") */
  prefix: string;
  /** the server's URL (an S3-compatible one: Ceph RGW, MinIO, …); absent: AWS's own for the region */
  endpoint?: string;
  region: string;
  /** path-style addressing (http://host/bucket/key): the default with an endpoint, virtual-hosted without */
  forcePathStyle?: boolean;
}

/** An S3 bucket name as S3 allows it: 3–63 of lower-case letters, digits, dots and hyphens. */
const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

/**
 * Parses `--store s3://BUCKET[/PREFIX]` (with `--s3-endpoint`, `--s3-region`). Credentials never come in the URL:
 * one with a user or password is refused, so that no secret ends up in a process list or a log.
 */
export function parseS3Store(url: string, opts: { endpoint?: string; region?: string }): S3Location {
  const m = /^s3:\/\/([^/]*)(?:\/(.*))?$/.exec(url);
  if (!m) throw new Error(`"${url}" is not an S3 store: give s3://BUCKET or s3://BUCKET/PREFIX`);
  const [, bucket = '', rest = ''] = m;
  if (bucket.includes('@') || bucket.includes(':')) {
    throw new Error(
      'the store URL must not hold credentials: give them in AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, ' +
        'or in a credentials file (AWS_SHARED_CREDENTIALS_FILE, AWS_PROFILE)',
    );
  }
  if (!BUCKET.test(bucket)) {
    throw new Error(
      `"${bucket}" is not an S3 bucket name: 3 to 63 lower-case letters, digits, dots and hyphens (s3://BUCKET[/PREFIX])`,
    );
  }
  const segments = rest.split('/').filter((s) => s !== '');
  if (segments.some((s) => s === '..' || s === '.')) {
    throw new Error(`the store prefix "${rest}" may not hold "." or ".." segments`);
  }
  let endpoint: string | undefined;
  if (opts.endpoint !== undefined) {
    let u: URL;
    try {
      u = new URL(opts.endpoint);
    } catch {
      throw new Error(`--s3-endpoint "${opts.endpoint}" is not a URL: give http(s)://HOST[:PORT]`);
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') {
      throw new Error(`--s3-endpoint "${opts.endpoint}" must be an http:// or https:// URL`);
    }
    if (u.username || u.password) {
      throw new Error(
        '--s3-endpoint must not hold credentials: give them in AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, ' +
          'or in a credentials file (AWS_SHARED_CREDENTIALS_FILE, AWS_PROFILE)',
      );
    }
    endpoint = u.origin + u.pathname.replace(/\/+$/, '');
  }
  return {
    bucket,
    prefix: segments.length ? `${segments.join('/')}/` : '',
    endpoint,
    region: opts.region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? 'us-east-1',
    forcePathStyle: endpoint !== undefined,
  };
}

/** How a store is named in messages: its URL and endpoint, never its credentials. */
export function describeS3(loc: S3Location): string {
  return `s3://${loc.bucket}/${loc.prefix} at ${loc.endpoint ?? `AWS (${loc.region})`}`;
}

/**
 * The client of a store. Credentials come from the SDK's usual chain (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY,
 * AWS_SHARED_CREDENTIALS_FILE with AWS_PROFILE, …). Checksums only where S3 requires them: S3-compatible servers
 * (Ceph RGW before Squid among them) refuse the SDK's default CRC32 trailers on uploads.
 */
export function s3Client(loc: S3Location): S3Client {
  // the pinned SDK runs on Node 20; its notice that later releases will need Node 22 is no news for an operator
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  return new S3Client({
    region: loc.region,
    ...(loc.endpoint ? { endpoint: loc.endpoint } : {}),
    forcePathStyle: loc.forcePathStyle ?? loc.endpoint !== undefined,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    requestHandler: {
      httpAgent: { keepAlive: true, maxSockets: 64 },
      httpsAgent: { keepAlive: true, maxSockets: 64 },
      connectionTimeout: 10_000,
    },
  });
}
