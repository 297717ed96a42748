// The tags of a repository's latest version, listed a page at a time, recent pages answered from memory.
import { sql, type Kysely } from 'kysely';
import { LRUCache } from 'lru-cache';
import type { Database } from '../db/schema.js';
import { BerthError } from '../core/errors.js';
import { current } from './held.js';

/** One row of a page of tags: where it points, that manifest's type and size, and the version that set it. */
export interface TagRow {
  tag: string;
  digest: string;
  mediaType: string;
  /** the manifest's own bytes (the image's size is the images service's) */
  manifestSize: number;
  /** the version that made the tag point here, and when (null: before the oldest version kept) */
  version: number;
  updatedAt: string | null;
}

/** `filter` as a case-insensitive LIKE pattern matching names that contain it ("!" escapes). */
const containing = (filter: string): string => `%${filter.toLowerCase().replace(/[!%_]/g, (c) => `!${c}`)}%`;

export class Tags {
  /** Recent tag lists by repository, version and page: a version's content never changes. */
  private readonly pages = new LRUCache<string, string[]>({ max: 32 });

  constructor(private readonly db: Kysely<Database>) {}

  private async versionOf(name: string): Promise<string | undefined> {
    const r = await this.db
      .selectFrom('repositories')
      .select(['id', 'latest_version'])
      .where('name', '=', name)
      .executeTakeFirst();
    return r && `${r.id}@${r.latest_version}`;
  }

  /**
   * The tags of the repository's latest version in lexical order, after `last`, at most `n` (NAME_UNKNOWN if there
   * is no such repository). A list read while the latest version stayed the same is that version's, and is kept
   * (the last 32 pages): in a repository with many tags, listing them again costs one lookup instead of a walk over
   * every tag.
   */
  async list(name: string, opts: { n?: number; last?: string } = {}): Promise<string[]> {
    const before = await this.versionOf(name);
    if (before === undefined) throw new BerthError('NAME_UNKNOWN', `repository ${name} does not exist`);
    const key = `${before}\0${opts.n ?? ''}\0${opts.last ?? ''}`;
    const kept = this.pages.get(key);
    if (kept) return kept;
    let q = current(this.db, name).select('c.key').where('c.kind', '=', 'tag').orderBy('c.key');
    if (opts.last !== undefined) q = q.where('c.key', '>', opts.last);
    if (opts.n !== undefined) q = q.limit(opts.n);
    const tags = (await q.execute()).map((r) => r.key);
    if ((await this.versionOf(name)) === before) this.pages.set(key, tags);
    return tags;
  }

  /**
   * A page of the latest version's tags in lexical order (those containing `filter`, case-insensitive): `limit` rows
   * from `offset`, each with its manifest's type and size and when it last moved, and how many tags match in all.
   * Reads only the rows of the page (and counts the rest): a repository of 10 000 tags answers as fast as one of 10.
   */
  async page(
    name: string,
    opts: { filter?: string; offset: number; limit: number },
  ): Promise<{ total: number; rows: TagRow[] }> {
    if ((await this.versionOf(name)) === undefined) {
      throw new BerthError('NAME_UNKNOWN', `repository ${name} does not exist`);
    }
    let tags = current(this.db, name).where('c.kind', '=', 'tag');
    if (opts.filter) tags = tags.where(sql<boolean>`lower(c.key) like ${containing(opts.filter)} escape '!'`);
    const { total } = await tags
      .select((eb) => eb.fn.countAll<number | string>().as('total'))
      .executeTakeFirstOrThrow();
    const rows = await tags
      .leftJoin('manifests as m', 'm.digest', 'c.value')
      .leftJoin('repository_versions as v', (j) =>
        j.onRef('v.repository_id', '=', 'c.repository_id').onRef('v.number', '=', 'c.version_added'),
      )
      .select(['c.key', 'c.value', 'c.version_added', 'm.media_type', 'm.size', 'v.created_at'])
      .orderBy('c.key')
      .limit(opts.limit)
      .offset(opts.offset)
      .execute();
    return {
      total: Number(total),
      rows: rows.map((r) => ({
        tag: r.key,
        digest: r.value ?? '',
        mediaType: r.media_type ?? 'unknown',
        manifestSize: Number(r.size ?? 0),
        version: r.version_added,
        updatedAt: r.created_at === null ? null : new Date(Number(r.created_at)).toISOString(),
      })),
    };
  }

  /** The tags of the latest version that point at manifest `digest`, in lexical order. */
  async pointingAt(name: string, digest: string): Promise<string[]> {
    const rows = await current(this.db, name)
      .select('c.key')
      .where('c.kind', '=', 'tag')
      .where('c.value', '=', digest)
      .orderBy('c.key')
      .execute();
    return rows.map((r) => r.key);
  }
}
