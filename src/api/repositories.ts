// /api/v1/repositories: list, show, versions, a version's content and the diff between two versions.
import type { Berth } from '../app.js';
import { can } from '../auth/principal.js';
import { nextLink } from '../http/pagination.js';
import { intParam, type RouteContext } from '../http/router.js';
import { versionNumber } from '../http/route-params.js';
import { includeDeleted } from './removals.js';

/**
 * The repositories the caller may pull from, in lexical order (deleted ones only with `includeDeleted=true`); with
 * `n`, a page of at most n after `last`, and a `Link: <…?n=N&last=L>; rel="next"` header when more follow (as the
 * registry's catalog).
 */
export async function listRepositories(berth: Berth, { query, principal, reply }: RouteContext) {
  const n = intParam(query, 'n');
  const withDeleted = includeDeleted(query);
  const repos = await berth.repositories.listWhere((name) => can(principal, name, 'pull'), {
    n: n === undefined ? undefined : n + 1,
    last: query.get('last') ?? undefined,
    includeDeleted: withDeleted,
  });
  const page = n === undefined ? repos : repos.slice(0, n);
  if (n !== undefined && n > 0 && repos.length > n) {
    const link = nextLink('/api/v1/repositories', n, page.at(-1)!.name);
    reply.header('Link', withDeleted ? link.replace('>;', '&includeDeleted=true>;') : link);
  }
  return { repositories: page };
}

/** The repository, with what quotas count for it and the quotas that govern it. */
export async function showRepository(berth: Berth, { name }: RouteContext<'name'>) {
  const { info } = await berth.repositories.get(name);
  return { ...info, usage: await berth.quotas.of(name) };
}

export async function listVersions(berth: Berth, { name }: RouteContext<'name'>) {
  return { versions: await berth.history.versions(name) };
}

export async function showVersion(berth: Berth, { name, number: n }: RouteContext<'name' | 'number'>) {
  return berth.history.show(name, n);
}

export async function diffVersions(
  berth: Berth,
  { name, number: to, query }: RouteContext<'name' | 'number'>,
) {
  const from = query.get('from');
  return berth.history.diffFrom(name, to, from === null ? undefined : versionNumber(from));
}
