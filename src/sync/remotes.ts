// The remotes service: registries content is brought in from, added, listed, edited and removed; get() for sync.
import type { Kysely, Selectable, Transaction } from 'kysely';
import { isPostgres } from '../db/dialect.js';
import type { Database, RemotesTable } from '../db/schema.js';
import { BerthError } from '../core/errors.js';
import type { Clock } from '../gc/clock.js';
import { realClock } from '../gc/clock.js';
import type { ReferrersPolicy, Remote } from './remote.js';
import { checkSettings, DEFAULT_SETTINGS, parseRemoteName, type RemoteSettings } from './remote-settings.js';
import type { Secrets } from './secrets.js';

type Db = Kysely<Database>;
type Row = Selectable<RemotesTable>;

/** A remote as the API shows it: its settings but the password, of which only its presence is told. */
export type RemoteInfo = { name: string; hasPassword: boolean } & Omit<RemoteSettings, 'password'> & {
    /** the last `ratelimit-remaining` the remote answered, and when (null: none seen) */
    ratelimitRemaining: number | null;
    ratelimitSeenAt: string | null;
    createdAt: string;
    updatedAt: string;
  };

/** A new remote: its name and URL; what is left out takes DEFAULT_SETTINGS. */
export type NewRemote = { name: string; url: string } & Partial<Omit<RemoteSettings, 'url'>>;
/** An edit: the settings given change (null clears username, password, CA, rate); the others stay. */
export type RemoteChanges = Partial<RemoteSettings>;

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(Number(ms)).toISOString());
const referrersOf = (v: string): ReferrersPolicy =>
  v === 'none' || v === 'all' ? v : (JSON.parse(v) as string[]);
const storedReferrers = (r: ReferrersPolicy): string => (typeof r === 'string' ? r : JSON.stringify(r));

function info(r: Row): RemoteInfo {
  return {
    name: r.name,
    url: r.url,
    username: r.username,
    hasPassword: r.secret !== null,
    caPem: r.ca_pem,
    tlsVerify: Number(r.tls_verify) !== 0,
    include: JSON.parse(r.include) as string[],
    exclude: JSON.parse(r.exclude) as string[],
    platforms: JSON.parse(r.platforms) as string[],
    referrers: referrersOf(r.referrers),
    policy: r.policy,
    concurrency: Number(r.concurrency),
    requestsPerSecond: r.requests_per_second === null ? null : Number(r.requests_per_second),
    ratelimitRemaining: r.ratelimit_remaining === null ? null : Number(r.ratelimit_remaining),
    ratelimitSeenAt: iso(r.ratelimit_seen_at),
    createdAt: iso(r.created_at)!,
    updatedAt: iso(r.updated_at)!,
  };
}

/** The settings columns of a checked remote (the secret apart). */
const columns = (s: RemoteSettings) => ({
  url: s.url,
  username: s.username,
  ca_pem: s.caPem,
  tls_verify: s.tlsVerify ? 1 : 0,
  include: JSON.stringify(s.include),
  exclude: JSON.stringify(s.exclude),
  platforms: JSON.stringify(s.platforms),
  referrers: storedReferrers(s.referrers),
  policy: s.policy,
  concurrency: s.concurrency,
  requests_per_second: s.requestsPerSecond,
});

const unknown = (name: string): BerthError =>
  new BerthError('REMOTE_UNKNOWN', `there is no remote ${name}; berth remote list shows the remotes`, {
    remote: name,
  });

/**
 * Locks remote `name` in `trx` against removal until the transaction ends (PostgreSQL: FOR SHARE; SQLite writes
 * one transaction at a time), or throws REMOTE_UNKNOWN. Whatever records a use of a remote — a cache, a schedule,
 * on-demand blob rows — calls it in the transaction that writes the use, so that `remove` sees every use.
 */
export async function lockRemote(trx: Transaction<Database> | Db, name: string): Promise<void> {
  const pg = isPostgres(trx);
  const row = await trx
    .selectFrom('remotes')
    .select('name')
    .where('name', '=', name)
    .$if(pg, (q) => q.forShare())
    .executeTakeFirst();
  if (!row) throw unknown(name);
}

/** Remotes: administrators manage them through the API; sync, on-demand blobs and caches read them with get(). */
export class Remotes {
  constructor(
    private readonly db: Db,
    private readonly secrets: Secrets,
    private readonly clock: Clock = realClock,
  ) {}

  async list(): Promise<RemoteInfo[]> {
    const rows = await this.db.selectFrom('remotes').selectAll().orderBy('name').execute();
    return rows.map((r) => info(r));
  }

  async show(name: string): Promise<RemoteInfo> {
    const row = await this.db.selectFrom('remotes').selectAll().where('name', '=', name).executeTakeFirst();
    if (!row) throw unknown(name);
    return info(row);
  }

  /** Adds a remote if its name is free (through the primary key), else ALREADY_EXISTS. */
  async add(input: NewRemote): Promise<RemoteInfo> {
    const name = parseRemoteName(input.name);
    const s = checkSettings({ ...DEFAULT_SETTINGS, ...input });
    const secret = s.password === null ? null : await this.secrets.encrypt(name, s.password);
    const now = this.clock.now();
    const inserted = await this.db
      .insertInto('remotes')
      .values({ name, ...columns(s), secret, created_at: now, updated_at: now })
      .onConflict((oc) => oc.column('name').doNothing())
      .executeTakeFirst();
    if (Number(inserted.numInsertedOrUpdatedRows ?? 0) === 0) {
      throw new BerthError(
        'ALREADY_EXISTS',
        `a remote named ${name} exists already: choose another name, or change it (berth remote edit ${name})`,
        { remote: name },
      );
    }
    return this.show(name);
  }

  /** Changes the settings given; the whole result is checked, and read and written in one transaction. */
  async edit(name: string, changes: RemoteChanges): Promise<RemoteInfo> {
    await this.db.transaction().execute(async (trx) => {
      const pg = isPostgres(trx);
      const row = await trx
        .selectFrom('remotes')
        .selectAll()
        .where('name', '=', name)
        .$if(pg, (q) => q.forUpdate())
        .executeTakeFirst();
      if (!row) throw unknown(name);
      const was = info(row);
      const kept = row.secret === null ? null : 'kept'; // stands for the stored password when it stays
      const s = checkSettings({
        ...was,
        password: kept,
        ...changes,
      });
      // encrypted once the remote and the edit are known good (a refusal makes no key file)
      const newSecret =
        typeof changes.password === 'string' ? await this.secrets.encrypt(name, s.password!) : null;
      await trx
        .updateTable('remotes')
        .set({
          ...columns(s),
          ...(changes.password === undefined ? {} : { secret: newSecret }),
          updated_at: this.clock.now(),
        })
        .where('name', '=', name)
        .execute();
    });
    return this.show(name);
  }

  /**
   * Removes a remote no cache, sync schedule or on-demand blob uses (else REMOTE_IN_USE naming them): the row is
   * deleted first (locking it), then the uses are looked for, so that a use recorded at the same time either
   * waits and finds no remote (lockRemote) or is seen here.
   */
  async remove(name: string): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      const r = await trx.deleteFrom('remotes').where('name', '=', name).executeTakeFirst();
      if (Number(r.numDeletedRows) === 0) throw unknown(name);
      const caches = await trx.selectFrom('caches').select('name').where('remote', '=', name).execute();
      const schedules = await trx
        .selectFrom('sync_schedules')
        .select('repository')
        .where('remote', '=', name)
        .execute();
      const onDemand = await trx
        .selectFrom('on_demand_blobs')
        .select('repository')
        .distinct()
        .where('remote', '=', name)
        .orderBy('repository')
        .limit(20)
        .execute();
      if (caches.length + schedules.length + onDemand.length === 0) return;
      const uses = [
        ...(caches.length ? [`caches ${caches.map((c) => c.name).join(', ')} (berth cache rm)`] : []),
        ...(schedules.length
          ? [
              `the sync schedules of ${schedules.map((s) => s.repository).join(', ')} (berth repo sync REPO --no-schedule)`,
            ]
          : []),
        ...(onDemand.length
          ? [
              `on-demand blobs of ${onDemand.map((o) => o.repository).join(', ')} (pull them, or remove those images, first)`,
            ]
          : []),
      ];
      throw new BerthError(
        'REMOTE_IN_USE',
        `remote ${name} is in use by ${uses.join('; ')}: nothing removed`,
        {
          remote: name,
          caches: caches.map((c) => c.name),
          schedules: schedules.map((s) => s.repository),
          onDemandRepositories: onDemand.map((o) => o.repository),
        },
      );
    });
  }

  /** The remote as sync, on-demand blobs and caches use it, its password decrypted (internal: never answered). */
  async get(name: string): Promise<Remote> {
    const row = await this.db.selectFrom('remotes').selectAll().where('name', '=', name).executeTakeFirst();
    if (!row) throw unknown(name);
    const r = info(row);
    return {
      connection: {
        name: r.name,
        url: r.url,
        ...(r.username === null ? {} : { username: r.username }),
        ...(row.secret === null ? {} : { password: await this.secrets.decrypt(name, row.secret) }),
        ...(r.caPem === null ? {} : { caPem: r.caPem }),
        tlsVerify: r.tlsVerify,
        concurrency: r.concurrency,
        ...(r.requestsPerSecond === null ? {} : { requestsPerSecond: r.requestsPerSecond }),
      },
      include: r.include,
      exclude: r.exclude,
      platforms: r.platforms,
      referrers: r.referrers,
      policy: r.policy,
    };
  }

  /** Keeps the last `ratelimit-remaining` a remote answered (an Upstream's onRateLimit calls it). */
  async recordRateLimit(name: string, remaining: number): Promise<void> {
    await this.db
      .updateTable('remotes')
      .set({ ratelimit_remaining: remaining, ratelimit_seen_at: this.clock.now() })
      .where('name', '=', name)
      .execute();
  }

  /** Every remote's last `ratelimit-remaining` (those that answered one), for the metrics. */
  async rateLimits(): Promise<{ name: string; remaining: number }[]> {
    const rows = await this.db
      .selectFrom('remotes')
      .select(['name', 'ratelimit_remaining'])
      .where('ratelimit_remaining', 'is not', null)
      .orderBy('name')
      .execute();
    return rows.map((r) => ({ name: r.name, remaining: Number(r.ratelimit_remaining) }));
  }
}
