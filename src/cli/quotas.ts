// `berth quota set|remove|list` (administrators) and `berth du [REPO]`: storage quotas and disk usage.
import type { Command } from 'commander';
import { DiskUsage, QuotaInfo, QuotaList, RepositoryDiskUsageWithQuotas } from '../api/schemas.js';
import { parseSize } from '../core/sizes.js';
import { expect } from './api-types.js';
import { repositoryPath } from './client.js';
import { clientFor } from './credentials.js';
import { printJson } from './format.js';
import { argument, clientOptions } from './options.js';
import { parseRepositoryName } from '../core/references.js';
import type { CommandOptions } from './users.js';
import { diskUsageTables, quotaLine, quotaTable, repositoryUsageTable } from './usage-format.js';

export async function quotaSet(pattern: string, limit: number, opts: CommandOptions): Promise<void> {
  const answer = await clientFor(opts).putJson('api/v1/quotas', { pattern, limit });
  if (opts.json) return printJson(answer);
  console.log(quotaLine(expect(QuotaInfo, answer, 'PUT /api/v1/quotas')));
}

export async function quotaRemove(pattern: string, opts: CommandOptions): Promise<void> {
  await clientFor(opts).call('DELETE', `api/v1/quotas?pattern=${encodeURIComponent(pattern)}`);
  if (opts.json) return printJson({ pattern, removed: true });
  console.log(`removed the quota on ${pattern}`);
}

export async function quotaList(opts: CommandOptions): Promise<void> {
  const answer = await clientFor(opts).getJson('api/v1/quotas');
  if (opts.json) return printJson(answer);
  console.log(quotaTable(expect(QuotaList, answer, 'GET /api/v1/quotas').quotas));
}

/** Bytes of one repository (anyone who may pull it), or of every repository and the store (administrators). */
export async function du(name: string | undefined, opts: CommandOptions): Promise<void> {
  const client = clientFor(opts);
  if (name !== undefined) {
    const path = repositoryPath(name, '/-/usage');
    const answer = await client.getJson(path);
    if (opts.json) return printJson(answer);
    console.log(repositoryUsageTable(expect(RepositoryDiskUsageWithQuotas, answer, `GET /${path}`)));
    return;
  }
  const answer = await client.getJson('api/v1/usage');
  if (opts.json) return printJson(answer);
  console.log(diskUsageTables(expect(DiskUsage, answer, 'GET /api/v1/usage')));
}

export function addQuotaCommands(program: Command): void {
  const quota = program
    .command('quota')
    .description('storage quotas per repository or name pattern (administrators)');
  clientOptions(
    quota.command('set').description('let the repositories matching PATTERN hold at most SIZE together'),
  )
    .argument('<pattern>', 'a repository (team/app), a prefix (team/*), or * for all')
    .argument(
      '<size>',
      'e.g. 500MiB, 2GiB, 1.5TB (KiB/MiB/GiB/TiB: powers of 1024; kB/MB/GB/TB: of 1000)',
      argument(parseSize),
    )
    .action((p: string, size: number, opts: CommandOptions) => quotaSet(p, size, opts));
  clientOptions(quota.command('remove').description('remove the quota on PATTERN'))
    .argument('<pattern>', 'the pattern as set')
    .action((p: string, opts: CommandOptions) => quotaRemove(p, opts));
  clientOptions(
    quota.command('list').description('list the quotas with what their repositories hold'),
  ).action((opts: CommandOptions) => quotaList(opts));
  clientOptions(
    program
      .command('du')
      .description(
        'bytes per repository (latest version, pending, retained versions, unique) and of the whole store',
      ),
  )
    .argument(
      '[repo]',
      'only this repository (without: every repository and the store; administrators)',
      argument(parseRepositoryName),
    )
    .action((name: string | undefined, opts: CommandOptions) => du(name, opts));
}
