// Runs the scheduled cleanup while the server runs: started when it is ready, stopped (a run finished) before it closes.
import type { FastifyInstance } from 'fastify';
import type { Berth } from '../app.js';
import { CleanupSchedule } from '../gc/schedule.js';
import { Leases } from '../db/leases.js';

export function installCleanupSchedule(
  app: FastifyInstance,
  berth: Berth,
  opts: { intervalSeconds: number; protectionSeconds?: number },
): CleanupSchedule {
  const schedule = new CleanupSchedule(berth.cleanup, new Leases(berth.db.kysely), {
    ...opts,
    log: app.log.child({ job: 'scheduled-cleanup' }),
  });
  app.addHook('onReady', async () => schedule.start());
  app.addHook('preClose', async () => schedule.stop());
  return schedule;
}
