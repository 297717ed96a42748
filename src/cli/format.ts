// Human-readable output: byte sizes, counts, dates, digests, tables, and the lines upload and repo commands print.
import type {
  ArchiveResult,
  Content,
  Repository,
  Version,
  VersionDiff,
  VersionSummary,
} from '../api/schemas.js';
import type { Omissions } from './omissions.js';
import { formatBytes } from '../core/sizes.js';

export { formatBytes };

export const plural = (n: number, one: string, many = `${one}s`): string => `${n} ${n === 1 ? one : many}`;

export const shortDigest = (d: string): string => (d.length > 19 ? `${d.slice(0, 19)}…` : d);

/** An ISO-8601 time to the second, in UTC ("2026-11-22 18:03:00Z"); anything else as given. */
export function formatTime(iso: string): string {
  const t = new Date(iso);
  return Number.isNaN(t.getTime())
    ? iso
    : t
        .toISOString()
        .replace('T', ' ')
        .replace(/\.\d+Z$/, 'Z');
}

/** Left-aligned columns separated by two spaces, the first row being the header. */
export function table(rows: string[][]): string {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  return rows
    .map((row) =>
      row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i] ?? 0))).join('  '),
    )
    .join('\n');
}

/** `library/app version 3: sha256:abc… tagged 1.0; 1 blob uploaded, 2 reused, 0 foreign` */
export function uploadSummary(r: ArchiveResult): string {
  const tagged = r.manifests.filter((m) => m.tags.length > 0);
  const untagged = r.manifests.length - tagged.length;
  const parts = tagged.map((m) => `${shortDigest(m.digest)} tagged ${m.tags.join(', ')}`);
  if (untagged > 0) {
    const only = r.manifests.find((m) => m.tags.length === 0);
    parts.push(
      tagged.length === 0 && untagged === 1 && only
        ? shortDigest(only.digest)
        : plural(untagged, 'untagged manifest'),
    );
  }
  const b = r.blobs;
  return (
    `${r.repository} version ${r.version}: ${parts.join(', ')}; ` +
    `${plural(b.uploaded, 'blob')} uploaded, ${b.reused} reused, ${b.foreign} foreign`
  );
}

/** What `--only-missing` left out: `left out 2 of 3 layers (120.6 KiB) already in library/app` */
export function omissionSummary(o: Omissions, repository: string, asked: number): string {
  const foreign = `${plural(o.foreign.blobs, 'foreign layer')} (${formatBytes(o.foreign.bytes)})`;
  if (o.present.blobs === 0) {
    const none = `${repository} holds none of the archive's ${plural(asked, 'layer')}`;
    return o.foreign.blobs > 0 ? `left out ${foreign}; ${none}` : `left out nothing: ${none}`;
  }
  const present = `${o.present.blobs} of ${plural(asked, 'layer')} (${formatBytes(o.present.bytes)}) already in ${repository}`;
  return `left out ${present}${o.foreign.blobs > 0 ? ` and ${foreign}` : ''}`;
}

/** `added`/`removed` of a version summary, whatever shape the server gives it: a count, a list, or content groups. */
export function changeCount(v: unknown): string {
  if (typeof v === 'number') return String(v);
  if (Array.isArray(v)) return String(v.length);
  if (v && typeof v === 'object') {
    const parts = Object.entries(v as Record<string, unknown>)
      .filter(([, x]) => Array.isArray(x) || typeof x === 'number')
      .map(([k, x]) => plural(Array.isArray(x) ? x.length : (x as number), k.replace(/s$/, ''), k));
    return parts.length ? parts.join(', ') : '-';
  }
  return v === undefined || v === null ? '-' : String(v);
}

/** One line per item of a content group, prefixed by `mark` ("+", "-" or blanks). */
export function contentLines(c: Content, mark: string): string[] {
  return [
    ...c.tags.map((t) => `${mark} tag ${t.name} → ${t.digest}`),
    ...c.manifests.map((m) => `${mark} manifest ${m.digest} (${m.mediaType})`),
    ...c.blobs.map((b) => `${mark} blob ${b.digest} (${formatBytes(b.size)})`),
  ];
}

export function diffLines(name: string, d: VersionDiff): string[] {
  const changes = [...contentLines(d.added, '+'), ...contentLines(d.removed, '-')];
  return [`${name}: version ${d.from} → ${d.to}`, ...(changes.length ? changes : ['no differences'])];
}

export function repositoryTable(repos: Repository[]): string {
  if (repos.length === 0) return 'no repositories';
  const rows = repos.map((r) => [
    r.name,
    r.latestVersion === null ? '-' : String(r.latestVersion),
    formatTime(r.createdAt),
  ]);
  return table([['NAME', 'LATEST VERSION', 'CREATED'], ...rows]);
}

export function versionTable(versions: VersionSummary[]): string {
  if (versions.length === 0) return 'no versions';
  const rows = versions.map((v) => [
    String(v.number),
    formatTime(v.createdAt),
    changeCount(v.added),
    changeCount(v.removed),
  ]);
  // versions made by cleanup say why; the column shows only when one does
  if (versions.some((v) => v.message)) {
    rows.forEach((r, i) => r.push(versions[i]!.message ?? ''));
    return table([['VERSION', 'CREATED', 'ADDED', 'REMOVED', 'MESSAGE'], ...rows]);
  }
  return table([['VERSION', 'CREATED', 'ADDED', 'REMOVED'], ...rows]);
}

/** `repo show`: the repository, what its latest version holds, `more` rows (usage, quotas), and its tags. */
export function repositoryDetails(
  repo: Repository,
  latest: Version | undefined,
  more: string[][] = [],
): string {
  const lines = [
    ['name', repo.name],
    ['created', formatTime(repo.createdAt)],
    ['latest version', latest ? `${latest.number} (${formatTime(latest.createdAt)})` : 'none'],
  ];
  if (!latest) return table([...lines, ...more]);
  const c = latest.content;
  const bytes = c.blobs.reduce((sum, b) => sum + b.size, 0);
  lines.push([
    'content',
    `${plural(c.manifests.length, 'manifest')}, ${plural(c.blobs.length, 'blob')} (${formatBytes(bytes)})`,
  ]);
  lines.push(...more);
  lines.push(['tags', c.tags.length === 0 ? 'none' : '']);
  const tags = c.tags.length ? table(c.tags.map((t) => [`  ${t.name}`, t.digest])).split('\n') : [];
  return [table(lines).trimEnd(), ...tags].join('\n');
}

/**
 * `berth repo retain`: `library/app keeps the latest 5 versions and versions younger than 30 days` (or `every
 * version`), then the versions removed: `removed 2 versions: 3, 4` / `removed no version`; a dry run says `would`.
 */
export function retentionLines(repo: Repository): string[] {
  const n = repo.retainVersions ?? null;
  const d = repo.retainDays ?? null;
  const parts = [
    ...(n === null ? [] : [`the latest ${plural(n, 'version')}`]),
    ...(d === null ? [] : [`versions younger than ${plural(d, 'day')}`]),
  ];
  const rule = parts.length === 0 ? 'every version' : parts.join(' and ');
  const removed = repo.removedVersions ?? [];
  const dry = repo.dryRun === true;
  return [
    dry ? `${repo.name} would keep ${rule} (dry run: nothing changed)` : `${repo.name} keeps ${rule}`,
    removed.length === 0
      ? `${dry ? 'would remove' : 'removed'} no version`
      : `${dry ? 'would remove' : 'removed'} ${plural(removed.length, 'version')}: ${removed.join(', ')}`,
  ];
}

/** `berth version restore`: `library/app version 7 restores version 3: 2 added, 5 removed` */
export function restoreLine(name: string, from: number, v: VersionSummary): string {
  return `${name} version ${v.number} restores version ${from}: ${changeCount(v.added)} added, ${changeCount(v.removed)} removed`;
}

/** `--json`: the value, indented. */
export const printJson = (value: unknown): void => console.log(JSON.stringify(value, null, 2));
