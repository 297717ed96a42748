// Bytes held by repositories: what a quota counts (a repository's or a pattern's usage) and what a write adds to it.
import { sql, type Kysely, type RawBuilder } from 'kysely';
import type { Database } from '../db/schema.js';
import { inLatestVersion } from './held.js';

type Db = Kysely<Database>;

/**
 * A repository pattern (a name, "team/*" for every repository under team/, or "*") as a condition on a column
 * of repository names. A prefix compares with substr(), which both backends have and which needs no escaping
 * (LIKE would take the "_" of a name for a wildcard).
 */
export function nameMatches(column: string, pattern: string): RawBuilder<boolean> {
  if (pattern === '*') return sql<boolean>`1 = 1`;
  if (pattern.endsWith('/*')) {
    const prefix = pattern.slice(0, -1);
    return sql<boolean>`substr(${sql.ref(column)}, 1, ${sql.lit(prefix.length)}) = ${prefix}`;
  }
  return sql<boolean>`${sql.ref(column)} = ${pattern}`;
}

/** The patterns that can match repository `name`: itself, each of its prefixes ("a/*", "a/b/*") and "*". */
export function patternsMatching(name: string): string[] {
  const out = [name, '*'];
  for (let i = name.indexOf('/'); i !== -1; i = name.indexOf('/', i + 1))
    out.push(`${name.slice(0, i + 1)}*`);
  return out.sort();
}

/**
 * The (repository, digest) pairs of what the repositories matching `pattern` hold, each once: the blobs and
 * manifests of their latest versions, and the blobs pushed into them awaiting a manifest (pending). A
 * repository that does not exist yet holds its pending pushes.
 */
function heldPairs(db: Db, pattern: string) {
  // the repositories first (a scan of names at worst), then their rows through the index on repository_id
  const ids = db.selectFrom('repositories as m').select('m.id').where(nameMatches('m.name', pattern));
  return db
    .selectFrom('repository_content as c')
    .innerJoin('repositories as r', 'r.id', 'c.repository_id')
    .select(['r.name as repository', 'c.key as digest'])
    .where('c.repository_id', 'in', ids)
    .where('c.version_removed', 'is', null)
    .where('c.kind', 'in', ['blob', 'manifest'])
    .union(
      db
        .selectFrom('pending_blobs as p')
        .select(['p.repository as repository', 'p.digest as digest'])
        .where(nameMatches('p.repository', pattern)),
    );
}

/**
 * The usage a quota on `pattern` counts: for each repository matching it, the bytes of the distinct blobs (and
 * manifests) of its latest version and of its pending pushes; summed over the repositories, so that a blob two
 * of them hold counts for each. One statement (one snapshot). A repository name is a pattern matching itself.
 */
export async function usageOf(db: Db, pattern: string): Promise<number> {
  const row = await db
    .selectFrom(heldPairs(db, pattern).as('h'))
    .innerJoin('blobs as b', 'b.digest', 'h.digest')
    .select((eb) => eb.fn.sum<number | string | null>('b.size').as('bytes'))
    .executeTakeFirst();
  return Number(row?.bytes ?? 0);
}

export interface Sized {
  digest: string;
  size: number;
}

/**
 * What writing `items` into repository `name` adds to its usage: the sizes of the distinct digests among them
 * that it does not hold yet (in its latest version, as a blob or a manifest, or pending).
 */
export async function addedBytes(db: Db, name: string, items: Sized[]): Promise<number> {
  const bySize = new Map(items.map((i) => [i.digest, i.size]));
  if (bySize.size === 0) return 0;
  const digests = [...bySize.keys()];
  const held = await inLatestVersion(db, name, ['blob', 'manifest'], digests);
  const rest = digests.filter((d) => !held.has(d));
  for (let i = 0; i < rest.length; i += 500) {
    const pending = await db
      .selectFrom('pending_blobs')
      .select('digest')
      .where('repository', '=', name)
      .where('digest', 'in', rest.slice(i, i + 500))
      .execute();
    for (const p of pending) held.add(p.digest);
  }
  return digests.filter((d) => !held.has(d)).reduce((sum, d) => sum + bySize.get(d)!, 0);
}
