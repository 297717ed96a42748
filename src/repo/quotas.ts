// Storage quotas per repository or name pattern: set, remove, list, and the check every write that adds bytes makes.
import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.js';
import { BerthError } from '../core/errors.js';
import { formatBytes } from '../core/sizes.js';
import { addedBytes, patternsMatching, usageOf, type Sized } from './usage.js';

type Db = Kysely<Database>;

export interface Quota {
  /** a repository name, a prefix "team/*", or "*" */
  pattern: string;
  /** bytes the repositories matching the pattern may hold together */
  limit: number;
  /** bytes they hold now (see usageOf) */
  usage: number;
}

export interface QuotaInfo extends Quota {
  createdAt: string;
}

/**
 * THE QUOTA RULE, enforced here and by the writers that call it: a write that adds bytes to what repository R
 * holds (a blob upload finishing, a mount, a new version: manifest push, archive upload, restore) first locks the
 * row of every quota whose pattern matches R (in pattern order, after R's own row lock where it takes one, before
 * any blob row), then counts each quota's usage, and refuses with DENIED when the bytes it adds would take any of
 * them past its limit; the write happens in the same transaction. Two writers under one quota therefore queue on
 * its row, and the second counts what the first wrote: concurrent pushes cannot both pass. Writes that add
 * nothing (a tag, a delete, cleanup) pass even when a quota is already exceeded (e.g. lowered below the usage).
 */
export async function lockQuotas(db: Db, name: string): Promise<Quota[]> {
  return quotasOn(db, name, true);
}

/** The quotas governing repository `name`, with their usage, sorted by pattern; locked when `lock`. */
async function quotasOn(db: Db, name: string, lock: boolean): Promise<Quota[]> {
  const found = await db
    .selectFrom('quotas')
    .select(['pattern', 'limit_bytes'])
    .where('pattern', 'in', patternsMatching(name))
    .orderBy('pattern')
    .execute();
  const out: Quota[] = [];
  for (const q of found) {
    let limit = q.limit_bytes;
    if (lock) {
      // the row lock, as lockRepository takes one: an update that changes nothing; a quota removed meanwhile is gone
      const row = await db
        .updateTable('quotas')
        .set((eb) => ({ limit_bytes: eb.ref('limit_bytes') }))
        .where('pattern', '=', q.pattern)
        .returning('limit_bytes')
        .executeTakeFirst();
      if (!row) continue;
      limit = row.limit_bytes;
    }
    out.push({ pattern: q.pattern, limit: Number(limit), usage: await usageOf(db, q.pattern) });
  }
  return out;
}

/**
 * Refuses (DENIED) when adding `added` bytes of `what` to repository `name` takes one of `quotas` past its
 * limit; the message names the quota, its usage and the size refused.
 */
export function assertRoom(name: string, quotas: Quota[], added: number, what: string): void {
  if (added <= 0) return;
  for (const q of quotas) {
    if (q.usage + added <= q.limit) continue;
    const who =
      q.pattern === name ? `repository ${name} holds` : `the repositories matching ${q.pattern} hold`;
    throw new BerthError(
      'DENIED',
      `quota ${q.pattern} exceeded: ${who} ${formatBytes(q.usage)} (${q.usage} bytes) of ${formatBytes(q.limit)} (${q.limit} bytes), and ${what} would add ${formatBytes(added)} (${added} bytes); delete content from ${q.pattern === name ? 'it' : 'them'} (cleanup then frees the space) or ask an administrator to raise the quota`,
      { quota: q.pattern, limit: q.limit, usage: q.usage, size: added },
    );
  }
}

/**
 * Checks that writing `items` into repository `name` keeps every quota on it: with `lock`, inside the write's
 * transaction (the rule above); without, a check before the work (moving files into place) that the locked one
 * repeats, so that a write refused for its quota has stored nothing. Returns the bytes the items add.
 */
export async function checkQuotas(
  db: Db,
  name: string,
  items: Sized[],
  what: string,
  opts: { lock: boolean },
): Promise<number> {
  const quotas = await quotasOn(db, name, opts.lock);
  if (quotas.length === 0) return 0;
  const added = await addedBytes(db, name, items);
  assertRoom(name, quotas, added, what);
  return added;
}

const iso = (ms: number): string => new Date(Number(ms)).toISOString();

/** The quotas an administrator sets. Patterns are checked by the caller (auth's parsePattern). */
export class Quotas {
  constructor(private readonly db: Db) {}

  /** Sets (or changes) the quota on `pattern`; lowering it below the usage refuses further growth only. */
  async set(pattern: string, limit: number): Promise<QuotaInfo> {
    if (!Number.isSafeInteger(limit) || limit < 0) {
      throw new BerthError(
        'PARAMETER_INVALID',
        `a quota is a whole number of bytes, 0 or more, not ${limit}`,
      );
    }
    const row = await this.db
      .insertInto('quotas')
      .values({ pattern, limit_bytes: limit, created_at: Date.now() })
      .onConflict((oc) => oc.column('pattern').doUpdateSet({ limit_bytes: limit }))
      .returning('created_at')
      .executeTakeFirstOrThrow();
    return { pattern, limit, usage: await usageOf(this.db, pattern), createdAt: iso(row.created_at) };
  }

  async remove(pattern: string): Promise<void> {
    const r = await this.db.deleteFrom('quotas').where('pattern', '=', pattern).executeTakeFirst();
    if (Number(r.numDeletedRows) === 0) {
      throw new BerthError('NOT_FOUND', `there is no quota on "${pattern}" (berth quota list shows them)`);
    }
  }

  /** Every quota with its usage now, by pattern. */
  async list(): Promise<QuotaInfo[]> {
    const rows = await this.db.selectFrom('quotas').selectAll().orderBy('pattern').execute();
    const out: QuotaInfo[] = [];
    for (const r of rows) {
      out.push({
        pattern: r.pattern,
        limit: Number(r.limit_bytes),
        usage: await usageOf(this.db, r.pattern),
        createdAt: iso(r.created_at),
      });
    }
    return out;
  }

  /** What repository `name` holds as quotas count it, and the quotas that govern it. */
  async of(name: string): Promise<{ bytes: number; quotas: Quota[] }> {
    return { bytes: await usageOf(this.db, name), quotas: await quotasOn(this.db, name, false) };
  }
}
