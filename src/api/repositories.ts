// /api/v1/repositories: list, show, versions, a version's content and the diff between two versions.
import type { Berth } from '../app.js';
import { can } from '../auth/principal.js';
import { intParam, type RouteContext } from '../http/router.js';
import { versionNumber } from '../http/route-params.js';
import { includeDeleted } from './removals.js';

/** The repositories the caller may pull from; deleted ones with `includeDeleted=true`. */
export async function listRepositories(berth: Berth, { query, principal }: RouteContext) {
  return {
    repositories: await berth.repositories.listWhere((name) => can(principal, name, 'pull'), {
      n: intParam(query, 'n'),
      last: query.get('last') ?? undefined,
      includeDeleted: includeDeleted(query),
    }),
  };
}

export async function showRepository(berth: Berth, { name }: RouteContext<'name'>) {
  return (await berth.repositories.get(name)).info;
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
