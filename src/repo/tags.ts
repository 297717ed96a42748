// The tags of a repository's latest version, listed a page at a time, recent pages answered from memory.
import type { Kysely } from 'kysely';
import { LRUCache } from 'lru-cache';
import type { Database } from '../db/schema.js';
import { BerthError } from '../core/errors.js';
import { current } from './held.js';

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
}
