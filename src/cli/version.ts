// `berth version delete|restore` and `berth repo retain`: change a repository's history through the management API.
import { Repository, VersionSummary } from '../api/schemas.js';
import { expect } from './api-types.js';
import { repositoryPath } from './client.js';
import { clientFor } from './credentials.js';
import { restoreLine, retentionLines } from './format.js';
import type { RepoOptions } from './repo.js';

const printJson = (value: unknown): void => console.log(JSON.stringify(value, null, 2));

/** Deletes a version (its changes fold into the next one); --json prints `{"repository", "deleted"}`. */
export async function versionDelete(name: string, number: number, opts: RepoOptions): Promise<void> {
  await clientFor(opts).call('DELETE', repositoryPath(name, `/-/versions/${number}`));
  if (opts.json) return printJson({ repository: name, deleted: number });
  console.log(`${name}: deleted version ${number}`);
}

/** Makes a new version with the content of version `number`. */
export async function versionRestore(name: string, number: number, opts: RepoOptions): Promise<void> {
  const path = repositoryPath(name, `/-/versions/${number}/restore`);
  const answer = await clientFor(opts).call('POST', path);
  if (opts.json) return printJson(answer);
  console.log(restoreLine(name, number, expect(VersionSummary, answer, `POST /${path}`)));
}

/**
 * Sets a repository's retention rule as a whole (a part left null: no limit) and prints the versions it removed;
 * with `dryRun`, only what it would remove.
 */
export async function repoRetain(
  name: string,
  rule: { versions: number | null; days: number | null },
  opts: RepoOptions & { dryRun?: boolean },
): Promise<void> {
  const path = repositoryPath(name);
  const answer = await clientFor(opts).patchJson(path, {
    retainVersions: rule.versions,
    retainDays: rule.days,
    ...(opts.dryRun ? { dryRun: true } : {}),
  });
  if (opts.json) return printJson(answer);
  const repo = expect(Repository, answer, `PATCH /${path}`);
  // a dry run answers the repository as it is: the lines speak of the rule asked for
  const shown = repo.dryRun ? { ...repo, retainVersions: rule.versions, retainDays: rule.days } : repo;
  for (const line of retentionLines(shown)) console.log(line);
}
