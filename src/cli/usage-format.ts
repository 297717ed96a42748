// How quotas and disk usage print: `berth quota list`, `berth du`, and the usage lines of `berth repo show`.
import type {
  DiskUsage,
  QuotaInfo,
  Repository,
  RepositoryDiskUsage,
  RepositoryDiskUsageWithQuotas,
} from '../api/schemas.js';
import { formatBytes, table } from './format.js';

/** How full a quota is: "60%", "0%" for an empty quota of 0, "∞" for a quota of 0 that is exceeded. */
const percent = (usage: number, limit: number): string =>
  limit === 0 ? (usage > 0 ? '∞' : '0%') : `${Math.floor((usage / limit) * 100)}%`;

/** "1.20 MiB of 2.00 GiB (0%)" */
const ofLimit = (usage: number, limit: number): string =>
  `${formatBytes(usage)} of ${formatBytes(limit)} (${percent(usage, limit)})`;

export function quotaTable(quotas: QuotaInfo[]): string {
  if (quotas.length === 0) return 'no quotas';
  return table([
    ['PATTERN', 'LIMIT', 'USED', 'USED %'],
    ...quotas.map((q) => [q.pattern, formatBytes(q.limit), formatBytes(q.usage), percent(q.usage, q.limit)]),
  ]);
}

/** `berth quota set`: "team/* may hold 2.00 GiB (2147483648 bytes); it holds 1.20 MiB" */
export const quotaLine = (q: QuotaInfo): string =>
  `${q.pattern} may hold ${formatBytes(q.limit)} (${q.limit} bytes); ${q.pattern.includes('*') ? 'the repositories matching it hold' : 'it holds'} ${formatBytes(q.usage)}`;

/** The rows `berth repo show` adds: what quotas count for the repository, and each quota on it. */
export function usageRows(repo: Repository): string[][] {
  if (!repo.usage) return [];
  return [
    ['usage', `${formatBytes(repo.usage.bytes)} (latest version and pending pushes)`],
    ...repo.usage.quotas.map((q) => [`quota ${q.pattern}`, ofLimit(q.usage, q.limit)]),
  ];
}

const repositoryRow = (r: RepositoryDiskUsage): string[] => [
  r.name,
  formatBytes(r.latest),
  formatBytes(r.pending),
  formatBytes(r.retained),
  formatBytes(r.unique),
];
const REPOSITORY_HEADER = ['REPOSITORY', 'LATEST', 'PENDING', 'RETAINED', 'UNIQUE'];

/** `berth du NAME` */
export function repositoryUsageTable(r: RepositoryDiskUsageWithQuotas): string {
  const lines = [table([REPOSITORY_HEADER, repositoryRow(r)])];
  for (const q of r.quotas) lines.push(`quota ${q.pattern}: ${ofLimit(q.usage, q.limit)}`);
  return lines.join('\n');
}

/** `berth du`: every repository, then the whole store. */
export function diskUsageTables(du: DiskUsage): string {
  const s = du.store;
  const repos = du.repositories.length
    ? table([REPOSITORY_HEADER, ...du.repositories.map(repositoryRow)])
    : 'no repositories';
  const count = (n: number, what: string) => `${n} ${what}${n === 1 ? '' : 's'}`;
  const store = table([
    ['STORE', 'BYTES', 'COUNT'],
    ['blobs', formatBytes(s.blobs.bytes), count(s.blobs.count, 'blob')],
    ['  referenced', formatBytes(s.referenced.bytes), count(s.referenced.count, 'blob')],
    [
      '  unreferenced',
      formatBytes(s.unreferenced.bytes),
      `${count(s.unreferenced.count, 'blob')}, awaiting cleanup`,
    ],
    ['upload sessions', formatBytes(s.uploads.bytes), count(s.uploads.sessions, 'session')],
    [
      'staging',
      formatBytes(s.staging.bytes),
      `${count(s.staging.files, 'file')} of archive uploads in progress`,
    ],
  ]);
  return `${repos}\n\n${store}`;
}
