// The bookkeeping of cache repositories: when each tag or digest was last checked upstream and last pulled (cache_tags).
import type { Kysely } from 'kysely';
import type { CacheTagsTable, Database } from '../db/schema.js';
import { current } from '../repo/held.js';

type Db = Kysely<Database>;

/**
 * Pulls within this long of the last recorded one write nothing: retention counts in days, and a busy tag would
 * otherwise cost a write per pull.
 */
export const PULL_WRITE_INTERVAL_MS = 60_000;

/** The row of a reference (tag or digest) of a cache repository, if any. */
export async function cacheTag(
  db: Db,
  repository: string,
  reference: string,
): Promise<CacheTagsTable | undefined> {
  return db
    .selectFrom('cache_tags')
    .selectAll()
    .where('repository', '=', repository)
    .where('reference', '=', reference)
    .executeTakeFirst();
}

/** The digest a tag of the repository's latest version points to, if it has the tag. */
export async function currentTag(db: Db, repository: string, tag: string): Promise<string | undefined> {
  const row = await current(db, repository)
    .select('c.value')
    .where('c.kind', '=', 'tag')
    .where('c.key', '=', tag)
    .executeTakeFirst();
  return row?.value ?? undefined;
}

/** Whether the repository's latest version holds manifest `digest`. */
export async function holdsManifest(db: Db, repository: string, digest: string): Promise<boolean> {
  const row = await current(db, repository)
    .select('c.key')
    .where('c.kind', '=', 'manifest')
    .where('c.key', '=', digest)
    .executeTakeFirst();
  return row !== undefined;
}

/** Records that `reference` was found upstream at `digest` now (checked and pulled), and the repository pulled. */
export async function recordChecked(
  db: Db,
  repository: string,
  cache: string,
  reference: string,
  digest: string,
  now: number,
): Promise<void> {
  await db
    .insertInto('cache_tags')
    .values({ repository, reference, digest, checked_at: now, pulled_at: now })
    .onConflict((oc) =>
      oc.columns(['repository', 'reference']).doUpdateSet({ digest, checked_at: now, pulled_at: now }),
    )
    .execute();
  await markCacheRepository(db, repository, cache, now);
}

/** The repository is the cache's (it refuses pushes) and was pulled now. */
async function markCacheRepository(db: Db, repository: string, cache: string, now: number): Promise<void> {
  await db
    .updateTable('repositories')
    .set({ cache, last_pulled_at: now })
    .where('name', '=', repository)
    .where((eb) =>
      eb.or([
        eb('cache', 'is', null),
        eb('cache', '!=', cache),
        eb('last_pulled_at', 'is', null),
        eb('last_pulled_at', '<', now - PULL_WRITE_INTERVAL_MS),
      ]),
    )
    .execute();
}

/** A pull of a tag served from the cache: the tag's row and the repository were pulled now. */
export async function touchTag(
  db: Db,
  repository: string,
  cache: string,
  tag: string,
  now: number,
): Promise<void> {
  await db
    .updateTable('cache_tags')
    .set({ pulled_at: now })
    .where('repository', '=', repository)
    .where('reference', '=', tag)
    .where('pulled_at', '<', now - PULL_WRITE_INTERVAL_MS)
    .execute();
  await markCacheRepository(db, repository, cache, now);
}

/**
 * A pull by digest: the digest's own row (made if absent: a manifest pulled by digest is kept by retention as
 * long as it is pulled), and every tag that resolved to it or to an index naming it, were pulled now. So clients
 * that pin digests keep the tags they came from, and cleanup never empties a cache pulled by digest.
 */
export async function touchDigest(
  db: Db,
  repository: string,
  cache: string,
  digest: string,
  now: number,
): Promise<void> {
  await db
    .insertInto('cache_tags')
    .values({ repository, reference: digest, digest, checked_at: now, pulled_at: now })
    .onConflict((oc) =>
      oc
        .columns(['repository', 'reference'])
        .doUpdateSet({ pulled_at: now })
        .where('cache_tags.pulled_at', '<', now - PULL_WRITE_INTERVAL_MS),
    )
    .execute();
  const parents = db
    .selectFrom('manifest_references')
    .select('manifest_digest')
    .where('kind', '=', 'manifest')
    .where('digest', '=', digest);
  await db
    .updateTable('cache_tags')
    .set({ pulled_at: now })
    .where('repository', '=', repository)
    .where((eb) => eb.or([eb('digest', '=', digest), eb('digest', 'in', parents)]))
    .where('pulled_at', '<', now - PULL_WRITE_INTERVAL_MS)
    .execute();
  await markCacheRepository(db, repository, cache, now);
}
