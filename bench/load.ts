// The load generator: a child process of its own (forked by loadgen.ts, so it shares no event loop with the
// bench or a server), N keep-alive connections each sending one request after another for a given time, or
// until told to stop. It answers with request count, errors, requests per second and latency percentiles.
import { Agent, request } from 'node:http';
import { percentile } from './stats.js';

export interface LoadSpec {
  url: string;
  /** paths (with query) taken in turn instead of `url`'s, on its host: requests that a cache of recent answers
   * cannot all keep (tag pages after many different `last=`) */
  paths?: string[];
  method: 'GET' | 'HEAD';
  headers: Record<string, string>;
  connections: number;
  /** requests in the first seconds are not counted (connections open, caches warm) */
  warmupSeconds: number;
  /** how long to measure; undefined: until the parent sends 'stop' */
  seconds?: number;
}

export interface LoadResult {
  requests: number;
  errors: number;
  /** status code → count (of counted requests) */
  statuses: Record<string, number>;
  seconds: number;
  rps: number;
  /** milliseconds */
  p50: number;
  p90: number;
  p99: number;
  max: number;
  firstError?: string;
}

function run(spec: LoadSpec, stopped: Promise<void>): Promise<LoadResult> {
  const u = new URL(spec.url);
  const agent = new Agent({ keepAlive: true, maxSockets: spec.connections });
  const options = {
    hostname: u.hostname,
    port: u.port,
    path: u.pathname + u.search,
    method: spec.method,
    headers: spec.headers,
    agent,
  };
  const latencies: number[] = [];
  const statuses: Record<string, number> = {};
  let errors = 0;
  let firstError: string | undefined;
  let counting = false;
  let stop = false;
  let measureStart = 0n;
  void stopped.then(() => (stop = true));
  let turn = 0;

  const one = () =>
    new Promise<void>((resolve) => {
      const t0 = process.hrtime.bigint();
      const path = spec.paths?.length ? spec.paths[turn++ % spec.paths.length]! : options.path;
      const req = request({ ...options, path }, (res) => {
        res.on('data', () => undefined);
        res.on('end', () => {
          if (counting) {
            latencies.push(Number(process.hrtime.bigint() - t0) / 1e6);
            const s = String(res.statusCode);
            statuses[s] = (statuses[s] ?? 0) + 1;
            if ((res.statusCode ?? 0) >= 400) {
              errors++;
              firstError ??= `${spec.method} ${path}: ${res.statusCode}`;
            }
          }
          resolve();
        });
      });
      req.on('error', (e) => {
        if (counting) {
          errors++;
          firstError ??= `${spec.method} ${path}: ${e.message}`;
        }
        setTimeout(resolve, 10);
      });
      req.end();
    });

  const loop = async () => {
    while (!stop) await one();
  };
  const loops = Array.from({ length: spec.connections }, loop);
  const begin = () => {
    counting = true;
    measureStart = process.hrtime.bigint();
  };
  if (spec.warmupSeconds > 0) setTimeout(begin, spec.warmupSeconds * 1000);
  else begin();
  if (spec.seconds !== undefined) setTimeout(() => (stop = true), (spec.warmupSeconds + spec.seconds) * 1000);
  return Promise.all(loops).then(() => {
    const seconds = measureStart ? Number(process.hrtime.bigint() - measureStart) / 1e9 : 0;
    agent.destroy();
    const sorted = Float64Array.from(latencies).sort();
    return {
      requests: latencies.length,
      errors,
      statuses,
      seconds,
      rps: seconds > 0 ? latencies.length / seconds : 0,
      p50: percentile(sorted, 50),
      p90: percentile(sorted, 90),
      p99: percentile(sorted, 99),
      max: sorted.length ? sorted[sorted.length - 1]! : NaN,
      ...(firstError ? { firstError } : {}),
    };
  });
}

if (process.send) {
  let stopRequested: () => void = () => undefined;
  const stopped = new Promise<void>((r) => (stopRequested = r));
  process.on('message', (m: { spec?: LoadSpec; stop?: boolean }) => {
    if (m.stop) stopRequested();
    if (m.spec) {
      run(m.spec, stopped).then(
        (result) => process.send!({ result }, () => process.exit(0)),
        (e: unknown) => process.send!({ error: String(e) }, () => process.exit(1)),
      );
    }
  });
}
