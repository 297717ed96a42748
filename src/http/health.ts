// GET /healthz (the process answers) and GET /readyz (its database and blob store answer): for probes, no credentials.
import { randomUUID } from 'node:crypto';
import { buffer } from 'node:stream/consumers';
import type { FastifyInstance } from 'fastify';
import type { Berth } from '../app.js';
import { ping } from '../db/connect.js';
import type { BlobStore } from '../storage/blob-store.js';
import { Keys } from '../storage/cas.js';

/** How long a readiness check may take before it counts as failed (a hung NFS mount never answers). */
export const CHECK_TIMEOUT_MS = 5000;

/** Writes a few bytes under probes/, reads them back and deletes them. */
export async function probeStore(store: BlobStore): Promise<void> {
  const key = Keys.probe(randomUUID());
  const bytes = Buffer.from(`berth readiness probe ${Date.now()}\n`);
  try {
    const w = await store.writer(key);
    await new Promise<void>((resolve, reject) => {
      w.once('error', reject);
      w.end(bytes, () => resolve());
    });
    const back = await buffer(await store.reader(key));
    if (!back.equals(bytes)) throw new Error('the probe read back differs from what was written');
  } finally {
    await store.delete(key).catch(() => undefined);
  }
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

export function installHealth(app: FastifyInstance, berth: Berth): void {
  app.get('/healthz', { config: { routeName: 'healthz' } }, async (_req, reply) =>
    reply.header('cache-control', 'no-store').send({ status: 'ok' }),
  );
  app.get('/readyz', { config: { routeName: 'readyz' } }, async (req, reply) => {
    const [database, store] = await Promise.all([
      check(
        () => ping(berth.db),
        (err) => req.log.warn({ err }, 'not ready: the database does not answer'),
      ),
      check(
        () => probeStore(berth.store),
        (err) => req.log.warn({ err }, 'not ready: the blob store does not answer'),
      ),
    ]);
    const ready = database === 'ok' && store === 'ok';
    return reply
      .code(ready ? 200 : 503)
      .header('cache-control', 'no-store')
      .send({ status: ready ? 'ok' : 'unavailable', checks: { database, store } });
  });
}
