// GET /metrics: Prometheus metrics of one server (requests, bytes, uploads, usage, quotas, cleanup, caches, on-demand fetches, database pool, process).
import type { Socket } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Berth } from '../app.js';
import type { CleanupSchedule } from '../gc/schedule.js';
import { routeLabel } from './router.js';
import { offloadedBytes, type BlobSender } from './sendfile.js';

const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE']);

export interface MetricsOptions {
  /** prom-client's default metrics of the Node.js process (default true) */
  processMetrics?: boolean;
  /**
   * how long the quotas' usage, counted in the database on a scrape, is reused by later scrapes (default 60 s; 0:
   * counted at every scrape)
   */
  usageMaxAgeMs?: number;
  /** the server's blob sender: counts which path served each blob */
  sender?: BlobSender;
}

/** `compute`'s value, computed again only once it is older than `maxAgeMs` (one computation at a time). */
function reused<T>(maxAgeMs: number, compute: () => Promise<T>): () => Promise<T> {
  let last: { at: number; value: Promise<T> } | undefined;
  return () => {
    const now = Date.now();
    if (!last || now - last.at >= maxAgeMs) {
      const value = compute();
      last = { at: now, value };
      value.catch(() => (last = undefined)); // a failure is not kept
    }
    return last.value;
  };
}

/** The metrics of one server, in a registry of its own (so servers in one process do not clash). */
export class ServerMetrics {
  readonly registry = new Registry();
  readonly requests = new Counter({
    name: 'berth_http_requests_total',
    help: 'HTTP requests answered, by route, method and status code',
    labelNames: ['route', 'method', 'status'] as const,
    registers: [this.registry],
  });
  readonly duration = new Histogram({
    name: 'berth_http_request_duration_seconds',
    help: 'Time from receiving a request to having sent its answer, by route and method',
    labelNames: ['route', 'method'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
    registers: [this.registry],
  });
  readonly received = new Counter({
    name: 'berth_http_received_bytes_total',
    help: 'Bytes read from clients (headers and bodies), by route',
    labelNames: ['route'] as const,
    registers: [this.registry],
  });
  readonly sent = new Counter({
    name: 'berth_http_sent_bytes_total',
    help: 'Bytes written to clients (headers and bodies), by route',
    labelNames: ['route'] as const,
    registers: [this.registry],
  });
  readonly blobBodies = new Counter({
    name: 'berth_blob_bodies_total',
    help: 'Blob GETs answered with bytes, by how they went: sendfile (zero-copy, plain HTTP/1.1) or stream',
    labelNames: ['path'] as const,
    registers: [this.registry],
  });
  readonly cleanupRuns = new Counter({
    name: 'berth_cleanup_runs_total',
    help: 'Cleanup runs finished in this process (API, CLI and scheduled), by dry run or not',
    labelNames: ['dry_run'] as const,
    registers: [this.registry],
  });
  readonly cleanupBlobs = new Counter({
    name: 'berth_cleanup_removed_blobs_total',
    help: 'Blobs removed by cleanup runs of this process',
    registers: [this.registry],
  });
  readonly cleanupBytes = new Counter({
    name: 'berth_cleanup_removed_bytes_total',
    help: 'Bytes removed by cleanup runs of this process',
    registers: [this.registry],
  });
  readonly cleanupUnreferenced = new Counter({
    name: 'berth_cleanup_unreferenced_blobs_total',
    help: "Blobs cleanup runs of this process took out of repositories' latest versions (no manifest referenced them)",
    registers: [this.registry],
  });
  readonly cleanupUnreferencedBytes = new Counter({
    name: 'berth_cleanup_unreferenced_bytes_total',
    help: "Bytes of the blobs cleanup runs of this process took out of repositories' latest versions",
    registers: [this.registry],
  });
  readonly cleanupUntagged = new Counter({
    name: 'berth_cleanup_untagged_manifests_total',
    help: "Untagged manifests cleanup runs of this process took out of repositories' latest versions (by policy)",
    registers: [this.registry],
  });
  readonly cleanupInterval = new Gauge({
    name: 'berth_cleanup_interval_seconds',
    help: "The scheduled cleanup's interval on this server (0: off)",
    registers: [this.registry],
  });
  readonly rounds = new Counter({
    name: 'berth_cleanup_scheduled_rounds_total',
    help: 'Rounds of the scheduled cleanup this process tried: ran, skipped (another process had it) or failed',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });

  readonly cachePulls = new Counter({
    name: 'berth_cache_pulls_total',
    help:
      'Manifest pulls under a pull-through cache answered by this process, by cache and outcome: hit (served without ' +
      'asking upstream), revalidated (a HEAD found the tag unchanged), miss (fetched upstream), stale (upstream ' +
      'failed, the cached copy served), absent (upstream has none), failed (upstream failed, nothing to serve)',
    labelNames: ['cache', 'outcome'] as const,
    registers: [this.registry],
  });
  readonly onDemandFetches = new Counter({
    name: 'berth_on_demand_fetches_total',
    help: 'Blobs held on demand that this process fetched from their remote on first GET, by remote and outcome (ok, failed)',
    labelNames: ['remote', 'outcome'] as const,
    registers: [this.registry],
  });
  readonly onDemandBytes = new Counter({
    name: 'berth_on_demand_fetched_bytes_total',
    help: 'Bytes of the blobs this process fetched on demand and verified, by remote',
    labelNames: ['remote'] as const,
    registers: [this.registry],
  });

  constructor(berth: Berth, opts: MetricsOptions = {}) {
    const registers = [this.registry];
    new Gauge({
      name: 'berth_upload_sessions_open',
      help: 'Blob upload sessions open, in the whole database (every process reports the same number)',
      registers,
      async collect() {
        this.set(await berth.uploads.openCount().catch(() => NaN));
      },
    });
    const maxAge = opts.usageMaxAgeMs ?? 60_000;
    // Per quota, not per repository: /metrics answers without credentials, and no repository name appears in it.
    const quotas = reused(maxAge, () => berth.quotas.list());
    const quotaGauge = (name: string, help: string, value: (q: { limit: number; usage: number }) => number) =>
      new Gauge({
        name,
        help,
        labelNames: ['quota'] as const,
        registers,
        async collect() {
          const all = await quotas().catch(() => []);
          this.reset();
          for (const q of all) this.set({ quota: q.pattern }, value(q));
        },
      });
    quotaGauge('berth_quota_limit_bytes', 'The limit of each quota, by its pattern', (q) => q.limit);
    quotaGauge(
      'berth_quota_usage_bytes',
      'Bytes the repositories matching each quota hold together (latest versions and pending pushes, a blob two of them hold counting for each), by its pattern; counted on a scrape and reused for a minute',
      (q) => q.usage,
    );
    // the last ratelimit-remaining each remote answered (Docker Hub's pulls left), from the database: every process
    new Gauge({
      name: 'berth_remote_ratelimit_remaining',
      help: 'The last ratelimit-remaining each remote answered (its pulls left in the window), by remote',
      labelNames: ['remote'] as const,
      registers,
      async collect() {
        const all = await berth.remotes.rateLimits().catch(() => []);
        this.reset();
        for (const r of all) this.set({ remote: r.name }, r.remaining);
      },
    });
    const dialect = berth.db.dialect;
    const poolGauge = (name: string, help: string, value: () => number | null) =>
      new Gauge({
        name,
        help,
        labelNames: ['dialect'] as const,
        registers,
        collect() {
          const v = value();
          if (v !== null) this.set({ dialect }, v);
        },
      });
    poolGauge(
      'berth_database_connections',
      'Database connections open (SQLite: 1)',
      () => berth.db.pool().total,
    );
    poolGauge(
      'berth_database_connections_idle',
      'Database connections open and idle (PostgreSQL pool)',
      () => berth.db.pool().idle,
    );
    poolGauge(
      'berth_database_waiting_queries',
      'Queries waiting for a database connection (PostgreSQL pool)',
      () => berth.db.pool().waiting,
    );
    berth.cleanup.onRun((report) => {
      this.cleanupRuns.inc({ dry_run: String(report.dryRun) });
      if (report.dryRun) return;
      this.cleanupBlobs.inc(report.removed.blobs);
      this.cleanupBytes.inc(report.removed.bytes);
      for (const r of report.repositories) {
        this.cleanupUnreferenced.inc(r.blobs);
        this.cleanupUnreferencedBytes.inc(r.bytes);
        this.cleanupUntagged.inc(r.manifests);
      }
    });
    berth.pullThrough.onResolution(({ cache, outcome }) => this.cachePulls.inc({ cache, outcome }));
    berth.onDemand.onFetch(({ remote, outcome, bytes }) => {
      this.onDemandFetches.inc({ remote, outcome });
      if (bytes > 0) this.onDemandBytes.inc({ remote }, bytes);
    });
    opts.sender?.onServed((path) => this.blobBodies.inc({ path }));
    if (opts.processMetrics ?? true) collectDefaultMetrics({ register: this.registry });
  }

  observeSchedule(schedule: CleanupSchedule): void {
    schedule.onRound((r) => this.rounds.inc({ outcome: r.outcome }));
  }
}

/**
 * Counts every request when its answer is done, and serves GET /metrics. Bytes are counted on the connection
 * (headers included), so that streamed bodies of any size count without being touched:
 * - received, when the answer starts (onSend: the client cannot have sent its next request yet): what was read
 *   from the socket since the previous answer on it started, i.e. this request's headers and body (a body a
 *   refusal leaves unread counts toward the next request on the connection, if any);
 * - sent, when the answer is done: what was written to the socket since the request arrived. 'finish' is
 *   listened to first, before Node writes out a next (pipelined) answer on the same connection.
 * A streamed answer is done once its source has ended, which may be a moment after a client that knew its
 * length has read it all: its counts can show up a little after the client has moved on.
 */
export function installMetrics(app: FastifyInstance, berth: Berth, opts: MetricsOptions = {}): ServerMetrics {
  const m = new ServerMetrics(berth, opts);
  /** per connection: bytes read when the previous answer started */
  const readBefore = new WeakMap<Socket, number>();
  /** the requests whose received bytes are counted */
  const received = new WeakSet<object>();
  const countReceived = (raw: { socket: Socket | null }, route: string) => {
    const socket = raw.socket;
    if (!socket || received.has(raw)) return;
    received.add(raw);
    const read = socket.bytesRead;
    m.received.inc({ route }, Math.max(0, read - (readBefore.get(socket) ?? 0)));
    readBefore.set(socket, read);
  };
  app.addHook('onRequest', async (req, reply) => {
    const method = METHODS.has(req.method) ? req.method : 'other';
    const socket = req.raw.socket as Socket | null;
    const written = socket?.bytesWritten ?? 0;
    let done = false;
    const count = () => {
      if (done) return;
      done = true;
      const route = routeLabel(req);
      m.requests.inc({ route, method, status: String(reply.raw.statusCode) });
      m.duration.observe({ route, method }, reply.elapsedTime / 1000);
      countReceived(req.raw, route);
      // bytes sent by sendfile are not in the socket's count
      const aside = offloadedBytes(reply.raw);
      if (socket) m.sent.inc({ route }, Math.max(0, socket.bytesWritten - written) + aside);
    };
    reply.raw.prependListener('finish', count);
    reply.raw.once('close', count); // a client that went away before the end
  });
  app.addHook('onSend', async (req) => countReceived(req.raw, routeLabel(req)));
  app.get('/metrics', { config: { routeName: 'metrics' } }, async (_req, reply) => {
    const text = await m.registry.metrics();
    return reply
      .header('content-type', m.registry.contentType)
      .header('cache-control', 'no-store')
      .send(text);
  });
  return m;
}
