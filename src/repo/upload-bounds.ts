// The bounds of open upload sessions, per repository and per user: a session opens only within both, atomically.
import { createHash } from 'node:crypto';
import { sql, type Kysely } from 'kysely';
import { isPostgres } from '../db/dialect.js';
import { BerthError } from '../core/errors.js';
import type { Database } from '../db/schema.js';

export interface SessionBounds {
  /** the most sessions open at once in one repository (0: no bound) */
  maxPerRepository: number;
  /** the most sessions open at once by one user, in all repositories (0: no bound) */
  maxPerUser: number;
  /** sessions untouched for this long are removed, with their bytes (the refusal says so) */
  expireAfterMs: number;
}

type Db = Kysely<Database>;

/** The PostgreSQL advisory lock of the open sessions of a repository or user (a signed 64-bit integer). */
const lockId = (key: string): bigint =>
  createHash('sha256').update(`uploads:${key}`).digest().readBigInt64BE(0);

const openIn = (column: 'repository' | 'user_id', value: string | number) =>
  sql<number>`(select count(*) from upload_sessions where ${sql.ref(column)} = ${value})`;

/**
 * Inserts the row of a new session, unless its repository or its user has the most sessions open already: then
 * inserts nothing and throws TOOMANYREQUESTS saying which bound and what to do. Invariant: no more sessions are
 * open than the bounds allow, whatever runs in parallel. The counts and the insert are one statement (SQLite runs
 * it under its write lock); on PostgreSQL, one transaction that first takes an advisory lock per repository and
 * user (in one order, so that two starts cannot wait for each other), so that parallel starts on any process
 * count each other.
 */
export async function openSession(
  db: Db,
  s: { id: string; repository: string; userId: number | null; now: number },
  bounds: SessionBounds,
): Promise<void> {
  const { maxPerRepository: perRepo, maxPerUser: perUser } = bounds;
  const insert = async (tx: Db): Promise<boolean> => {
    const repoOk = perRepo > 0 ? sql`${openIn('repository', s.repository)} < ${perRepo}` : sql`1 = 1`;
    const userOk =
      perUser > 0 && s.userId !== null ? sql`${openIn('user_id', s.userId)} < ${perUser}` : sql`1 = 1`;
    const { rows } = await sql<{ id: string }>`
      insert into upload_sessions (id, repository, size, created_at, updated_at, busy_until, user_id)
      select cast(${s.id} as text), cast(${s.repository} as text), 0, cast(${s.now} as bigint),
        cast(${s.now} as bigint), 0, cast(${s.userId} as integer)
      where ${repoOk} and ${userOk}
      returning id`.execute(tx);
    return rows.length > 0;
  };
  const opened = !isPostgres(db)
    ? await insert(db)
    : await db.transaction().execute(async (tx) => {
        const keys = [`repo:${s.repository}`, ...(s.userId === null ? [] : [`user:${s.userId}`])];
        const ids = keys.map(lockId).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
        for (const id of ids) await sql`select pg_advisory_xact_lock(${id.toString()}::bigint)`.execute(tx);
        return insert(tx);
      });
  if (!opened) throw await tooMany(db, s.repository, bounds);
}

/** TOOMANYREQUESTS saying which bound was reached, and what to do. */
async function tooMany(db: Db, repository: string, bounds: SessionBounds): Promise<BerthError> {
  const { maxPerRepository: perRepo, maxPerUser: perUser } = bounds;
  const { n } = await db
    .selectFrom('upload_sessions')
    .select((eb) => eb.fn.countAll().as('n'))
    .where('repository', '=', repository)
    .executeTakeFirstOrThrow();
  const byRepo = perRepo > 0 && Number(n) >= perRepo;
  const what = byRepo
    ? `repository ${repository} has ${perRepo} upload sessions open, the most allowed per repository`
    : `you have ${perUser} upload sessions open, the most allowed per user`;
  const hours = Math.round((bounds.expireAfterMs / 3600_000) * 10) / 10;
  return new BerthError(
    'TOOMANYREQUESTS',
    `${what}: finish (PUT) or cancel (DELETE) the uploads in progress, or wait until unused ones expire ` +
      `(${hours} h after their last change); then try again`,
    byRepo ? { repository, maxPerRepository: perRepo } : { maxPerUser: perUser },
  );
}
