// `berth immutable add|remove|list`: the tag immutability rules, through the management API (administrators).
import type { Command } from 'commander';
import { ImmutableRule, ImmutableRuleList } from '../api/schemas.js';
import { parseRepositoryPattern, parseTagPattern } from '../core/patterns.js';
import { expect } from './api-types.js';
import { clientFor, type ClientOptions } from './credentials.js';
import { formatTime, table } from './format.js';
import { argument, clientOptions } from './options.js';

type Opts = ClientOptions & { json?: boolean };
const PATH = 'api/v1/immutable-tags';
const printJson = (value: unknown): void => console.log(JSON.stringify(value, null, 2));
const query = (repository: string, tag: string) =>
  `?repository=${encodeURIComponent(repository)}&tag=${encodeURIComponent(tag)}`;

export async function immutableAdd(repository: string, tag: string, opts: Opts): Promise<void> {
  const answer = await clientFor(opts).postJson(PATH, { repository, tag });
  if (opts.json) return printJson(answer);
  const rule = expect(ImmutableRule, answer, `POST /${PATH}`);
  console.log(
    `tags ${rule.tag} of repositories ${rule.repository} are immutable: they cannot be moved or deleted`,
  );
}

export async function immutableRemove(repository: string, tag: string, opts: Opts): Promise<void> {
  await clientFor(opts).call('DELETE', `${PATH}${query(repository, tag)}`);
  if (opts.json) return printJson({ repository, tag, removed: true });
  console.log(`tags ${tag} of repositories ${repository} are no longer immutable`);
}

export async function immutableList(opts: Opts): Promise<void> {
  const answer = await clientFor(opts).getJson(PATH);
  if (opts.json) return printJson(answer);
  const { rules } = expect(ImmutableRuleList, answer, `GET /${PATH}`);
  if (rules.length === 0) return console.log('no immutability rules: every tag can be moved and deleted');
  console.log(
    table([
      ['REPOSITORIES', 'TAGS', 'ADDED', 'BY'],
      ...rules.map((r) => [r.repository, r.tag, formatTime(r.createdAt), r.createdBy ?? '-']),
    ]),
  );
}

export function addImmutableCommands(program: Command): void {
  const cmd = program
    .command('immutable')
    .description(
      'tags that cannot be moved or deleted, by repository pattern and tag pattern (administrators)',
    );
  const repo = argument(parseRepositoryPattern);
  const tag = argument(parseTagPattern);
  const repoHelp = 'repositories: a name (team/app), a prefix (team/*) or *';
  const tagHelp = 'tags: a tag, or a pattern with * and ? (v*, *)';
  clientOptions(cmd.command('add').description('make matching tags immutable'))
    .argument('<repo-pattern>', repoHelp, repo)
    .argument('<tag-pattern>', tagHelp, tag)
    .action((r: string, t: string, opts: Opts) => immutableAdd(r, t, opts));
  clientOptions(
    cmd.command('remove').description('remove a rule: matching tags can be moved and deleted again'),
  )
    .argument('<repo-pattern>', repoHelp, repo)
    .argument('<tag-pattern>', tagHelp, tag)
    .action((r: string, t: string, opts: Opts) => immutableRemove(r, t, opts));
  clientOptions(cmd.command('list').description('list the immutability rules')).action((opts: Opts) =>
    immutableList(opts),
  );
}
