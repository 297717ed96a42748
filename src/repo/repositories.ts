// Repositories as the registry and the management API list them: names, latest version, retention.
import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.js';
import { BerthError } from '../core/errors.js';

export interface RepositoryInfo {
  name: string;
  latestVersion: number;
  createdAt: string;
  /** how many of the latest versions are kept (null: all) */
  retainVersions: number | null;
  /** versions younger than this many days are kept too (null: no age rule) */
  retainDays: number | null;
}

const iso = (ms: number): string => new Date(Number(ms)).toISOString();

const info = (r: {
  name: string;
  latest_version: number;
  created_at: number;
  retain_versions: number | null;
  retain_days: number | null;
}): RepositoryInfo => ({
  name: r.name,
  latestVersion: r.latest_version,
  createdAt: iso(r.created_at),
  retainVersions: r.retain_versions,
  retainDays: r.retain_days,
});

export class Repositories {
  constructor(private readonly db: Kysely<Database>) {}

  async list(opts: { last?: string; n?: number } = {}): Promise<RepositoryInfo[]> {
    let q = this.db
      .selectFrom('repositories')
      .select(['name', 'latest_version', 'created_at', 'retain_versions', 'retain_days'])
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
      .select(['id', 'name', 'latest_version', 'created_at', 'retain_versions', 'retain_days'])
      .where('name', '=', name)
      .executeTakeFirst();
    return r && { id: r.id, info: info(r) };
  }

  async get(name: string): Promise<{ id: number; info: RepositoryInfo }> {
    const r = await this.find(name);
    if (!r) throw new BerthError('NAME_UNKNOWN', `repository ${name} does not exist`);
    return r;
  }
}
