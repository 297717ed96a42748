// Builds the HTTP server of a berth instance, and starts one from the command line's options.
import Fastify, { type FastifyInstance } from 'fastify';
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { createSecureContext } from 'node:tls';
import { openBerth, type Berth, type BerthConfig } from './app.js';
import { answerFrameworkError, installErrorHandling, refuseUnknownPathsEarly } from './http/errors.js';
import { installBodyParsers } from './http/body.js';
import { mountRegistry } from './registry/routes.js';
import { mountApi } from './api/routes.js';
import { mountUi } from './ui/mount.js';
import { uiRoutes } from './ui/routes.js';
import { installHealth } from './http/health.js';
import { installMetrics } from './http/metrics.js';
import { installTimeouts, type TimeoutOptions } from './http/timeouts.js';
import { BlobSender } from './http/sendfile.js';
import { DEFAULT_CLEANUP_INTERVAL_SECONDS, Jobs } from './jobs.js';
import type { Clock } from './gc/clock.js';
import type { ArchiveLimits } from './archive/tar-guard.js';

export interface ServerOptions extends TimeoutOptions {
  logLevel?: string;
  /** PEM certificate chain and key: serve HTTPS */
  tls?: { cert: Buffer; key: Buffer };
  /**
   * The addresses or CIDRs of the proxies in front (as parseTrustedProxies reads them): X-Forwarded-For is
   * followed from the right through these hops only, and X-Forwarded-Proto/-Host are read only from them (for
   * the client's address and the token realm). Absent or empty: no X-Forwarded-* header is trusted.
   */
  trustProxy?: readonly string[];
  /** run cleanup every this many seconds, on one process at a time (0 or absent: never) */
  cleanupIntervalSeconds?: number;
  /** the scheduled cleanup's protection time (default as for `berth cleanup`: 3600) */
  cleanupProtectionSeconds?: number;
  /** the clock /readyz times its cached store check by (tests move a fake one) */
  clock?: Clock;
  /** serve the web pages at / (default true; `berth serve --no-ui`: false) */
  ui?: boolean;
  /**
   * whole blobs over plain HTTP/1.1 from the files store go by sendfile(2) when the addon is built (default true;
   * `berth serve --no-sendfile`: false, every blob goes through a stream)
   */
  sendfile?: boolean;
}

export function buildServer(berth: Berth, opts: ServerOptions = {}): FastifyInstance {
  const app = Fastify({
    logger: {
      level: opts.logLevel ?? process.env.BERTH_LOG_LEVEL ?? 'info',
      // credentials never reach the log, whatever a serializer is made to include
      redact: { paths: ['req.headers.authorization', 'req.headers.cookie'], censor: '[redacted]' },
    },
    ...(opts.tls ? { https: { cert: opts.tls.cert, key: opts.tls.key } } : {}),
    // fastify (proxy-addr) takes the rightmost address of X-Forwarded-For that none of these proxies is: what the
    // nearest untrusted hop connected from; whatever a client wrote to the left of it is ignored
    trustProxy: opts.trustProxy?.length ? [...opts.trustProxy] : false,
    // Archives and blobs are streamed by the handlers; only small JSON bodies are parsed here.
    bodyLimit: 1024 * 1024,
    requestTimeout: 0,
    return503OnClosing: true,
    frameworkErrors: answerFrameworkError,
  });
  installTimeouts(app, opts);
  installBodyParsers(app);
  installErrorHandling(app);
  // /metrics, /healthz and /readyz sit beside the two APIs: probes and scrapers carry no credentials
  const sender = new BlobSender({ enabled: opts.sendfile !== false, log: app.log });
  const metrics = installMetrics(app, berth, { sender });
  installHealth(app, berth, opts.clock);
  refuseUnknownPathsEarly(app);
  // the background jobs: started when the server is ready, stopped (runs finished) before it closes
  const jobs = new Jobs(berth, {
    cleanupIntervalSeconds: opts.cleanupIntervalSeconds,
    cleanupProtectionSeconds: opts.cleanupProtectionSeconds,
    log: app.log,
  });
  metrics.cleanupInterval.set(jobs.schedule ? (opts.cleanupIntervalSeconds ?? 0) : 0);
  if (jobs.schedule) metrics.observeSchedule(jobs.schedule);
  app.addHook('onReady', async () => jobs.start());
  app.addHook('preClose', async () => jobs.stop());
  mountRegistry(app, berth, sender);
  mountApi(app, berth);
  if (opts.ui !== false) mountUi(app, berth, uiRoutes(berth));
  app.addHook('onClose', async () => berth.close());
  return app;
}

function splitListen(listen: string): { host: string; port: number } {
  const i = listen.lastIndexOf(':');
  if (i < 0) throw new Error(`--listen must be HOST:PORT, got "${listen}"`);
  const host = listen.slice(0, i).replace(/^\[|\]$/g, '');
  const port = Number(listen.slice(i + 1));
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new Error(`invalid port in --listen "${listen}"`);
  return { host, port };
}

/**
 * The first start on an empty database creates the administrator `admin`: with BERTH_ADMIN_PASSWORD's password,
 * or a generated one printed here once. Later starts say that BERTH_ADMIN_PASSWORD is ignored, and how to reset.
 */
async function bootstrapAdmin(berth: Berth): Promise<void> {
  const given = process.env.BERTH_ADMIN_PASSWORD;
  const made = await berth.auth.users.ensureAdmin(given);
  if (!made.created) {
    if (given !== undefined && given !== '') {
      console.error(
        'berth: BERTH_ADMIN_PASSWORD is ignored: the database has users already (it only sets the first ' +
          "administrator's password); to set a new one, run: berth admin reset-password admin",
      );
    }
    return;
  }
  if (made.generated) {
    console.error(
      `berth: created the administrator "admin" with the password ${made.password}\n` +
        'berth: it is shown only this once: log in with it and change it (berth user passwd admin)',
    );
  } else {
    console.error('berth: created the administrator "admin" with the password in BERTH_ADMIN_PASSWORD');
  }
}

/** The names proxy-addr knows for address ranges: 127.0.0.1/8 and ::1; 169.254/16 and fe80::/10; private ranges. */
const RANGE_NAMES = new Set(['loopback', 'linklocal', 'uniquelocal']);

/**
 * `--trust-proxy`: the comma-separated addresses or CIDRs (`10.0.0.5`, `10.0.0.0/24`, `fd00::/8`; or `loopback`,
 * `linklocal`, `uniquelocal`) of the proxies in front of berth. Refuses anything else, naming it.
 */
export function parseTrustedProxies(value: string): string[] {
  const entries = value.split(',').map((e) => e.trim());
  for (const e of entries) {
    if (RANGE_NAMES.has(e)) continue;
    const [addr = '', bits, extra] = e.split('/');
    const family = isIP(addr);
    const max = family === 4 ? 32 : 128;
    const okBits = bits === undefined || (/^\d{1,3}$/.test(bits) && Number(bits) <= max);
    if (family === 0 || !okBits || extra !== undefined) {
      throw new Error(
        `--trust-proxy takes the addresses or CIDRs of the proxies in front, comma-separated ` +
          `(e.g. 127.0.0.1 or 10.0.0.0/24, or loopback), not "${e}"`,
      );
    }
  }
  return entries;
}

/** Reads the certificate and key of --tls-cert/--tls-key, refusing with a message that names the culprit. */
function readTls(certFile: string, keyFile: string): { cert: Buffer; key: Buffer } {
  const read = (option: string, file: string): Buffer => {
    try {
      return readFileSync(file);
    } catch (e) {
      throw new Error(`cannot read ${option} ${file}: ${(e as Error).message}`);
    }
  };
  const files = { cert: read('--tls-cert', certFile), key: read('--tls-key', keyFile) };
  try {
    createSecureContext(files);
  } catch (e) {
    throw new Error(
      `--tls-cert ${certFile} and --tls-key ${keyFile} are not a PEM certificate (chain) and its private key: ${(e as Error).message}`,
    );
  }
  return files;
}

/** Opens the instance and listens. `listen` defaults to 127.0.0.1:5000, `data` to ./berth-data. */
export async function startServer(opts: {
  listen?: string;
  data?: string;
  database?: string;
  logLevel?: string;
  tlsCert?: string;
  tlsKey?: string;
  /** the proxies in front: see parseTrustedProxies */
  trustProxy?: string;
  /** lifetime of registry tokens, in seconds */
  tokenTtl?: number;
  /** default: hourly (DEFAULT_CLEANUP_INTERVAL_SECONDS); 0: never */
  cleanupIntervalSeconds?: number;
  cleanupProtectionSeconds?: number;
  /** untagged manifests go after this many hours where a repository sets no policy (default: kept) */
  untaggedAfterHours?: number;
  idleTimeoutSeconds?: number;
  headersTimeoutSeconds?: number;
  /** the retention rule new repositories start with */
  retention?: BerthConfig['retention'];
  /** the archive limits given (`--archive-max-…`); the others keep their defaults */
  archiveLimits?: Partial<ArchiveLimits>;
  /** the most upload sessions open at once per repository, per user (0: no bound) */
  maxUploadsPerRepository?: number;
  maxUploadsPerUser?: number;
  /** the key remote passwords are encrypted with (default: <data>/secret.key, made on first need) */
  secretKeyFile?: string;
  /** serve the web pages at / (default true) */
  ui?: boolean;
  /** whole blobs over plain HTTP by sendfile where the addon is built (default true) */
  sendfile?: boolean;
  /** blobs in S3 (`--store s3://…`) instead of files under the data folder */
  s3?: BerthConfig['s3'];
  /** blob GETs answer 307 to presigned S3 URLs (`--s3-redirect`, with its lifetime and public endpoint) */
  s3Redirect?: BerthConfig['s3Redirect'];
}): Promise<{ url: string; close(): Promise<void>; app: FastifyInstance }> {
  if ((opts.tlsCert === undefined) !== (opts.tlsKey === undefined))
    throw new Error('--tls-cert and --tls-key go together: give both, or neither for plain HTTP');
  const tls =
    opts.tlsCert !== undefined && opts.tlsKey !== undefined ? readTls(opts.tlsCert, opts.tlsKey) : undefined;
  const trustProxy = opts.trustProxy === undefined ? undefined : parseTrustedProxies(opts.trustProxy);
  const berth = await openBerth({
    data: opts.data ?? './berth-data',
    database: opts.database,
    ...(opts.s3 ? { s3: opts.s3 } : {}),
    ...(opts.s3Redirect ? { s3Redirect: opts.s3Redirect } : {}),
    ...(opts.secretKeyFile === undefined ? {} : { secretKeyFile: opts.secretKeyFile }),
    ...(opts.retention ? { retention: opts.retention } : {}),
    ...(opts.tokenTtl === undefined ? {} : { auth: { tokenTtlSeconds: opts.tokenTtl } }),
    cleanup: { untaggedAfterHours: opts.untaggedAfterHours ?? null },
    ...(opts.archiveLimits ? { archiveLimits: opts.archiveLimits } : {}),
    uploads: {
      ...(opts.maxUploadsPerRepository === undefined
        ? {}
        : { maxPerRepository: opts.maxUploadsPerRepository }),
      ...(opts.maxUploadsPerUser === undefined ? {} : { maxPerUser: opts.maxUploadsPerUser }),
    },
  });
  await bootstrapAdmin(berth);
  const app = buildServer(berth, {
    logLevel: opts.logLevel,
    ...(tls ? { tls } : {}),
    ...(trustProxy ? { trustProxy } : {}),
    cleanupIntervalSeconds: opts.cleanupIntervalSeconds ?? DEFAULT_CLEANUP_INTERVAL_SECONDS,
    ...(opts.ui === false ? { ui: false } : {}),
    ...(opts.sendfile === false ? { sendfile: false } : {}),
    ...(opts.cleanupProtectionSeconds === undefined
      ? {}
      : { cleanupProtectionSeconds: opts.cleanupProtectionSeconds }),
    ...(opts.idleTimeoutSeconds === undefined ? {} : { idleTimeoutSeconds: opts.idleTimeoutSeconds }),
    ...(opts.headersTimeoutSeconds === undefined
      ? {}
      : { headersTimeoutSeconds: opts.headersTimeoutSeconds }),
  });
  const { host, port } = splitListen(opts.listen ?? '127.0.0.1:5000');
  await app.listen({ host, port });
  const addr = app.server.address();
  const actualPort = typeof addr === 'object' && addr ? addr.port : port;
  const shownHost = host.includes(':') ? `[${host}]` : host;
  const scheme = tls ? 'https' : 'http';
  return { url: `${scheme}://${shownHost}:${actualPort}`, close: () => app.close(), app };
}
