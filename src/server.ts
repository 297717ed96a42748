// Builds the HTTP server of a berth instance, and starts one from the command line's options.
import Fastify, { type FastifyInstance } from 'fastify';
import { openBerth, type Berth } from './app.js';
import { installErrorHandling } from './http/errors.js';
import { installBodyParsers } from './http/body.js';
import { mountRegistry } from './registry/routes.js';
import { mountApi } from './api/routes.js';
import { removeStaleStaging } from './repo/leftovers.js';
import { installHealth } from './http/health.js';
import { installMetrics } from './http/metrics.js';
import { installCleanupSchedule } from './http/scheduled-cleanup.js';

export interface ServerOptions {
  logLevel?: string;
  /** run cleanup every this many seconds, on one process at a time (0 or absent: never) */
  cleanupIntervalSeconds?: number;
  /** the scheduled cleanup's protection time (default as for `berth cleanup`: 3600) */
  cleanupProtectionSeconds?: number;
}

export function buildServer(berth: Berth, opts: ServerOptions = {}): FastifyInstance {
  const app = Fastify({
    logger: { level: opts.logLevel ?? process.env.BERTH_LOG_LEVEL ?? 'info' },
    // Archives and blobs are streamed by the handlers; only small JSON bodies are parsed here.
    bodyLimit: 1024 * 1024,
    requestTimeout: 0,
    return503OnClosing: true,
  });
  installBodyParsers(app);
  installErrorHandling(app);
  // /metrics, /healthz and /readyz sit beside the two APIs: probes and scrapers carry no credentials
  const metrics = installMetrics(app, berth);
  installHealth(app, berth);
  if (opts.cleanupIntervalSeconds) {
    const schedule = installCleanupSchedule(app, berth, {
      intervalSeconds: opts.cleanupIntervalSeconds,
      protectionSeconds: opts.cleanupProtectionSeconds,
    });
    metrics.observeSchedule(schedule);
  }
  mountRegistry(app, berth);
  mountApi(app, berth);
  // Abandoned upload sessions expire: swept at start and every ten minutes.
  const sweep = () =>
    berth.uploads.expire().then(
      (n) => n > 0 && app.log.info({ removed: n }, 'expired upload sessions removed'),
      (err: unknown) => app.log.error({ err }, 'expiring upload sessions failed'),
    );
  const timer = setInterval(sweep, 10 * 60_000);
  timer.unref();
  // A crashed process's archive uploads leave staging folders: removed at start once older than the protection
  // time (a fresh one may be another process's upload in progress).
  const sweepStaging = () =>
    removeStaleStaging(berth.store).then(
      (ids) => ids.length > 0 && app.log.info({ removed: ids.length }, 'stale staging folders removed'),
      (err: unknown) => app.log.error({ err }, 'removing stale staging folders failed'),
    );
  // And a cleanup that died leaves files in trash/: settled as it would have settled them.
  const recoverTrash = () =>
    berth.cleanup.recoverTrash().then(
      (n) => n > 0 && app.log.info({ settled: n }, 'files left in trash by an unfinished cleanup settled'),
      (err: unknown) => app.log.error({ err }, 'settling trash failed'),
    );
  app.addHook('onReady', async () => void (sweep(), sweepStaging(), recoverTrash()));
  app.addHook('onClose', async () => {
    clearInterval(timer);
    await berth.close();
  });
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

/** Opens the instance and listens. `listen` defaults to 127.0.0.1:5000, `data` to ./berth-data. */
export async function startServer(
  opts: {
    listen?: string;
    data?: string;
    database?: string;
  } & ServerOptions,
): Promise<{ url: string; close(): Promise<void>; app: FastifyInstance }> {
  const berth = await openBerth({ data: opts.data ?? './berth-data', database: opts.database });
  const app = buildServer(berth, opts);
  const { host, port } = splitListen(opts.listen ?? '127.0.0.1:5000');
  await app.listen({ host, port });
  const addr = app.server.address();
  const actualPort = typeof addr === 'object' && addr ? addr.port : port;
  const shownHost = host.includes(':') ? `[${host}]` : host;
  return { url: `http://${shownHost}:${actualPort}`, close: () => app.close(), app };
}
