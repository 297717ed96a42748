// Changing a repository's history: PATCH its retention, DELETE a version, restore a version as a new one.
import { z } from 'zod';
import type { Berth } from '../app.js';
import type { RouteContext } from '../http/router.js';

const limit = z.number().int().min(1).max(1_000_000_000).nullable();
const Settings = z
  .object({ retainVersions: limit.optional(), retainDays: limit.optional(), dryRun: z.boolean().optional() })
  .strict()
  .refine((b) => b.retainVersions !== undefined || b.retainDays !== undefined, {
    message: 'give retainVersions, retainDays or both',
  });

export const SettingsBody = {
  schema: Settings,
  expected:
    '{"retainVersions": N, "retainDays": D, "dryRun": true|false} with N and D whole numbers of at least 1, or null for no limit; ' +
    'a field left out is no limit (give at least one of retainVersions and retainDays)',
};

/**
 * PATCH /api/v1/repositories/<name> `{"retainVersions", "retainDays", "dryRun"}`: sets the retention rule as a
 * whole and applies it; answers the repository's info with the versions removed (or that would be, in a dry run).
 * The audit records the new rule and what it removed.
 */
export async function updateRepository(berth: Berth, c: RouteContext<'name', z.infer<typeof Settings>>) {
  const { name, body } = c;
  const rule = { versions: body.retainVersions ?? null, days: body.retainDays ?? null };
  const r = await berth.history.setRetention(name, rule, { dryRun: body.dryRun ?? false });
  c.auditDetail = {
    retainVersions: rule.versions,
    retainDays: rule.days,
    dryRun: r.dryRun,
    removedVersions: r.removedVersions,
  };
  return { ...r.repository, removedVersions: r.removedVersions, dryRun: r.dryRun };
}

/** DELETE /api/v1/repositories/<name>/-/versions/<n>: 204; the latest version cannot be deleted. */
export async function deleteVersion(berth: Berth, { name, number, reply }: RouteContext<'name' | 'number'>) {
  await berth.history.deleteVersion(name, number);
  return reply.code(204).send();
}

/** POST /api/v1/repositories/<name>/-/versions/<n>/restore: 201 with the new version's summary. */
export async function restoreVersion(berth: Berth, ctx: RouteContext<'name' | 'number'>) {
  const { name, number: n, reply } = ctx;
  const made = await berth.history.restore(name, n);
  // `number` (the version restored) is recorded from the path; `version` is the one the restore made
  ctx.auditDetail = { version: made.number };
  return reply.code(201).send(made);
}
