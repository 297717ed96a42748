// Retention of cache repositories by last pull: tags and digests not pulled for retain_days leave the latest version.
import type { Kysely, Transaction } from 'kysely';
import type { Database } from '../db/schema.js';
import { current } from '../repo/held.js';
import {
  commitVersionIn,
  DEFAULT_COMMIT_SETTINGS,
  type CommitSettings,
  type ContentChange,
} from '../repo/versions.js';

type Db = Kysely<Database>;
const DAY_MS = 86_400_000;

export interface CacheRetentionResult {
  repository: string;
  /** the version that removed them (null: a dry run) */
  version: number | null;
  tags: string[];
  manifests: string[];
}

/** Thrown inside a commit that would change nothing, so that its transaction rolls back. */
class NothingToRemove extends Error {}

/**
 * For every cache with retain_days: in each of its repositories, the tags not pulled for that long (a pull by
 * digest counts for the tags that resolved to the digest, see cache-tags.ts) are removed, and so are the manifests
 * no remaining tag, no recently pulled digest and no kept index reaches; one version per repository, under its
 * lock, deciding again there from the rows (a pull committing meanwhile either came first or waits). Their blobs
 * then leave the repository through cleanup's pruning, their bytes through its sweep. A dry run counts only.
 */
export async function applyCacheRetention(
  db: Db,
  opts: { dryRun: boolean; settings?: CommitSettings },
): Promise<CacheRetentionResult[]> {
  const settings = opts.settings ?? DEFAULT_COMMIT_SETTINGS;
  const now = settings.clock.now();
  const caches = await db
    .selectFrom('caches')
    .select(['name', 'retain_days'])
    .where('retain_days', 'is not', null)
    .execute();
  const out: CacheRetentionResult[] = [];
  for (const cache of caches) {
    const cutoff = now - cache.retain_days! * DAY_MS;
    const repos = await db
      .selectFrom('cache_tags as t')
      .innerJoin('repositories as r', 'r.name', 't.repository')
      .select('t.repository')
      .distinct()
      .where('r.cache', '=', cache.name)
      .where('t.pulled_at', '<', cutoff)
      .execute();
    for (const { repository } of repos) {
      const message = `cache ${cache.name}: not pulled for ${cache.retain_days} days`;
      try {
        const r = await db.transaction().execute(async (trx) => {
          let found: { tags: string[]; manifests: string[] } = { tags: [], manifests: [] };
          const v = await commitVersionIn(trx, repository, { create: false, message, settings }, async () => {
            found = await expired(trx, repository, cutoff);
            if (found.tags.length + found.manifests.length === 0 || opts.dryRun) throw new NothingToRemove();
            return [
              ...found.tags.map((key): ContentChange => ({ op: 'remove', kind: 'tag', key })),
              ...found.manifests.map((key): ContentChange => ({ op: 'remove', kind: 'manifest', key })),
            ];
          });
          await trx
            .deleteFrom('cache_tags')
            .where('repository', '=', repository)
            .where('pulled_at', '<', cutoff)
            .execute();
          return { repository, version: v.number, ...found };
        });
        out.push(r);
      } catch (e) {
        if (!(e instanceof NothingToRemove)) throw e;
        if (opts.dryRun) {
          const found = await expired(db, repository, cutoff);
          if (found.tags.length + found.manifests.length > 0)
            out.push({ repository, version: null, ...found });
        }
      }
    }
  }
  return out;
}

/** The tags and manifests of the repository's latest version that retention takes out (sorted). */
async function expired(
  db: Db | Transaction<Database>,
  repository: string,
  cutoff: number,
): Promise<{ tags: string[]; manifests: string[] }> {
  const rows = await db.selectFrom('cache_tags').selectAll().where('repository', '=', repository).execute();
  const old = new Set(rows.filter((r) => r.pulled_at < cutoff).map((r) => r.reference));
  const content = await current(db, repository)
    .select(['c.kind', 'c.key', 'c.value'])
    .where('c.kind', 'in', ['tag', 'manifest'])
    .execute();
  const tags = content.filter((c) => c.kind === 'tag' && old.has(c.key)).map((c) => c.key);
  const roots = new Set<string>([
    ...content.filter((c) => c.kind === 'tag' && !old.has(c.key)).map((c) => c.value!),
    ...rows.filter((r) => r.pulled_at >= cutoff).map((r) => r.digest),
  ]);
  // what a kept index names is kept
  const reachable = new Set<string>();
  let frontier = [...roots];
  while (frontier.length > 0) {
    for (const d of frontier) reachable.add(d);
    const children = await db
      .selectFrom('manifest_references')
      .select('digest')
      .where('kind', '=', 'manifest')
      .where('manifest_digest', 'in', frontier.slice(0, 500))
      .execute();
    frontier = [...frontier.slice(500), ...children.map((c) => c.digest).filter((d) => !reachable.has(d))];
  }
  const manifests = content.filter((c) => c.kind === 'manifest' && !reachable.has(c.key)).map((c) => c.key);
  return { tags: tags.sort(), manifests: manifests.sort() };
}
