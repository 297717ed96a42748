// POST /api/v1/cleanup: removes unreferenced, unclaimed content older than the protection time (or reports it).
import { z } from 'zod';
import type { Berth } from '../app.js';
import type { RouteContext } from '../http/router.js';

const Body = z
  .object({
    dryRun: z.boolean().optional(),
    protectionSeconds: z
      .number()
      .int()
      .min(0)
      .max(10 * 365 * 24 * 3600)
      .optional(),
  })
  .strict();

export const CleanupBody = {
  schema: Body,
  expected: '{"dryRun": true|false, "protectionSeconds": <whole seconds, 0 or more>}',
};

export async function runCleanup(berth: Berth, { req, body }: RouteContext<never, z.infer<typeof Body>>) {
  return berth.cleanup.run({ ...body, log: req.log });
}
