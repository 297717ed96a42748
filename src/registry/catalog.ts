// GET /v2/_catalog: the names of the repositories the caller may pull from, in lexical order, paginated.
import type { Berth } from '../app.js';
import { can } from '../auth/principal.js';
import { intParam, type RouteContext } from '../http/router.js';
import { nextLink } from './pagination.js';

export async function catalog(berth: Berth, { reply, query, principal }: RouteContext): Promise<unknown> {
  const n = intParam(query, 'n');
  const last = query.get('last') ?? undefined;
  // a registry token names repositories; the listing follows what its user may pull
  const who = await berth.auth.behind(principal);
  const repos = await berth.repositories.listWhere((name) => can(who, name, 'pull'), {
    n: n === undefined ? undefined : n + 1,
    last,
  });
  const names = repos.map((r) => r.name);
  const page = n === undefined ? names : names.slice(0, n);
  if (n !== undefined && names.length > n && n > 0)
    reply.header('Link', nextLink('/v2/_catalog', n, page.at(-1)!));
  return reply.send({ repositories: page });
}
