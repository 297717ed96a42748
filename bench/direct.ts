// Setup straight into berth's database with berth's own modules from dist/ (what the HTTP API would take
// minutes for): one repository version adding many tags at once.
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type * as Connect from '../src/db/connect.js';
import type * as Versions from '../src/repo/versions.js';
import { ROOT } from './servers.js';

const fromDist = async <T>(module: string): Promise<T> =>
  (await import(pathToFileURL(join(ROOT, 'dist', module)).href)) as T;

/**
 * Makes one new version of `repository` (which must exist) adding `count` tags named `<prefix><i>`, all pointing
 * at `digest` (a manifest the repository holds; several: tag i points at digest i mod their count), through
 * commitVersion on the server's SQLite database (WAL: the running server is not disturbed beyond the write
 * lock). Returns the version's number and units added.
 */
export async function addTagsDirectly(
  data: string,
  repository: string,
  digest: string | string[],
  count: number,
  prefix: string,
): Promise<{ number: number; added: number }> {
  const digests = ([] as string[]).concat(digest);
  const { openDatabase } = await fromDist<typeof Connect>('db/connect.js');
  const { commitVersion } = await fromDist<typeof Versions>('repo/versions.js');
  const db = await openDatabase(join(data, 'berth.db'));
  try {
    const v = await commitVersion(db.kysely, repository, { create: false }, async () =>
      Array.from({ length: count }, (_, i) => ({
        op: 'add' as const,
        kind: 'tag' as const,
        tag: `${prefix}${i}`,
        digest: digests[i % digests.length]!,
      })),
    );
    return { number: v.number, added: v.added };
  } finally {
    await db.close();
  }
}
