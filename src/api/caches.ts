// /api/v1/caches: the pull-through caches, listed, shown, added and removed by administrators.
import { z } from 'zod';
import type { Berth } from '../app.js';
import { BerthError } from '../core/errors.js';
import type { RouteContext } from '../http/router.js';

const seconds = z.number().int();
const NewCache = z
  .object({
    name: z.string(),
    remote: z.string(),
    prefix: z.string(),
    checkSeconds: seconds.optional(),
    staleSeconds: seconds.optional(),
    retainDays: seconds.nullable().optional(),
  })
  .strict();
export const NewCacheBody = {
  schema: NewCache,
  expected:
    '{"name": "hub", "remote": "dockerhub", "prefix": "cache/hub", "checkSeconds": 300, "staleSeconds": 86400, ' +
    '"retainDays": 30} (the last three optional)',
};

const CacheEdit = z
  .object({
    remote: z.string().optional(),
    prefix: z.string().optional(),
    checkSeconds: seconds.optional(),
    staleSeconds: seconds.optional(),
    retainDays: seconds.nullable().optional(),
  })
  .strict();
export const CacheEditBody = {
  schema: CacheEdit,
  expected:
    '{"remote": "dockerhub", "checkSeconds": 60, "staleSeconds": 3600, "retainDays": null} (any of them; ' +
    'retainDays null keeps content for ever; the prefix cannot change)',
};

export const listCaches = async (berth: Berth) => ({ caches: await berth.caches.list() });

export const showCache = (berth: Berth, c: RouteContext<'cache'>) => berth.caches.show(c.cache);

/** POST: 201 with the new cache. */
export async function addCache(berth: Berth, c: RouteContext<never, z.infer<typeof NewCache>>) {
  const cache = await berth.caches.add(c.body);
  c.auditDetail = { cache: cache.name, remote: cache.remote, prefix: cache.prefix };
  return c.reply.code(201).send(cache);
}

/** PATCH: the cache with the settings given changed, the others kept. */
export async function editCache(berth: Berth, c: RouteContext<'cache', z.infer<typeof CacheEdit>>) {
  // a body that is no JSON object reaches here as {}: nothing to change is refused, naming the shape
  if (Object.keys(c.body).length === 0) {
    throw new BerthError(
      'PARAMETER_INVALID',
      `the body must be JSON naming what to change: ${CacheEditBody.expected}`,
    );
  }
  const cache = await berth.caches.edit(c.cache, c.body);
  c.auditDetail = { cache: cache.name, changes: c.body };
  return cache;
}

/** DELETE: 204; the repositories it made stay. */
export async function removeCache(berth: Berth, c: RouteContext<'cache'>) {
  await berth.caches.remove(c.cache);
  c.auditDetail = { cache: c.cache };
  return c.reply.code(204).send();
}
