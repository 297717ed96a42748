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

export async function runCleanup(berth: Berth, ctx: RouteContext<never, z.infer<typeof Body>>) {
  const report = await berth.cleanup.run({ ...ctx.body, log: ctx.req.log });
  // the audit log records what went: per repository, the version cleanup made
  ctx.auditDetail = {
    removedBlobs: report.removed.blobs,
    removedBytes: report.removed.bytes,
    repositories: report.repositories.map((r) => ({
      repository: r.repository,
      version: r.version,
      blobs: r.blobs,
      manifests: r.manifests,
    })),
  };
  return report;
}
