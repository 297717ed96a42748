// Claims on blobs by operations in flight: committed before a file is moved into place, released after the commit.
import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.js';

/** Long enough for any commit to follow its move; a crashed process's claims lapse after it. */
export const CLAIM_TTL_MS = 3600_000;

/**
 * Runs `fn` while `digests` are claimed. The claim is committed before `fn` starts, so cleanup, which never
 * deletes a claimed blob and re-checks claims before it lets go of a file, cannot remove what `fn` moves into
 * place or relies on; the claim is released when `fn` ends, by which time a committed row protects the blob.
 */
export async function withClaims<T>(
  db: Kysely<Database>,
  digests: string[],
  fn: () => Promise<T>,
): Promise<T> {
  const unique = [...new Set(digests)].sort();
  if (unique.length === 0) return fn();
  const id = randomUUID();
  const expires = Date.now() + CLAIM_TTL_MS;
  for (let i = 0; i < unique.length; i += 500) {
    await db
      .insertInto('blob_claims')
      .values(unique.slice(i, i + 500).map((digest) => ({ id, digest, expires_at: expires })))
      .execute();
  }
  try {
    return await fn();
  } finally {
    await db.deleteFrom('blob_claims').where('id', '=', id).execute();
  }
}
