// Repositories as the registry and the management API list them: names, latest version, retention, untagged policy.
import type { Kysely } from 'kysely';
import type { Database, UntaggedPolicy } from '../db/schema.js';
import { BerthError } from '../core/errors.js';
import { summarize, type RepositorySummary } from './summaries.js';

/** What cleanup does with the repository's untagged manifests: the server's default, keep them, or remove them. */
export interface UntaggedSetting {
  policy: 'default' | UntaggedPolicy;
  /** for 'remove': the hours a manifest stays untagged before cleanup takes it */
  afterHours: number | null;
}

export interface RepositoryInfo {
  name: string;
  latestVersion: number;
  createdAt: string;
  /** how many of the latest versions are kept (null: all) */
  retainVersions: number | null;
  /** versions younger than this many days are kept too (null: no age rule) */
  retainDays: number | null;
  untagged: UntaggedSetting;
  /** the version that deleted it (`berth repo delete`), hiding it from the listings; null: not deleted */
  deletedInVersion: number | null;
}

const iso = (ms: number): string => new Date(Number(ms)).toISOString();

const info = (r: {
  name: string;
  latest_version: number;
  created_at: number;
  retain_versions: number | null;
  retain_days: number | null;
  untagged_policy: UntaggedPolicy | null;
  untagged_after_hours: number | null;
  deleted_version: number | null;
}): RepositoryInfo => ({
  name: r.name,
  latestVersion: r.latest_version,
  createdAt: iso(r.created_at),
  retainVersions: r.retain_versions,
  retainDays: r.retain_days,
  untagged: {
    policy: r.untagged_policy ?? 'default',
    afterHours: r.untagged_policy === 'remove' ? r.untagged_after_hours : null,
  },
  deletedInVersion: r.deleted_version,
});

const COLUMNS = [
  'name',
  'latest_version',
  'created_at',
  'retain_versions',
  'retain_days',
  'deleted_version',
  'deleted_version',
  'untagged_policy',
  'untagged_after_hours',
] as const;

export interface ListOptions {
  last?: string;
  n?: number;
  /** also the deleted repositories (hidden by default) */
  includeDeleted?: boolean;
}

/** rows read at a time by listWhere */
const BATCH = 1000;

export class Repositories {
  constructor(private readonly db: Kysely<Database>) {}

  /** The repositories in lexical order, after `last`, at most `n`; deleted ones only if asked for. */
  async list(opts: ListOptions = {}): Promise<RepositoryInfo[]> {
    let q = this.db.selectFrom('repositories').select(COLUMNS).orderBy('name');
    if (!opts.includeDeleted) q = q.where('deleted_version', 'is', null);
    if (opts.last !== undefined) q = q.where('name', '>', opts.last);
    if (opts.n !== undefined) q = q.limit(opts.n);
    const rows = await q.execute();
    return rows.map(info);
  }

  /**
   * Like `list`, keeping only the repositories `visible` accepts (the caller's permissions), paged over the
   * visible ones: `n` of them after `last`.
   */
  async listWhere(visible: (name: string) => boolean, opts: ListOptions = {}): Promise<RepositoryInfo[]> {
    const out: RepositoryInfo[] = [];
    let last = opts.last;
    // the first read asks for as many as wanted (all visible: one read of n rows); later ones, when some were not
    // visible, for 1 000 at a time
    let batch = Math.min(Math.max(opts.n ?? BATCH, 1), BATCH);
    for (;;) {
      const page = await this.list({ last, n: batch, includeDeleted: opts.includeDeleted });
      for (const r of page) {
        if (!visible(r.name)) continue;
        out.push(r);
        if (opts.n !== undefined && out.length >= opts.n) return out;
      }
      if (page.length < batch) return out;
      last = page.at(-1)!.name;
      batch = BATCH;
    }
  }

  /** A line per named repository for a listing (latest version, when and why it was made, tag count). */
  summaries(names: readonly string[]): Promise<RepositorySummary[]> {
    return summarize(this.db, names);
  }

  async find(name: string): Promise<{ id: number; info: RepositoryInfo } | undefined> {
    const r = await this.db
      .selectFrom('repositories')
      .select(['id', ...COLUMNS])
      .where('name', '=', name)
      .executeTakeFirst();
    return r && { id: r.id, info: info(r) };
  }

  async get(name: string): Promise<{ id: number; info: RepositoryInfo }> {
    const r = await this.find(name);
    if (!r) throw new BerthError('NAME_UNKNOWN', `repository ${name} does not exist`);
    return r;
  }

  /** Sets what cleanup does with the repository's untagged manifests; answers the repository's info. */
  async setUntagged(name: string, setting: UntaggedSetting): Promise<RepositoryInfo> {
    const remove = setting.policy === 'remove';
    if (remove && !(Number.isInteger(setting.afterHours) && setting.afterHours! >= 0)) {
      throw new BerthError(
        'PARAMETER_INVALID',
        'removing untagged manifests needs afterHours: the whole hours (0 or more) a manifest stays untagged first',
      );
    }
    const r = await this.db
      .updateTable('repositories')
      .set({
        untagged_policy: setting.policy === 'default' ? null : setting.policy,
        untagged_after_hours: remove ? setting.afterHours : null,
      })
      .where('name', '=', name)
      .returning([...COLUMNS])
      .executeTakeFirst();
    if (!r) throw new BerthError('NAME_UNKNOWN', `repository ${name} does not exist`);
    return info(r);
  }
}
