// `berth serve --s3-redirect [--s3-redirect-ttl SECONDS] [--s3-public-endpoint URL]`: blob GETs answered by presigned S3 URLs.
import { Option, type Command } from 'commander';
import type { BerthConfig } from '../app.js';

export interface RedirectOptions {
  s3Redirect?: boolean;
  s3RedirectTtl?: string;
  s3PublicEndpoint?: string;
}

/** The options; checked by `s3RedirectOf` when serve starts (the parsers live with the S3 store). */
export function redirectOptions(cmd: Command): Command {
  return cmd
    .addOption(
      new Option(
        '--s3-redirect',
        'answer blob GETs of the registry with 307 to a presigned URL of the S3 store, so clients fetch the bytes from S3 (access is checked first; HEAD and manifests stay served here); needs --store s3://… (env BERTH_S3_REDIRECT=true)',
      ),
    )
    .addOption(
      new Option(
        '--s3-redirect-ttl <seconds>',
        'how long a presigned URL is valid, 1 to 604800 (default: 1200, 20 minutes)',
      ).env('BERTH_S3_REDIRECT_TTL'),
    )
    .addOption(
      new Option(
        '--s3-public-endpoint <url>',
        'sign the URLs for this endpoint instead of --s3-endpoint: where clients reach S3 (a proxy or CDN that passes Host and path on unchanged)',
      ).env('BERTH_S3_PUBLIC_ENDPOINT'),
    );
}

/** BERTH_S3_REDIRECT: true/1/yes or false/0/no (a switch's environment variable, read here: any value would turn it on). */
function envSwitch(name: string, value: string | undefined): boolean | undefined {
  if (value === undefined) return undefined;
  const v = value.trim().toLowerCase();
  if (['true', '1', 'yes', 'on'].includes(v)) return true;
  if (['false', '0', 'no', 'off', ''].includes(v)) return false;
  throw new Error(
    `${name}="${value}" is neither true nor false: give true (or 1) to turn it on, false (or 0) to leave it off`,
  );
}

/**
 * The redirect settings the options name, or undefined when blob GETs stream. The lifetime and public endpoint
 * need --s3-redirect, and --s3-redirect needs the S3 store: each missing piece is named rather than ignored.
 */
export async function s3RedirectOf(
  opts: RedirectOptions,
  s3: BerthConfig['s3'],
  env: NodeJS.ProcessEnv = process.env,
): Promise<BerthConfig['s3Redirect']> {
  const on = opts.s3Redirect ?? envSwitch('BERTH_S3_REDIRECT', env.BERTH_S3_REDIRECT) ?? false;
  if (!on) {
    if (opts.s3RedirectTtl !== undefined || opts.s3PublicEndpoint !== undefined) {
      throw new Error('--s3-redirect-ttl and --s3-public-endpoint go with --s3-redirect: give it too');
    }
    return undefined;
  }
  if (!s3) {
    throw new Error(
      '--s3-redirect needs the S3 store: give --store s3://BUCKET[/PREFIX] too (the filesystem store serves blobs itself)',
    );
  }
  const { DEFAULT_REDIRECT_TTL, parsePublicEndpoint, parseRedirectTtl } = await import('../app.js');
  return {
    ttlSeconds:
      opts.s3RedirectTtl === undefined ? DEFAULT_REDIRECT_TTL : parseRedirectTtl(opts.s3RedirectTtl),
    ...(opts.s3PublicEndpoint === undefined
      ? {}
      : { publicEndpoint: parsePublicEndpoint(opts.s3PublicEndpoint) }),
  };
}
