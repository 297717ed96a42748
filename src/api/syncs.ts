// /api/v1: syncs of a repository from a remote (start one, its schedule) and the sync runs (list, show).
import { z } from 'zod';
import type { Berth } from '../app.js';
import { can } from '../auth/principal.js';
import { BerthError } from '../core/errors.js';
import type { RouteContext } from '../http/router.js';

const Start = z
  .object({
    remote: z.string().min(1),
    upstream: z.string().min(1).optional(),
    mirror: z.boolean().optional(),
  })
  .strict();

export const SyncBody = {
  schema: Start,
  expected:
    '{"remote": "<remote name>", "upstream": "<upstream repository, default: the same name>", "mirror": true|false}',
};

const Schedule = Start.extend({
  everySeconds: z
    .number()
    .int()
    .min(60)
    .max(366 * 24 * 3600),
}).strict();

export const ScheduleBody = {
  schema: Schedule,
  expected:
    '{"remote": "<remote name>", "upstream": "<upstream repository>", "mirror": true|false, "everySeconds": <whole seconds, 60 or more>}',
};

/** POST /api/v1/repositories/<name>/-/sync: 202 with the run (state running); its progress at /api/v1/sync-runs/<id>. */
export async function startSync(berth: Berth, ctx: RouteContext<'name', z.infer<typeof Start>>) {
  const { run } = await berth.syncs.start({
    repository: ctx.name,
    remote: ctx.body.remote,
    upstream: ctx.body.upstream,
    mirror: ctx.body.mirror,
    trigger: 'api',
    actor: ctx.principal.user ?? undefined,
  });
  ctx.auditDetail = { run: run.id, remote: run.remote, upstream: run.upstream, mirror: run.mirror };
  ctx.reply.code(202).header('Location', `/api/v1/sync-runs/${run.id}`);
  return { run, schedule: null };
}

/** PUT /api/v1/repositories/<name>/-/sync-schedule: sync every N seconds, on one process at a time. */
export async function setSchedule(berth: Berth, ctx: RouteContext<'name', z.infer<typeof Schedule>>) {
  const schedule = await berth.syncSchedules.set({
    repository: ctx.name,
    remote: ctx.body.remote,
    upstream: ctx.body.upstream,
    mirror: ctx.body.mirror ?? false,
    everySeconds: ctx.body.everySeconds,
  });
  ctx.auditDetail = { remote: schedule.remote, everySeconds: schedule.everySeconds };
  return { run: null, schedule };
}

/** GET /api/v1/repositories/<name>/-/sync-schedule. */
export async function showSchedule(berth: Berth, ctx: RouteContext<'name'>) {
  return { run: null, schedule: await berth.syncSchedules.get(ctx.name) };
}

/** DELETE /api/v1/repositories/<name>/-/sync-schedule: 204 (404 SYNC_RUN_UNKNOWN: none was set). */
export async function removeSchedule(berth: Berth, ctx: RouteContext<'name'>) {
  await berth.syncSchedules.remove(ctx.name);
  return ctx.reply.code(204).send();
}

/** GET /api/v1/sync-runs[?repository=R]: newest first, the runs of the repositories the caller may pull. */
export async function listRuns(berth: Berth, { query, principal }: RouteContext) {
  const repository = query.get('repository') ?? undefined;
  if (repository !== undefined && !can(principal, repository, 'pull')) {
    throw new BerthError('DENIED', `${principal.user ?? 'anonymous'} may not pull repository ${repository}`);
  }
  const runs = await berth.syncs.runs.list(repository);
  return { runs: runs.filter((r) => can(principal, r.repository, 'pull')) };
}

/** GET /api/v1/sync-runs/<id>: one run (the caller must be allowed to pull its repository). */
export async function showRun(berth: Berth, { id, principal }: RouteContext<'id'>) {
  const run = await berth.syncs.runs.get(id);
  // the same answer as for no run at all, so ids of other teams' runs tell nothing
  if (!can(principal, run.repository, 'pull'))
    throw new BerthError('SYNC_RUN_UNKNOWN', `there is no sync run ${id}`);
  return run;
}
