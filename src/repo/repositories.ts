// Repositories and their versions as the management API shows them: lists, a version's content, diffs.
import type { Kysely } from 'kysely';
import type { ContentKind, Database } from '../db/schema.js';
import { BerthError } from '../core/errors.js';

export interface RepositoryInfo {
  name: string;
  latestVersion: number;
  createdAt: string;
  /** how many of the latest versions are kept (null: all) */
  retainVersions: number | null;
}

export interface VersionInfo {
  number: number;
  createdAt: string;
  added: number;
  removed: number;
}

export interface VersionContent {
  manifests: { digest: string; mediaType: string }[];
  blobs: { digest: string; size: number }[];
  tags: { name: string; digest: string }[];
}

const iso = (ms: number): string => new Date(Number(ms)).toISOString();

const info = (r: {
  name: string;
  latest_version: number;
  created_at: number;
  retain_versions: number | null;
}): RepositoryInfo => ({
  name: r.name,
  latestVersion: r.latest_version,
  createdAt: iso(r.created_at),
  retainVersions: r.retain_versions,
});

export class Repositories {
  constructor(private readonly db: Kysely<Database>) {}

  async list(opts: { last?: string; n?: number } = {}): Promise<RepositoryInfo[]> {
    let q = this.db
      .selectFrom('repositories')
      .select(['name', 'latest_version', 'created_at', 'retain_versions'])
      .orderBy('name');
    if (opts.last !== undefined) q = q.where('name', '>', opts.last);
    if (opts.n !== undefined) q = q.limit(opts.n);
    const rows = await q.execute();
    return rows.map(info);
  }

  /**
   * Like `list`, keeping only the repositories `visible` accepts (the caller's permissions), paged over the
   * visible ones: `n` of them after `last`.
   */
  async listWhere(
    visible: (name: string) => boolean,
    opts: { last?: string; n?: number } = {},
  ): Promise<RepositoryInfo[]> {
    const out: RepositoryInfo[] = [];
    let last = opts.last;
    for (;;) {
      const page = await this.list({ last, n: 1000 });
      for (const r of page) {
        if (!visible(r.name)) continue;
        out.push(r);
        if (opts.n !== undefined && out.length >= opts.n) return out;
      }
      if (page.length < 1000) return out;
      last = page.at(-1)!.name;
    }
  }

  async find(name: string): Promise<{ id: number; info: RepositoryInfo } | undefined> {
    const r = await this.db
      .selectFrom('repositories')
      .select(['id', 'name', 'latest_version', 'created_at', 'retain_versions'])
      .where('name', '=', name)
      .executeTakeFirst();
    return r && { id: r.id, info: info(r) };
  }

  async get(name: string): Promise<{ id: number; info: RepositoryInfo }> {
    const r = await this.find(name);
    if (!r) throw new BerthError('NAME_UNKNOWN', `repository ${name} does not exist`);
    return r;
  }

  async versions(name: string): Promise<VersionInfo[]> {
    const { id } = await this.get(name);
    const rows = await this.db
      .selectFrom('repository_versions')
      .selectAll()
      .where('repository_id', '=', id)
      .orderBy('number')
      .execute();
    return rows.map((r) => ({
      number: r.number,
      createdAt: iso(r.created_at),
      added: r.added,
      removed: r.removed,
    }));
  }

  async version(name: string, number: number): Promise<VersionInfo & { repositoryId: number }> {
    const { id } = await this.get(name);
    const r = await this.db
      .selectFrom('repository_versions')
      .selectAll()
      .where('repository_id', '=', id)
      .where('number', '=', number)
      .executeTakeFirst();
    if (!r) throw new BerthError('VERSION_UNKNOWN', `repository ${name} has no version ${number}`);
    return { repositoryId: id, number, createdAt: iso(r.created_at), added: r.added, removed: r.removed };
  }

  /** The existing version before `number` (numbers have gaps once versions are deleted), if any. */
  async previousVersion(name: string, number: number): Promise<number | undefined> {
    const v = await this.version(name, number);
    const r = await this.db
      .selectFrom('repository_versions')
      .select('number')
      .where('repository_id', '=', v.repositoryId)
      .where('number', '<', number)
      .orderBy('number', 'desc')
      .limit(1)
      .executeTakeFirst();
    return r?.number;
  }

  /** The content units of one version: rows whose range [version_added, version_removed) holds it. */
  async content(name: string, number: number): Promise<VersionContent> {
    const v = await this.version(name, number);
    const rows = await this.db
      .selectFrom('repository_content')
      .select(['kind', 'key', 'value'])
      .where('repository_id', '=', v.repositoryId)
      .where('version_added', '<=', number)
      .where((eb) => eb.or([eb('version_removed', 'is', null), eb('version_removed', '>', number)]))
      .orderBy('kind')
      .orderBy('key')
      .execute();
    return this.describe(rows);
  }

  /** What changed between two versions: units in `to` and not in `from` (added), and the reverse (removed). */
  async diff(
    name: string,
    from: number,
    to: number,
  ): Promise<{ added: VersionContent; removed: VersionContent }> {
    const a = await this.version(name, from);
    await this.version(name, to);
    const lo = Math.min(from, to);
    const hi = Math.max(from, to);
    // Only rows whose range starts or ends between the two versions can differ.
    const rows = await this.db
      .selectFrom('repository_content')
      .select(['kind', 'key', 'value', 'version_added', 'version_removed'])
      .where('repository_id', '=', a.repositoryId)
      .where((eb) =>
        eb.or([
          eb.and([eb('version_added', '>', lo), eb('version_added', '<=', hi)]),
          eb.and([eb('version_removed', '>', lo), eb('version_removed', '<=', hi)]),
        ]),
      )
      .execute();
    const inVersion = (r: (typeof rows)[number], v: number) =>
      r.version_added <= v && (r.version_removed === null || r.version_removed > v);
    const unit = (r: (typeof rows)[number]) => `${r.kind}\u0000${r.key}\u0000${r.value ?? ''}`;
    const inFrom = new Map<string, (typeof rows)[number]>();
    const inTo = new Map<string, (typeof rows)[number]>();
    for (const r of rows) {
      if (inVersion(r, from)) inFrom.set(unit(r), r);
      if (inVersion(r, to)) inTo.set(unit(r), r);
    }
    const added = [...inTo].filter(([k]) => !inFrom.has(k)).map(([, r]) => r);
    const removed = [...inFrom].filter(([k]) => !inTo.has(k)).map(([, r]) => r);
    return { added: await this.describe(added), removed: await this.describe(removed) };
  }

  private async describe(
    rows: { kind: ContentKind; key: string; value: string | null }[],
  ): Promise<VersionContent> {
    const out: VersionContent = { manifests: [], blobs: [], tags: [] };
    const manifestDigests = rows.filter((r) => r.kind === 'manifest').map((r) => r.key);
    const blobDigests = rows.filter((r) => r.kind === 'blob').map((r) => r.key);
    const types = new Map<string, string>();
    const sizes = new Map<string, number>();
    for (let i = 0; i < manifestDigests.length; i += 500) {
      const part = manifestDigests.slice(i, i + 500);
      for (const m of await this.db
        .selectFrom('manifests')
        .select(['digest', 'media_type'])
        .where('digest', 'in', part)
        .execute()) {
        types.set(m.digest, m.media_type);
      }
    }
    for (let i = 0; i < blobDigests.length; i += 500) {
      const part = blobDigests.slice(i, i + 500);
      for (const b of await this.db
        .selectFrom('blobs')
        .select(['digest', 'size'])
        .where('digest', 'in', part)
        .execute()) {
        sizes.set(b.digest, b.size);
      }
    }
    for (const r of rows) {
      if (r.kind === 'manifest')
        out.manifests.push({ digest: r.key, mediaType: types.get(r.key) ?? 'unknown' });
      else if (r.kind === 'blob') out.blobs.push({ digest: r.key, size: sizes.get(r.key) ?? 0 });
      else out.tags.push({ name: r.key, digest: r.value ?? '' });
    }
    const byKey = <T extends { digest?: string; name?: string }>(x: T, y: T) =>
      (x.name ?? x.digest ?? '').localeCompare(y.name ?? y.digest ?? '');
    out.manifests.sort(byKey);
    out.blobs.sort(byKey);
    out.tags.sort(byKey);
    return out;
  }
}
