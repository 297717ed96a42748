// `berth serve`: its scheduling and cleanup options; starts the server, prints where it listens, closes cleanly on SIGINT/SIGTERM.
import { InvalidArgumentError, Option, type Command } from 'commander';

export interface ServeOptions {
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
  /** the most upload sessions open at once per repository, per user (0: no bound) */
  maxUploadsPerRepository?: number;
  maxUploadsPerUser?: number;
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

export async function serve(opts: ServeOptions): Promise<void> {
  // loaded here so that client commands never load the server's modules (database drivers and all)
  const { startServer } = await import('../server.js');
  const { cleanupInterval, cleanupProtection, untaggedAfter, idleTimeout, headersTimeout, ...rest } = opts;
  const server = await startServer({
    ...rest,
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
