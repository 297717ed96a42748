// Pull-through caches: add, list, show and remove them, find the cache a repository name falls under, refuse pushes.
import { createHash } from 'node:crypto';
import { sql, type Kysely, type Transaction } from 'kysely';
import { isPostgres } from '../db/dialect.js';
import type { CachesTable, Database } from '../db/schema.js';
import { BerthError } from '../core/errors.js';
import { parseRepositoryName } from '../core/references.js';
import { realClock, type Clock } from '../gc/clock.js';

type Db = Kysely<Database>;

/** A tag is checked upstream at most every 5 minutes by default; served for a day when upstream fails. */
export const DEFAULT_CHECK_SECONDS = 300;
export const DEFAULT_STALE_SECONDS = 86_400;
const MAX_SECONDS = 10 * 365 * 86_400;
const NAME = /^[a-z0-9][a-z0-9_.-]{0,62}$/;

export interface CacheSettings {
  name: string;
  remote: string;
  prefix: string;
  checkSeconds?: number;
  staleSeconds?: number;
  /** cache repositories' references not pulled for this many days are removed (null or absent: kept) */
  retainDays?: number | null;
}

export interface CacheInfo {
  name: string;
  remote: string;
  prefix: string;
  checkSeconds: number;
  staleSeconds: number;
  retainDays: number | null;
  createdAt: string;
  /** the repositories the cache has made so far */
  repositories: number;
}

/** What `edit` changes: only the settings given (retainDays null: kept for ever again). */
export interface CacheChanges {
  remote?: string;
  checkSeconds?: number;
  staleSeconds?: number;
  retainDays?: number | null;
  /** never changes: given only to be refused with the reason (the cache's repositories are named under it) */
  prefix?: string;
}

/** The cache a repository name falls under, and the upstream repository it stands for. */
export interface CacheMatch {
  cache: CachesTable;
  /** the name under the prefix: cache/hub/library/alpine under cache/hub is library/alpine */
  upstream: string;
}

const iso = (ms: number): string => new Date(Number(ms)).toISOString();

/** The names a cache prefix covering `name` may have: `name` and each of its ancestors (a/b/c: a, a/b, a/b/c). */
export const prefixesOf = (name: string): string[] =>
  name.split('/').map((_, i, parts) => parts.slice(0, i + 1).join('/'));

function seconds(value: number | undefined, fallback: number, what: string, min = 0): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < min || value > MAX_SECONDS) {
    throw new BerthError(
      'PARAMETER_INVALID',
      `${what} must be a whole number of seconds from ${min} to ${MAX_SECONDS}, not ${value}`,
    );
  }
  return value;
}

/** The PostgreSQL advisory lock that serializes the additions of caches (their prefixes may not overlap). */
const ADD_LOCK = createHash('sha256').update('caches:add').digest().readBigInt64BE(0);

export class Caches {
  constructor(
    private readonly db: Db,
    private readonly clock: Clock = realClock,
  ) {}

  /**
   * Adds a cache. Refused: a bad name, prefix or setting (PARAMETER_INVALID, NAME_INVALID); a remote that does not
   * exist (PARAMETER_INVALID); a taken name, a prefix inside or around another cache's, or one covering
   * repositories that exist already and are no cache's (ALREADY_EXISTS, naming them). The checks and the insert
   * are one transaction, under the remote's row lock (a remote removed meanwhile waits, then sees the cache) and,
   * on PostgreSQL, an advisory lock that queues additions (SQLite's write lock does the same).
   */
  async add(s: CacheSettings): Promise<CacheInfo> {
    if (!NAME.test(s.name)) {
      throw new BerthError(
        'PARAMETER_INVALID',
        `"${s.name}" is not a cache name: use 1 to 63 lowercase letters, digits, ".", "_" and "-", starting with a letter or digit`,
      );
    }
    const prefix = parseRepositoryName(s.prefix);
    const check = seconds(s.checkSeconds, DEFAULT_CHECK_SECONDS, 'checkSeconds');
    const stale = seconds(s.staleSeconds, DEFAULT_STALE_SECONDS, 'staleSeconds');
    const retain = s.retainDays == null ? null : seconds(s.retainDays, 0, 'retainDays', 1);
    const now = this.clock.now();
    await this.db.transaction().execute(async (trx) => {
      // SQLite: this first statement, a write, takes the database's write lock for the whole transaction
      if (isPostgres(trx)) {
        await sql`select pg_advisory_xact_lock(${ADD_LOCK.toString()}::bigint)`.execute(trx);
      }
      const remote = await trx
        .updateTable('remotes')
        .set((eb) => ({ name: eb.ref('name') }))
        .where('name', '=', s.remote)
        .returning('name')
        .executeTakeFirst();
      if (!remote) {
        throw new BerthError(
          'PARAMETER_INVALID',
          `remote ${s.remote} does not exist: add it first (berth remote add ${s.remote} URL), or name another`,
        );
      }
      await refuseTaken(trx, s.name, prefix);
      await trx
        .insertInto('caches')
        .values({
          name: s.name,
          remote: s.remote,
          prefix,
          check_seconds: check,
          stale_seconds: stale,
          retain_days: retain,
          created_at: now,
        })
        .execute();
    });
    return this.show(s.name);
  }

  /**
   * Changes the settings given; the others stay. Refused: an unknown cache (CACHE_UNKNOWN), a bad setting, a remote
   * that does not exist, or a new prefix (PARAMETER_INVALID: the repositories the cache made are named under it).
   * A new remote is locked as in `add` (a removal of it meanwhile waits, then sees the cache); blobs the cache's
   * repositories hold on demand still come from the remote that listed them (their rows name it).
   */
  async edit(name: string, changes: CacheChanges): Promise<CacheInfo> {
    const check =
      changes.checkSeconds === undefined ? undefined : seconds(changes.checkSeconds, 0, 'checkSeconds');
    const stale =
      changes.staleSeconds === undefined ? undefined : seconds(changes.staleSeconds, 0, 'staleSeconds');
    const retain =
      changes.retainDays === undefined
        ? undefined
        : changes.retainDays === null
          ? null
          : seconds(changes.retainDays, 0, 'retainDays', 1);
    await this.db.transaction().execute(async (trx) => {
      // a write first: it locks the row (PostgreSQL) or takes the write lock for the transaction (SQLite)
      const row = await trx
        .updateTable('caches')
        .set((eb) => ({ name: eb.ref('name') }))
        .where('name', '=', name)
        .returningAll()
        .executeTakeFirst();
      if (!row) throw unknownCache(name);
      if (changes.prefix !== undefined && changes.prefix !== row.prefix) {
        throw new BerthError(
          'PARAMETER_INVALID',
          `the prefix of cache ${name} (${row.prefix}) cannot change: the repositories it made are named under it. ` +
            `Add a cache with the new prefix (berth cache add), then remove this one`,
          { cache: name, prefix: row.prefix },
        );
      }
      if (changes.remote !== undefined && changes.remote !== row.remote) {
        const remote = await trx
          .updateTable('remotes')
          .set((eb) => ({ name: eb.ref('name') }))
          .where('name', '=', changes.remote)
          .returning('name')
          .executeTakeFirst();
        if (!remote) {
          throw new BerthError(
            'PARAMETER_INVALID',
            `remote ${changes.remote} does not exist: add it first (berth remote add ${changes.remote} URL), or name another`,
          );
        }
      }
      await trx
        .updateTable('caches')
        .set({
          remote: changes.remote ?? row.remote,
          check_seconds: check ?? row.check_seconds,
          stale_seconds: stale ?? row.stale_seconds,
          retain_days: retain === undefined ? row.retain_days : retain,
        })
        .where('name', '=', name)
        .execute();
    });
    return this.show(name);
  }

  async list(): Promise<CacheInfo[]> {
    const rows = await this.db.selectFrom('caches').selectAll().orderBy('name').execute();
    const counts = await this.db
      .selectFrom('repositories')
      .select(['cache', (eb) => eb.fn.countAll<number>().as('n')])
      .where('cache', 'is not', null)
      .groupBy('cache')
      .execute();
    const n = new Map(counts.map((c) => [c.cache, Number(c.n)]));
    return rows.map((r) => info(r, n.get(r.name) ?? 0));
  }

  async show(name: string): Promise<CacheInfo> {
    const r = await this.db.selectFrom('caches').selectAll().where('name', '=', name).executeTakeFirst();
    if (!r) throw unknownCache(name);
    const { n } = await this.db
      .selectFrom('repositories')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('cache', '=', name)
      .executeTakeFirstOrThrow();
    return info(r, Number(n));
  }

  /**
   * Removes a cache: its prefix resolves nothing upstream any more. The repositories it made stay, as ordinary
   * repositories (they take pushes again; `berth repo delete` removes them), with the blobs they hold on demand.
   */
  async remove(name: string): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      const gone = await trx.deleteFrom('caches').where('name', '=', name).executeTakeFirst();
      if (Number(gone.numDeletedRows) === 0) throw unknownCache(name);
      const repos = trx.selectFrom('repositories').select('name').where('cache', '=', name);
      await trx.deleteFrom('cache_tags').where('repository', 'in', repos).execute();
      await trx.updateTable('repositories').set({ cache: null }).where('cache', '=', name).execute();
    });
  }

  /** The cache whose prefix covers repository `name` (the longest, should two), or undefined. */
  async match(name: string): Promise<CacheMatch | undefined> {
    const rows = await this.db
      .selectFrom('caches')
      .selectAll()
      .where('prefix', 'in', prefixesOf(name))
      .execute();
    const cache = rows.sort((a, b) => b.prefix.length - a.prefix.length)[0];
    if (!cache) return undefined;
    return { cache, upstream: name.slice(cache.prefix.length + 1) };
  }

  /** Refuses a push (upload, manifest, archive, sync) into repository `name` if a cache covers it (DENIED). */
  async refusePush(name: string): Promise<void> {
    const m = await this.match(name);
    if (!m) return;
    throw new BerthError(
      'DENIED',
      `repository ${name} belongs to the pull-through cache ${m.cache.name} (prefix ${m.cache.prefix}), which ` +
        `takes no pushes: its content comes from remote ${m.cache.remote}. Push to a repository outside ${m.cache.prefix}/`,
      { repository: name, cache: m.cache.name },
    );
  }

  /**
   * The cache serving containerd's mirror requests for `host` (`?ns=docker.io`): one whose remote's URL has that
   * host (docker.io stands for Docker Hub's registry-1.docker.io), the first by name should several.
   */
  async forNamespace(host: string): Promise<CachesTable | undefined> {
    const rows = await this.db
      .selectFrom('caches as c')
      .innerJoin('remotes as r', 'r.name', 'c.remote')
      .selectAll('c')
      .select('r.url')
      .orderBy('c.name')
      .execute();
    const wanted = hostAliases(host.toLowerCase());
    const hit = rows.find((r) => wanted.includes(hostOf(r.url)));
    if (!hit) return undefined;
    return {
      name: hit.name,
      remote: hit.remote,
      prefix: hit.prefix,
      check_seconds: hit.check_seconds,
      stale_seconds: hit.stale_seconds,
      retain_days: hit.retain_days,
      created_at: hit.created_at,
    };
  }
}

/** A URL's host[:port], lowercase ('' when it is no URL). */
function hostOf(url: string): string {
  try {
    return new URL(url).host.toLowerCase();
  } catch {
    return '';
  }
}

/** The hosts a containerd namespace may stand for: itself, and Docker Hub's registry hosts for docker.io. */
function hostAliases(host: string): string[] {
  const hub = ['docker.io', 'index.docker.io', 'registry-1.docker.io', 'registry.hub.docker.com'];
  return hub.includes(host) ? hub : [host];
}

async function refuseTaken(trx: Transaction<Database>, name: string, prefix: string): Promise<void> {
  const same = await trx.selectFrom('caches').select('name').where('name', '=', name).executeTakeFirst();
  if (same) {
    throw new BerthError(
      'ALREADY_EXISTS',
      `cache ${name} exists already: remove it first, or pick another name`,
      {
        cache: name,
      },
    );
  }
  // A prefix inside another's (cache/hub/x under cache/hub), the same, or around one (cache around cache/hub)
  const inside = await trx
    .selectFrom('caches')
    .select(['name', 'prefix'])
    .where('prefix', 'in', prefixesOf(prefix))
    .execute();
  const around = (await trx.selectFrom('caches').select(['name', 'prefix']).execute()).filter((c) =>
    c.prefix.startsWith(`${prefix}/`),
  );
  const clash = [...inside, ...around];
  if (clash.length > 0) {
    throw new BerthError(
      'ALREADY_EXISTS',
      `prefix ${prefix} overlaps the prefix of cache ${clash.map((c) => `${c.name} (${c.prefix})`).join(', ')}: ` +
        'prefixes of caches may not contain each other',
      { prefix, caches: clash.map((c) => c.name) },
    );
  }
  const repos = (
    await trx
      .selectFrom('repositories')
      .select('name')
      .where('cache', 'is', null)
      .where('deleted_version', 'is', null)
      .where((eb) =>
        eb.or([
          eb('name', '=', prefix),
          sql<boolean>`${eb.ref('name')} like ${likeUnder(prefix)} escape '!'`,
        ]),
      )
      .orderBy('name')
      .limit(6)
      .execute()
  ).map((r) => r.name);
  if (repos.length > 0) {
    const shown = repos.slice(0, 5).join(', ') + (repos.length > 5 ? ', …' : '');
    throw new BerthError(
      'ALREADY_EXISTS',
      `prefix ${prefix} covers repositories that exist already and are no cache's (${shown}): a cache would ` +
        'refuse their pushes. Pick another prefix, or delete them first (berth repo delete)',
      { prefix, repositories: repos.slice(0, 5) },
    );
  }
}

/** A LIKE pattern for the names under `prefix`/ ("_" and "." are literal there; "!" escapes). */
const likeUnder = (prefix: string): string => `${prefix.replace(/[!%_]/g, (c) => `!${c}`)}/%`;

function info(r: CachesTable, repositories: number): CacheInfo {
  return {
    name: r.name,
    remote: r.remote,
    prefix: r.prefix,
    checkSeconds: r.check_seconds,
    staleSeconds: r.stale_seconds,
    retainDays: r.retain_days,
    createdAt: iso(r.created_at),
    repositories,
  };
}

const unknownCache = (name: string): BerthError =>
  new BerthError('CACHE_UNKNOWN', `cache ${name} does not exist (berth cache list shows the caches)`, {
    cache: name,
  });
