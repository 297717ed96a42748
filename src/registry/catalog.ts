// GET /v2/_catalog: the names of the repositories the caller may pull from, in lexical order, paginated.
import type { Berth } from '../app.js';
import { can } from '../auth/principal.js';
import { BerthError } from '../core/errors.js';
import { challenge } from '../http/access.js';
import { intParam, type RouteContext } from '../http/router.js';
import { nextLink } from '../http/pagination.js';

export async function catalog(
  berth: Berth,
  { req, reply, query, principal }: RouteContext,
): Promise<unknown> {
  const n = intParam(query, 'n');
  const last = query.get('last') ?? undefined;
  // a registry token names repositories; the listing follows what its user may pull
  const who = await berth.auth.behind(principal);
  const visible = (name: string) => can(who, name, 'pull');
  const repos = await berth.repositories.listWhere(visible, { n: n === undefined ? undefined : n + 1, last });
  // An anonymous caller sees the public repositories; where there is none, it is asked to sign in (clients that
  // send credentials only after a 401 would otherwise list nothing), as Distribution asks for registry:catalog:*.
  if (who.user === null && repos.length === 0) {
    const anyPublic =
      last !== undefined && (await berth.repositories.listWhere(visible, { n: 1 })).length > 0;
    if (!anyPublic) {
      challenge(berth.auth, req, reply, 'registry', 'registry:catalog:*');
      throw new BerthError('UNAUTHORIZED', 'authentication required to list the repositories');
    }
  }
  const names = repos.map((r) => r.name);
  const page = n === undefined ? names : names.slice(0, n);
  if (n !== undefined && names.length > n && n > 0)
    reply.header('Link', nextLink('/v2/_catalog', n, page.at(-1)!));
  return reply.send({ repositories: page });
}
