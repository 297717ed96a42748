// /api/v1/quotas (set, remove, list: administrators) and the disk usage of `berth du` (/api/v1/usage).
import { z } from 'zod';
import type { Berth } from '../app.js';
import { parsePattern } from '../auth/permissions.js';
import { BerthError } from '../core/errors.js';
import { parseSize } from '../core/sizes.js';
import type { RouteContext } from '../http/router.js';

const QuotaSetting = z
  .object({ pattern: z.string(), limit: z.union([z.number().int().min(0), z.string()]) })
  .strict();

export const QuotaBody = {
  schema: QuotaSetting,
  expected: '{"pattern": "team/*", "limit": "2GiB"} (limit: a size such as 500MiB or 2GiB, or whole bytes)',
};

export const listQuotas = async (berth: Berth) => ({ quotas: await berth.quotas.list() });

/** PUT /api/v1/quotas: sets or changes the quota on a pattern; answers it with its usage. */
export async function setQuota(berth: Berth, ctx: RouteContext<never, z.infer<typeof QuotaSetting>>) {
  const pattern = parsePattern(ctx.body.pattern);
  const limit = typeof ctx.body.limit === 'number' ? ctx.body.limit : parseSize(ctx.body.limit);
  const quota = await berth.quotas.set(pattern, limit);
  ctx.auditDetail = { pattern, limit };
  return quota;
}

/** DELETE /api/v1/quotas?pattern=team/*: 204. */
export async function removeQuota(berth: Berth, { query, reply }: RouteContext) {
  const pattern = query.get('pattern');
  if (pattern === null) throw new BerthError('PARAMETER_INVALID', 'say which quota: ?pattern=team/*');
  await berth.quotas.remove(pattern);
  return reply.code(204).send();
}

/** GET /api/v1/usage: every repository's bytes and the whole store's (`berth du`). */
export async function diskUsage(berth: Berth) {
  return {
    repositories: await berth.diskUsage.repositories(),
    store: await berth.diskUsage.wholeStore(),
  };
}

/** GET /api/v1/repositories/<name>/-/usage: one repository's bytes (`berth du NAME`) and the quotas on it. */
export async function repositoryDiskUsage(berth: Berth, { name }: RouteContext<'name'>) {
  const [usage] = await berth.diskUsage.repositories(name);
  return { ...usage!, quotas: (await berth.quotas.of(name)).quotas };
}
