// GET /v2/<name>/tags/list with n/last pagination in lexical order.
import type { Berth } from '../app.js';
import { intParam, type RouteContext } from '../http/router.js';
import { nextLink } from '../http/pagination.js';

export async function listTags(berth: Berth, { reply, name, query }: RouteContext<'name'>): Promise<unknown> {
  const n = intParam(query, 'n');
  const last = query.get('last') ?? undefined;
  const tags = await berth.tags.list(name, { n: n === undefined ? undefined : n + 1, last });
  const page = n === undefined ? tags : tags.slice(0, n);
  if (n !== undefined && tags.length > n && n > 0)
    reply.header('Link', nextLink(`/v2/${name}/tags/list`, n, page.at(-1)!));
  return reply.send({ name, tags: page });
}
