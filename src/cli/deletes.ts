// `berth tag delete`, `berth image delete` and `berth repo delete`: each makes one new version and prints it.
import type { Command } from 'commander';
import { Deletion } from '../api/schemas.js';
import { parseReference, parseRepositoryName, parseTag } from '../core/references.js';
import { expect } from './api-types.js';
import { repositoryPath } from './client.js';
import { clientFor, type ClientOptions } from './credentials.js';
import { printJson } from './format.js';
import { argument, clientOptions } from './options.js';

type Opts = ClientOptions & { json?: boolean };

const counts = (d: Deletion): string => {
  const removed = typeof d.version.removed === 'number' ? d.version.removed : undefined;
  return removed === undefined ? '' : ` (${removed} removed)`;
};

async function remove(path: string, opts: Opts, line: (d: Deletion) => string): Promise<void> {
  const answer = await clientFor(opts).call('DELETE', path);
  if (opts.json) return printJson(answer);
  console.log(line(expect(Deletion, answer, `DELETE /${path}`)));
}

export async function tagDelete(name: string, tag: string, opts: Opts): Promise<void> {
  await remove(
    repositoryPath(name, `/-/tags/${encodeURIComponent(tag)}`),
    opts,
    (d) => `${name}: deleted tag ${tag} in version ${d.version.number}`,
  );
}

export async function imageDelete(name: string, ref: string, opts: Opts): Promise<void> {
  await remove(repositoryPath(name, `/-/manifests/${encodeURIComponent(ref)}`), opts, (d) => {
    const tags = d.tags?.length ? ` and its tag${d.tags.length === 1 ? '' : 's'} ${d.tags.join(', ')}` : '';
    return `${name}: deleted image ${d.digest}${tags} in version ${d.version.number}`;
  });
}

export async function repoDelete(name: string, opts: Opts): Promise<void> {
  await remove(
    repositoryPath(name),
    opts,
    (d) =>
      `${name}: deleted in version ${d.version.number}${counts(d)}; hidden from the listings, its history kept ` +
      `(berth repo versions ${name}); a new push brings it back`,
  );
}

export function addDeleteCommands(program: Command): void {
  const name = argument(parseRepositoryName);
  const tag = program.command('tag').description('remove tags');
  clientOptions(tag.command('delete').description('remove a tag (its image stays): one new version'))
    .argument('<repo>', 'repository', name)
    .argument('<tag>', 'the tag', argument(parseTag))
    .action((n: string, t: string, opts: Opts) => tagDelete(n, t, opts));
  const image = program.command('image').description('remove images');
  clientOptions(
    image
      .command('delete')
      .description('remove an image (by digest or tag) and every tag on it: one new version'),
  )
    .argument('<repo>', 'repository', name)
    .argument(
      '<ref>',
      'the image: its digest (sha256:…) or a tag',
      argument((s) => (parseReference(s), s)),
    )
    .action((n: string, ref: string, opts: Opts) => imageDelete(n, ref, opts));
  const repo = program.commands.find((c) => c.name() === 'repo') ?? program.command('repo');
  clientOptions(
    repo
      .command('delete')
      .description('empty a repository in a new version and hide it from the listings (its history is kept)'),
  )
    .argument('<name>', 'repository', name)
    .action((n: string, opts: Opts) => repoDelete(n, opts));
}
