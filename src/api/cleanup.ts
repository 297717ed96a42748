// POST /api/v1/cleanup: removes unreferenced, unclaimed content older than the protection time (or reports it).
import { z } from 'zod';
import type { Berth } from '../app.js';
import { BerthError } from '../core/errors.js';
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

export async function runCleanup(berth: Berth, { req }: RouteContext): Promise<unknown> {
  const parsed = Body.safeParse(req.body ?? {});
  if (!parsed.success) {
    throw new BerthError(
      'PARAMETER_INVALID',
      'the body must be JSON {"dryRun": true|false, "protectionSeconds": <whole seconds, 0 or more>}',
      parsed.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`),
    );
  }
  return berth.cleanup.run({ ...parsed.data, log: req.log });
}
