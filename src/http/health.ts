// GET /healthz (the process answers) and GET /readyz (its database answers, its blob store takes writes): for probes.
import type { FastifyInstance } from 'fastify';
import type { Berth } from '../app.js';
import { ping } from '../db/connect.js';
import { probeStore } from '../storage/probe.js';
import { realClock, type Clock } from '../gc/clock.js';

/** How long a readiness check may take before it counts as failed (a hung NFS mount never answers). */
export const CHECK_TIMEOUT_MS = 5000;

/**
 * How long the store check's outcome is answered again before the store is probed anew: probes every few seconds
 * from several load balancers cost one write per this time, and a store that stops taking writes fails /readyz
 * within it.
 */
export const STORE_CHECK_CACHE_MS = 5000;

/** `check`'s outcome, shared by the calls within `ms` of the one that ran it (on `clock`). */
function cachedFor(check: () => Promise<string>, ms: number, clock: Clock): () => Promise<string> {
  let last: { at: number; outcome: Promise<string> } | undefined;
  return () => {
    const now = clock.now();
    if (!last || now - last.at >= ms || now < last.at) last = { at: now, outcome: check() };
    return last.outcome;
  };
}

/**
 * 'ok', or 'failed: ' and the reason: an error code where there is one (ECONNREFUSED, ENOSPC, …), as the answer
 * goes to anyone who asks and a message may name paths or hosts; `log` gets the whole error.
 */
async function check(what: () => Promise<void>, log: (err: unknown) => void): Promise<string> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`no answer in ${CHECK_TIMEOUT_MS / 1000} s`)),
      CHECK_TIMEOUT_MS,
    );
  });
  try {
    await Promise.race([what(), timeout]);
    return 'ok';
  } catch (e) {
    log(e);
    const code = (e as { code?: unknown }).code;
    return `failed: ${typeof code === 'string' ? code : (e as Error).message}`;
  } finally {
    clearTimeout(timer);
  }
}

export function installHealth(app: FastifyInstance, berth: Berth, clock: Clock = realClock): void {
  const storeCheck = cachedFor(
    () =>
      check(
        () => probeStore(berth.store),
        (err) => app.log.warn({ err }, 'not ready: the blob store cannot be written'),
      ),
    STORE_CHECK_CACHE_MS,
    clock,
  );
  app.get('/healthz', { config: { routeName: 'healthz' } }, async (_req, reply) =>
    reply.header('cache-control', 'no-store').send({ status: 'ok' }),
  );
  app.get('/readyz', { config: { routeName: 'readyz' } }, async (req, reply) => {
    const [database, store] = await Promise.all([
      check(
        () => ping(berth.db),
        (err) => req.log.warn({ err }, 'not ready: the database does not answer'),
      ),
      storeCheck(),
    ]);
    const ready = database === 'ok' && store === 'ok';
    return reply
      .code(ready ? 200 : 503)
      .header('cache-control', 'no-store')
      .send({ status: ready ? 'ok' : 'unavailable', checks: { database, store } });
  });
}
