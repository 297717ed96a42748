// `berth serve`: its scheduling, cleanup, time, upload and archive limits; starts the server, prints where it listens, closes cleanly on SIGINT/SIGTERM.
import { InvalidArgumentError, Option, type Command } from 'commander';
import {
  ARCHIVE_LIMIT_OPTIONS,
  ARCHIVE_LIMITS,
  archiveLimitEnv,
  type ArchiveLimit,
  type ArchiveLimits,
} from '../archive/tar-guard.js';
import { tuneHeap } from './heap-tuning.js';
import { s3RedirectOf, type RedirectOptions } from './redirect-options.js';

export interface ServeOptions extends RedirectOptions {
  listen?: string;
  data?: string;
  database?: string;
  tlsCert?: string;
  tlsKey?: string;
  /** the addresses or CIDRs of the proxies in front, comma-separated */
  trustProxy?: string;
  tokenTtl?: number;
  /** seconds between scheduled cleanups; 0 or absent: none */
  cleanupInterval?: number;
  /** the scheduled cleanup's protection time, seconds */
  cleanupProtection?: number;
  /** the default untagged policy: remove untagged manifests after this many hours (absent: keep them) */
  untaggedAfter?: number;
  /** seconds a connection may stay without progress */
  idleTimeout?: number;
  /** seconds a request's head may take */
  headersTimeout?: number;
  /** the retention rule of new repositories: the latest N versions (null: no count limit) */
  retainVersions?: number | null;
  /** … and versions younger than D days (null: no age limit) */
  retainDays?: number | null;
  /** the most upload sessions open at once per repository, per user (0: no bound) */
  maxUploadsPerRepository?: number;
  maxUploadsPerUser?: number;
  /** the key file remote passwords are encrypted with (every process of an instance must share it) */
  secretKeyFile?: string;
  /** false with --no-ui: no web pages at / */
  ui?: boolean;
  /** false with --no-sendfile: whole blobs go through streams, not sendfile(2) */
  sendfile?: boolean;
  /** the blob store, when not the filesystem under the data folder: s3://BUCKET[/PREFIX] */
  store?: string;
  s3Endpoint?: string;
  s3Region?: string;
  /** the archive limits given, by the camel-cased name of their option (archiveMaxEntries, …) */
  [archiveLimit: `archive${string}`]: number | undefined;
}

const seconds = (s: string): number => {
  if (!/^\d+$/.test(s)) throw new InvalidArgumentError(`"${s}" is not a number of seconds (0, 60, 3600, …)`);
  return Number(s);
};

const hours = (s: string): number => {
  if (!/^\d+$/.test(s)) throw new InvalidArgumentError(`"${s}" is not a number of hours (0, 24, 168, …)`);
  return Number(s);
};

/** The time limits of `berth serve`'s connections. */
export function timeoutOptions(cmd: Command): Command {
  return cmd
    .addOption(
      new Option(
        '--idle-timeout <seconds>',
        'close a connection on which no byte moves for SECONDS (a stalled body or head, an answer not read); progress resets it, 0: never (default: 60)',
      )
        .env('BERTH_IDLE_TIMEOUT')
        .argParser(seconds),
    )
    .addOption(
      new Option('--headers-timeout <seconds>', 'the time a request head may take to arrive (default: 60)')
        .env('BERTH_HEADERS_TIMEOUT')
        .argParser(seconds),
    );
}

const limit = (what: string) => (s: string) => {
  if (s === 'none') return null;
  if (!/^\d{1,9}$/.test(s) || Number(s) < 1)
    throw new InvalidArgumentError(`"${s}" is not a number of ${what} (1, 2, …) or none`);
  return Number(s);
};

/** The retention rule new repositories start with (`berth repo retain` changes a repository's own). */
export function retentionOptions(cmd: Command): Command {
  return cmd
    .addOption(
      new Option(
        '--retain-versions <n>',
        'new repositories keep the latest N versions, and (--retain-days) the younger ones; none: no count limit (default: 10)',
      )
        .env('BERTH_RETAIN_VERSIONS')
        .argParser(limit('versions')),
    )
    .addOption(
      new Option(
        '--retain-days <d>',
        'new repositories keep versions younger than D days, and the latest --retain-versions; none: no age limit (default: 30)',
      )
        .env('BERTH_RETAIN_DAYS')
        .argParser(limit('days')),
    );
}

/** What each archive limit bounds, for the help. */
const ARCHIVE_LIMIT_HELP: Record<ArchiveLimit, string> = {
  entries: 'entries of an archive (files, directories, links)',
  nameBytes: 'bytes of an entry name or link target',
  extendedHeaderBytes: 'bytes of one PAX header or GNU long-name block',
  paxRecords: 'records of one PAX header',
  metadataBytes: 'bytes of all names and extended headers of an archive',
  gzipRatio: 'how many times its compressed size a gzip archive may expand to (after the slack)',
  gzipSlackBytes: 'bytes a gzip archive may expand to beyond the ratio',
  gzipTotalBytes: 'decompressed bytes of a gzip archive',
};

const SIZE_UNITS: Record<string, number> = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 };

/** A whole number, with an optional binary unit for sizes: 4096, 64k, 16M, 64G (K/M/G/T: KiB, MiB, GiB, TiB). */
const limitValue =
  (limit: ArchiveLimit, sizes: boolean) =>
  (s: string): number => {
    const m = sizes ? /^(\d+)([kmgt]?)(i?b)?$/i.exec(s) : /^(\d+)()$/.exec(s);
    const n = m ? Number(m[1]) * SIZE_UNITS[m[2]!.toLowerCase()]! : NaN;
    const min = limit === 'gzipSlackBytes' ? 0 : 1;
    if (!Number.isSafeInteger(n) || n < min)
      throw new InvalidArgumentError(
        `"${s}" is not a limit: give a whole number${min ? ' above 0' : ''}${sizes ? ' of bytes (e.g. 4096, 64K, 16M, 64G)' : ''}`,
      );
    return n;
  };

const camel = (option: string): string => option.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

/** The archive limits of `berth serve` (src/archive/tar-guard.ts), each an option with today's value as default. */
export function archiveLimitOptions(cmd: Command): Command {
  for (const limit of Object.keys(ARCHIVE_LIMIT_OPTIONS) as ArchiveLimit[]) {
    const sizes = limit.endsWith('Bytes');
    cmd.addOption(
      new Option(
        `--${ARCHIVE_LIMIT_OPTIONS[limit]} <${sizes ? 'bytes' : 'n'}>`,
        `archive uploads: at most N ${ARCHIVE_LIMIT_HELP[limit]} (default: ${ARCHIVE_LIMITS[limit]})`,
      )
        .env(archiveLimitEnv(limit))
        .argParser(limitValue(limit, sizes)),
    );
  }
  return cmd;
}

/** The archive limits given among `berth serve`'s options. */
export function archiveLimitsOf(opts: ServeOptions): Partial<ArchiveLimits> {
  const limits: Partial<ArchiveLimits> = {};
  for (const limit of Object.keys(ARCHIVE_LIMIT_OPTIONS) as ArchiveLimit[]) {
    const value = opts[camel(ARCHIVE_LIMIT_OPTIONS[limit]) as `archive${string}`];
    if (value !== undefined) limits[limit] = value;
  }
  return limits;
}

const count = (s: string): number => {
  if (!/^\d+$/.test(s)) throw new InvalidArgumentError(`"${s}" is not a whole number (0, 100, 1000, …)`);
  return Number(s);
};

/** The bounds of open upload sessions of `berth serve`. */
export function uploadLimitOptions(cmd: Command): Command {
  return cmd
    .addOption(
      new Option(
        '--max-uploads-per-repository <count>',
        'the most upload sessions open at once in one repository; more are refused (429) until some finish, are cancelled or expire (default: 1000, 0: no bound)',
      )
        .env('BERTH_MAX_UPLOADS_PER_REPOSITORY')
        .argParser(count),
    )
    .addOption(
      new Option(
        '--max-uploads-per-user <count>',
        'the most upload sessions one user has open at once, in all repositories (default: 1000, 0: no bound)',
      )
        .env('BERTH_MAX_UPLOADS_PER_USER')
        .argParser(count),
    );
}

/** The scheduled cleanup's options of `berth serve`. */
export function cleanupScheduleOptions(cmd: Command): Command {
  return cmd
    .addOption(
      new Option(
        '--cleanup-interval <seconds>',
        'run cleanup every SECONDS, on one process at a time when several share the database; 0: never (default: 3600, hourly)',
      )
        .env('BERTH_CLEANUP_INTERVAL')
        .argParser(seconds),
    )
    .addOption(
      new Option(
        '--cleanup-protection <seconds>',
        'the scheduled cleanup keeps what was claimed or committed this recently (default: 3600)',
      )
        .env('BERTH_CLEANUP_PROTECTION')
        .argParser(seconds),
    )
    .addOption(
      new Option(
        '--untagged-after <hours>',
        'cleanup removes manifests no tag points to (and no tagged index or kept subject needs) HOURS after they were pushed or lost their last tag, in repositories with no policy of their own (`berth repo untagged`); default: keep them',
      )
        .env('BERTH_UNTAGGED_AFTER')
        .argParser(hours),
    );
}

/** `--no-ui`: serve the registry and the management API only, no web pages at /. */
export function uiOptions(cmd: Command): Command {
  return cmd.addOption(
    new Option('--no-ui', 'do not serve the web pages at / (the registry and /api/v1 stay); default: served'),
  );
}

/** `--no-sendfile`: whole blobs over plain HTTP go through streams, not the sendfile addon. */
export function sendfileOptions(cmd: Command): Command {
  return cmd.addOption(
    new Option(
      '--no-sendfile',
      'send whole blobs over plain HTTP through streams, not with sendfile(2) from the optional addon; default: sendfile where the addon is built',
    ),
  );
}

/** The blob store options of the commands that open an instance's store (serve, fsck). */
export function storeOptions(cmd: Command): Command {
  return cmd
    .addOption(
      new Option(
        '--store <url>',
        'keep blobs in S3-compatible object storage: s3://BUCKET[/PREFIX]; credentials from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or a credentials file (AWS_SHARED_CREDENTIALS_FILE, AWS_PROFILE), never in the URL (default: files under the data folder)',
      ).env('BERTH_STORE'),
    )
    .addOption(
      new Option(
        '--s3-endpoint <url>',
        'the S3 server, for S3-compatible storage (Ceph RGW, MinIO, …), addressed path-style (default: AWS)',
      ).env('BERTH_S3_ENDPOINT'),
    )
    .addOption(
      new Option('--s3-region <region>', 'the S3 region (default: AWS_REGION, else us-east-1)').env(
        'BERTH_S3_REGION',
      ),
    );
}

/** The S3 store the options name, or undefined for the filesystem store; S3 options without --store are refused. */
export async function s3StoreOf(opts: {
  store?: string;
  s3Endpoint?: string;
  s3Region?: string;
}): Promise<import('../app.js').BerthConfig['s3']> {
  if (opts.store === undefined) {
    if (opts.s3Endpoint !== undefined || opts.s3Region !== undefined) {
      throw new Error('--s3-endpoint and --s3-region go with --store s3://BUCKET[/PREFIX]: give it too');
    }
    return undefined;
  }
  const { parseS3Store } = await import('../app.js');
  return parseS3Store(opts.store, { endpoint: opts.s3Endpoint, region: opts.s3Region });
}

export async function serve(opts: ServeOptions): Promise<void> {
  tuneHeap();
  const s3 = await s3StoreOf(opts);
  const s3Redirect = await s3RedirectOf(opts, s3);
  // loaded here so that client commands never load the server's modules (database drivers and all)
  const { startServer } = await import('../server.js');
  const { cleanupInterval, cleanupProtection, untaggedAfter, idleTimeout, headersTimeout } = opts;
  const { listen, data, database, tlsCert, tlsKey, trustProxy, tokenTtl } = opts;
  const { maxUploadsPerRepository, maxUploadsPerUser, retainVersions, retainDays, secretKeyFile } = opts;
  const server = await startServer({
    listen,
    data,
    database,
    tlsCert,
    tlsKey,
    trustProxy,
    tokenTtl,
    maxUploadsPerRepository,
    maxUploadsPerUser,
    secretKeyFile,
    ...(opts.ui === false ? { ui: false } : {}),
    ...(opts.sendfile === false ? { sendfile: false } : {}),
    ...(s3 ? { s3 } : {}),
    ...(s3Redirect ? { s3Redirect } : {}),
    archiveLimits: archiveLimitsOf(opts),
    retention: {
      ...(retainVersions === undefined ? {} : { versions: retainVersions }),
      ...(retainDays === undefined ? {} : { days: retainDays }),
    },
    untaggedAfterHours: untaggedAfter,
    idleTimeoutSeconds: idleTimeout,
    headersTimeoutSeconds: headersTimeout,
    cleanupIntervalSeconds: cleanupInterval,
    cleanupProtectionSeconds: cleanupProtection,
  });
  console.log(`berth listening on ${server.url}`);
  let closing = false;
  const stop = (signal: NodeJS.Signals): void => {
    if (closing) {
      console.error(`berth: ${signal} again: exiting without waiting for requests to finish`);
      process.exit(1);
    }
    closing = true;
    console.error(`berth: ${signal}: closing…`);
    server.close().then(
      () => process.exit(0),
      (e: unknown) => {
        console.error(`berth: closing the server failed: ${(e as Error).message}`);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}
