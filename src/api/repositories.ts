// /api/v1/repositories: list, show, versions, a version's content and the diff between two versions.
import type { Berth } from '../app.js';
import { BerthError } from '../core/errors.js';
import { parseRepositoryName } from '../core/references.js';
import { can } from '../auth/principal.js';
import { intParam, type RouteContext } from '../http/router.js';

export function versionNumber(s: string): number {
  if (!/^\d{1,9}$/.test(s)) throw new BerthError('PARAMETER_INVALID', `"${s}" is not a version number`);
  return Number(s);
}

/** The repositories the caller may pull from. */
export async function listRepositories(berth: Berth, { query, principal }: RouteContext): Promise<unknown> {
  return {
    repositories: await berth.repositories.listWhere((name) => can(principal, name, 'pull'), {
      n: intParam(query, 'n'),
      last: query.get('last') ?? undefined,
    }),
  };
}

export async function showRepository(berth: Berth, { params }: RouteContext): Promise<unknown> {
  return (await berth.repositories.get(parseRepositoryName(params.name!))).info;
}

export async function listVersions(berth: Berth, { params }: RouteContext): Promise<unknown> {
  return { versions: await berth.history.versions(parseRepositoryName(params.name!)) };
}

export async function showVersion(berth: Berth, { params }: RouteContext): Promise<unknown> {
  const name = parseRepositoryName(params.name!);
  const n = versionNumber(params.number!);
  const v = await berth.history.version(name, n);
  const content = await berth.history.content(name, n);
  return { number: v.number, createdAt: v.createdAt, added: v.added, removed: v.removed, content };
}

export async function diffVersions(berth: Berth, { params, query }: RouteContext): Promise<unknown> {
  const name = parseRepositoryName(params.name!);
  const to = versionNumber(params.number!);
  const fromParam = query.get('from');
  // by default, against the version before (numbers have gaps once versions are deleted); the oldest: itself
  const from =
    fromParam === null ? ((await berth.history.previousVersion(name, to)) ?? to) : versionNumber(fromParam);
  return { from, to, ...(await berth.history.diff(name, from, to)) };
}
