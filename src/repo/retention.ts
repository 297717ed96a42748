// Version retention by count and by age: which versions a rule keeps, dropping the rest and what only they needed.
import type { Kysely, Transaction } from 'kysely';
import type { Database } from '../db/schema.js';
import { BerthError } from '../core/errors.js';

/**
 * A retention rule: keep the latest `versions` versions, and every version younger than `days` days; a version goes
 * only when no part of the rule keeps it (whichever keeps more). null: no limit on that axis; both null: keep all.
 * The latest version is always kept.
 */
export interface RetentionRule {
  versions: number | null;
  days: number | null;
}

/** The rule of a new repository unless `berth serve --retain-versions/--retain-days` say otherwise. */
export const DEFAULT_RETENTION: RetentionRule = { versions: 10, days: 30 };

const DAY_MS = 24 * 3600 * 1000;
const MAX = 1_000_000_000;

/** Checks a rule's numbers: whole numbers of at least 1, or null. */
export function checkRule(rule: RetentionRule): RetentionRule {
  for (const [field, v] of [
    ['retainVersions', rule.versions],
    ['retainDays', rule.days],
  ] as const) {
    if (v !== null && (!Number.isInteger(v) || v < 1 || v > MAX)) {
      throw new BerthError('PARAMETER_INVALID', `${field} must be a whole number of at least 1, or null`);
    }
  }
  return rule;
}

/** The rule in words, as messages and the audit log give it. */
export function describeRule(rule: RetentionRule): string {
  const parts: string[] = [];
  if (rule.versions !== null)
    parts.push(`the latest ${rule.versions} version${rule.versions === 1 ? '' : 's'}`);
  if (rule.days !== null) parts.push(`versions younger than ${rule.days} day${rule.days === 1 ? '' : 's'}`);
  return parts.length === 0 ? 'keep every version' : `keep ${parts.join(' and ')}`;
}

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

/**
 * The oldest version `rule` keeps at time `now` (ms), or undefined when it keeps them all. By count: the Nth
 * latest; by age: the oldest made at or after now - days (the latest when none is that young); with both, the
 * older of the two (whichever keeps more).
 */
export async function oldestKept(
  trx: Transaction<Database>,
  repositoryId: number,
  rule: RetentionRule,
  now: number,
): Promise<number | undefined> {
  if (rule.versions === null && rule.days === null) return undefined;
  const versions = trx
    .selectFrom('repository_versions')
    .select(['number', 'created_at'])
    .where('repository_id', '=', repositoryId);
  // The common case in one query: the oldest version is young enough, so the age rule keeps them all.
  const first = await versions.orderBy('number', 'asc').limit(1).executeTakeFirst();
  if (!first) return undefined;
  const cutoff = rule.days === null ? undefined : now - rule.days * DAY_MS;
  if (cutoff !== undefined && first.created_at >= cutoff) return undefined;
  let byCount: number | undefined;
  if (rule.versions !== null) {
    const nth = await versions
      .orderBy('number', 'desc')
      .limit(1)
      .offset(rule.versions - 1)
      .executeTakeFirst();
    if (!nth || nth.number <= first.number) return undefined; // the count keeps them all
    byCount = nth.number;
  }
  let byAge: number | undefined;
  if (cutoff !== undefined) {
    const young = await versions
      .where('created_at', '>=', cutoff)
      .orderBy('number', 'asc')
      .limit(1)
      .executeTakeFirst();
    byAge =
      young?.number ?? (await versions.orderBy('number', 'desc').limit(1).executeTakeFirstOrThrow()).number;
  }
  return Math.min(byCount ?? Infinity, byAge ?? Infinity);
}

/**
 * Applies `rule` at time `now` in the caller's transaction (which holds the repository's row lock): drops the
 * versions it no longer keeps, unless `dryRun`, and records the horizon and the rule so that a restore of one of
 * them is refused naming it. Answers the numbers of the versions dropped (or that would be), oldest first.
 */
export async function applyRetention(
  trx: Transaction<Database>,
  repositoryId: number,
  rule: RetentionRule,
  now: number,
  opts: { dryRun?: boolean } = {},
): Promise<number[]> {
  const oldest = await oldestKept(trx, repositoryId, rule, now);
  if (oldest === undefined) return [];
  const going = await trx
    .selectFrom('repository_versions')
    .select('number')
    .where('repository_id', '=', repositoryId)
    .where('number', '<', oldest)
    .orderBy('number')
    .execute();
  if (going.length === 0 || opts.dryRun) return going.map((v) => v.number);
  await dropVersionsBefore(trx, repositoryId, oldest);
  await trx
    .updateTable('repositories')
    .set({ retired_before: oldest, retired_by: describeRule(rule) })
    .where('id', '=', repositoryId)
    .execute();
  return going.map((v) => v.number);
}

/** The error for a version that is not there: naming the retention rule that removed it, if retention did. */
export async function missingVersion(
  db: Kysely<Database>,
  name: string,
  number: number,
): Promise<BerthError> {
  const r = await db
    .selectFrom('repositories')
    .select(['retired_before', 'retired_by', 'latest_version'])
    .where('name', '=', name)
    .executeTakeFirst();
  if (r && r.retired_before !== null && number < r.retired_before) {
    return new BerthError(
      'VERSION_UNKNOWN',
      `version ${number} of ${name} was removed by retention (${r.retired_by ?? 'its rule'}), and cannot be restored or shown; ` +
        `restore a version that is still kept (berth repo versions ${name}), and keep more history from now on with ` +
        `berth repo retain ${name} --versions N --days D`,
      { repository: name, version: number, retiredBy: r.retired_by, retiredBefore: r.retired_before },
    );
  }
  return new BerthError('VERSION_UNKNOWN', `repository ${name} has no version ${number}`);
}
