// GET /v2/_catalog: repository names in lexical order, paginated.
import type { Berth } from '../app.js';
import { intParam, type RouteContext } from '../http/router.js';
import { nextLink } from './pagination.js';

export async function catalog(berth: Berth, { reply, query }: RouteContext): Promise<unknown> {
  const n = intParam(query, 'n');
  const last = query.get('last') ?? undefined;
  const repos = await berth.repositories.list({ n: n === undefined ? undefined : n + 1, last });
  const names = repos.map((r) => r.name);
  const page = n === undefined ? names : names.slice(0, n);
  if (n !== undefined && names.length > n && n > 0)
    reply.header('Link', nextLink('/v2/_catalog', n, page.at(-1)!));
  return reply.send({ repositories: page });
}
