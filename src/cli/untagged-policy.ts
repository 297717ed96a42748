// `berth repo untagged NAME keep|default|--after HOURS`: what cleanup does with a repository's untagged manifests (the policy).
import type { Command } from 'commander';
import { Repository } from '../api/schemas.js';
import { expect } from './api-types.js';
import { repositoryPath } from './client.js';
import { clientFor, type ClientOptions } from './credentials.js';
import { argument, clientOptions } from './options.js';
import { UsageError } from './report.js';
import { parseRepositoryName } from '../core/references.js';

type Opts = ClientOptions & { json?: boolean; after?: number };

const hours = argument((s) => {
  if (!/^\d+$/.test(s)) throw new Error(`"${s}" is not a number of hours (0, 24, 168, …)`);
  return Number(s);
});

/** `library/app removes untagged manifests 24 hours after they lose their tag`, and the like. */
export function untaggedLine(repo: Repository): string {
  const u = repo.untagged;
  if (!u || u.policy === 'default') return `${repo.name} follows the server's default for untagged manifests`;
  if (u.policy === 'keep') return `${repo.name} keeps untagged manifests`;
  return `${repo.name} removes untagged manifests ${u.afterHours} hour(s) after they were pushed or lost their last tag`;
}

export async function repoUntagged(name: string, policy: string | undefined, opts: Opts): Promise<void> {
  const given = [policy, opts.after].filter((x) => x !== undefined).length;
  if (given !== 1 || (policy !== undefined && policy !== 'keep' && policy !== 'default'))
    throw new UsageError(
      'say what cleanup does with untagged manifests: keep, default (the server’s --untagged-after), or --after HOURS',
    );
  const body = opts.after !== undefined ? { policy: 'remove', afterHours: opts.after } : { policy };
  const path = repositoryPath(name, '/-/untagged');
  const answer = await clientFor(opts).putJson(path, body);
  if (opts.json) return void console.log(JSON.stringify(answer, null, 2));
  console.log(untaggedLine(expect(Repository, answer, `PUT /${path}`)));
}

/** Registers `repo untagged` under the `repo` command. */
export function addUntaggedCommand(repo: Command): void {
  clientOptions(
    repo
      .command('untagged')
      .description(
        'what cleanup does with manifests no tag points to (and no tagged index or kept subject needs): keep them, follow the server default, or remove them after HOURS',
      ),
  )
    .argument('<name>', 'repository', argument(parseRepositoryName))
    .argument('[policy]', 'keep, or default (the server’s --untagged-after)')
    .option(
      '--after <hours>',
      'remove untagged manifests HOURS after they were pushed or lost their last tag',
      hours,
    )
    .action((n: string, policy: string | undefined, opts: Opts) => repoUntagged(n, policy, opts));
}
