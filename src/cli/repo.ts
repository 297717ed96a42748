// `berth repo list|show|versions|diff`: reads the management API and prints tables, or the raw JSON with --json.
import { Repository, RepositoryList, Version, VersionDiff, VersionList } from '../api/schemas.js';
import { expect } from './api-types.js';
import { repositoryPath } from './client.js';
import { clientFor } from './credentials.js';
import { diffLines, repositoryDetails, repositoryTable, versionTable } from './format.js';
import { untaggedLines } from './untagged.js';
import { usageRows } from './usage-format.js';

export interface RepoOptions {
  server: string;
  json?: boolean;
}

const printJson = (value: unknown): void => console.log(JSON.stringify(value, null, 2));

export async function repoList(opts: RepoOptions): Promise<void> {
  const path = repositoryPath('').replace(/\/$/, '');
  const answer = await clientFor(opts).getJson(path);
  if (opts.json) return printJson(answer);
  console.log(repositoryTable(expect(RepositoryList, answer, `GET /${path}`).repositories));
}

/** Prints the repository, its latest version's content and untagged images; --json gives `{"repository", "latestVersion"}`. */
export async function repoShow(name: string, opts: RepoOptions): Promise<void> {
  const client = clientFor(opts);
  const repoAnswer = await client.getJson(repositoryPath(name));
  const repo = expect(Repository, repoAnswer, `GET /${repositoryPath(name)}`);
  const versionPath = repositoryPath(name, `/-/versions/${repo.latestVersion}`);
  const versionAnswer = repo.latestVersion ? await client.getJson(versionPath) : null;
  if (opts.json) return printJson({ repository: repoAnswer, latestVersion: versionAnswer });
  const latest = versionAnswer === null ? undefined : expect(Version, versionAnswer, `GET /${versionPath}`);
  console.log(
    [repositoryDetails(repo, latest, usageRows(repo)), ...untaggedLines(latest?.untagged)].join('\n'),
  );
}

export async function repoVersions(name: string, opts: RepoOptions): Promise<void> {
  const path = repositoryPath(name, '/-/versions');
  const answer = await clientFor(opts).getJson(path);
  if (opts.json) return printJson(answer);
  console.log(versionTable(expect(VersionList, answer, `GET /${path}`).versions));
}

/** What version `to` added and removed relative to version `from`. */
export async function repoDiff(name: string, from: number, to: number, opts: RepoOptions): Promise<void> {
  const path = repositoryPath(name, `/-/versions/${to}/diff?from=${from}`);
  const answer = await clientFor(opts).getJson(path);
  if (opts.json) return printJson(answer);
  console.log(diffLines(name, expect(VersionDiff, answer, `GET /${path}`)).join('\n'));
}
