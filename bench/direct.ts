// Setup straight into berth's database with berth's own modules from dist/ (what the HTTP API would take
// minutes for): versions adding many tags at once, and many repositories at once.
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type * as Connect from '../src/db/connect.js';
import type * as Versions from '../src/repo/versions.js';
import { ROOT } from './servers.js';

const fromDist = async <T>(module: string): Promise<T> =>
  (await import(pathToFileURL(join(ROOT, 'dist', module)).href)) as T;

/** Tags added per version: a million at once would hold a million changes in memory. */
const PER_VERSION = 100_000;

/**
 * Makes new versions of `repository` (which must exist) adding `count` tags named `<prefix><i>`, all pointing at
 * `digest` (a manifest the repository holds; several: tag i points at digest i mod their count), through
 * commitVersion on the server's database (`database`: the SQLite file, WAL, so the running server is not disturbed
 * beyond the write lock; or a postgres:// URL): one version per 100 000 tags. Returns the last version's number
 * and the units added in all.
 */
export async function addTagsDirectly(
  database: string,
  repository: string,
  digest: string | string[],
  count: number,
  prefix: string,
): Promise<{ number: number; added: number }> {
  const digests = ([] as string[]).concat(digest);
  const { openDatabase } = await fromDist<typeof Connect>('db/connect.js');
  const { commitVersion } = await fromDist<typeof Versions>('repo/versions.js');
  const db = await openDatabase(database);
  try {
    let number = 0;
    let added = 0;
    for (let from = 0; from < count; from += PER_VERSION) {
      const to = Math.min(count, from + PER_VERSION);
      const v = await commitVersion(db.kysely, repository, { create: false }, async () =>
        Array.from({ length: to - from }, (_, k) => ({
          op: 'add' as const,
          kind: 'tag' as const,
          tag: `${prefix}${from + k}`,
          digest: digests[(from + k) % digests.length]!,
        })),
      );
      number = v.number;
      added += v.added;
    }
    return { number, added };
  } finally {
    await db.close();
  }
}

/**
 * Makes `count` empty repositories named `<prefix><i>` (i zero-padded to 6 digits) as rows of the server's database,
 * as commitVersion makes a new one: the repository at version 0 and its version 0 row, 500 per statement. Nothing
 * else (blobs, tags) is made: the catalog reads only these rows.
 */
export async function addRepositoriesDirectly(
  database: string,
  prefix: string,
  count: number,
): Promise<void> {
  const { openDatabase } = await fromDist<typeof Connect>('db/connect.js');
  const db = await openDatabase(database);
  try {
    const now = Date.now();
    for (let from = 0; from < count; from += 500) {
      const names = Array.from(
        { length: Math.min(500, count - from) },
        (_, k) => `${prefix}${String(from + k).padStart(6, '0')}`,
      );
      await db.kysely.transaction().execute(async (trx) => {
        const rows = await trx
          .insertInto('repositories')
          .values(
            names.map((name) => ({
              name,
              latest_version: 0,
              created_at: now,
              retain_versions: null,
              retain_days: null,
            })),
          )
          .returning('id')
          .execute();
        await trx
          .insertInto('repository_versions')
          .values(
            rows.map((r) => ({ repository_id: r.id, number: 0, created_at: now, added: 0, removed: 0 })),
          )
          .execute();
      });
    }
  } finally {
    await db.close();
  }
}
