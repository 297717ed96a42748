// Version retention: drop every version older than a given one, and the content rows only they needed.
import type { Transaction } from 'kysely';
import type { Database } from '../db/schema.js';

/**
 * Removes every version of the repository older than `oldest` (an existing version), inside the caller's
 * transaction, which holds the repository's row lock. Content rows whose range ends at or before `oldest` are
 * needed by no remaining version and are deleted (what they named becomes eligible for cleanup); rows that
 * began earlier and still hold in `oldest` are left as they are (their range still says the right thing),
 * so the cost is that of what falls out. The oldest remaining version counts its changes against nothing:
 * `added` is its size (the telescoped sum of the dropped versions' counts), `removed` is 0.
 */
export async function dropVersionsBefore(
  trx: Transaction<Database>,
  repositoryId: number,
  oldest: number,
): Promise<number> {
  const dropped = await trx
    .deleteFrom('repository_versions')
    .where('repository_id', '=', repositoryId)
    .where('number', '<', oldest)
    .returning(['added', 'removed'])
    .execute();
  if (dropped.length === 0) return 0;
  await trx
    .deleteFrom('repository_content')
    .where('repository_id', '=', repositoryId)
    .where('version_removed', '<=', oldest)
    .execute();
  const kept = await trx
    .selectFrom('repository_versions')
    .select(['added', 'removed'])
    .where('repository_id', '=', repositoryId)
    .where('number', '=', oldest)
    .executeTakeFirstOrThrow();
  const size = [...dropped, kept].reduce((sum, v) => sum + v.added - v.removed, 0);
  await trx
    .updateTable('repository_versions')
    .set({ added: size, removed: 0 })
    .where('repository_id', '=', repositoryId)
    .where('number', '=', oldest)
    .execute();
  return dropped.length;
}

/** Keeps the latest `keep` versions (keep >= 1) and drops the older ones; returns how many were dropped. */
export async function applyRetention(
  trx: Transaction<Database>,
  repositoryId: number,
  keep: number,
): Promise<number> {
  const oldestKept = await trx
    .selectFrom('repository_versions')
    .select('number')
    .where('repository_id', '=', repositoryId)
    .orderBy('number', 'desc')
    .limit(1)
    .offset(keep - 1)
    .executeTakeFirst();
  return oldestKept ? dropVersionsBefore(trx, repositoryId, oldestKept.number) : 0;
}
