// API tokens for robots and CI: a secret shown once, stored as its SHA-256, usable wherever a password is.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Kysely } from 'kysely';
import { BerthError } from '../core/errors.js';
import type { Database } from '../db/schema.js';
import { formatScope, type Grant } from './permissions.js';
import type { UserRecord } from './users.js';

export interface TokenInfo {
  id: string;
  user: string;
  name: string;
  /** "repository:PATTERN:ACTIONS" strings; null: everything the user may do */
  scopes: string[] | null;
  createdAt: string;
  expiresAt: string | null;
  revokedAt: string | null;
  lastUsedAt: string | null;
}

/** A token as written: berth_<id>_<secret>; the id finds the row, the secret proves possession. */
const FORMAT = /^berth_([a-z0-9]{12})_([A-Za-z0-9_-]{43})$/;
export const looksLikeApiToken = (s: string): boolean => s.startsWith('berth_');

const sha256 = (s: string): string => createHash('sha256').update(s).digest('hex');
const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

type Row = {
  id: string;
  user: string;
  name: string;
  scopes: string | null;
  created_at: number;
  expires_at: number | null;
  revoked_at: number | null;
  last_used_at: number | null;
};

const scopesOf = (json: string | null): Grant[] | null =>
  json === null ? null : (JSON.parse(json) as Grant[]);

const info = (r: Row): TokenInfo => ({
  id: r.id,
  user: r.user,
  name: r.name,
  scopes: scopesOf(r.scopes)?.map(formatScope) ?? null,
  createdAt: new Date(r.created_at).toISOString(),
  expiresAt: iso(r.expires_at),
  revokedAt: iso(r.revoked_at),
  lastUsedAt: iso(r.last_used_at),
});

export class ApiTokens {
  /**
   * `changed` is called after a token is revoked (to forget it where it was remembered); a new token changes
   * nothing remembered.
   */
  constructor(
    private readonly db: Kysely<Database>,
    private readonly changed: () => void = () => {},
  ) {}

  async create(
    user: UserRecord,
    opts: { name: string; scopes: Grant[] | null; expiresAt: number | null },
  ): Promise<TokenInfo & { token: string }> {
    if (opts.name.length === 0 || opts.name.length > 200)
      throw new BerthError('PARAMETER_INVALID', 'a token name is 1 to 200 characters');
    const id = randomBytes(9)
      .toString('base64url')
      .toLowerCase()
      .replace(/[^a-z0-9]/g, '0')
      .slice(0, 12);
    const secret = randomBytes(32).toString('base64url');
    const token = `berth_${id}_${secret}`;
    const row = {
      id,
      user_id: user.id,
      name: opts.name,
      secret_hash: sha256(secret),
      scopes: opts.scopes === null ? null : JSON.stringify(opts.scopes),
      created_at: Date.now(),
      expires_at: opts.expiresAt,
      revoked_at: null,
      last_used_at: null,
    };
    await this.db.insertInto('api_tokens').values(row).execute();
    return { ...info({ ...row, user: user.name }), token };
  }

  private select() {
    return this.db
      .selectFrom('api_tokens')
      .innerJoin('users', 'users.id', 'api_tokens.user_id')
      .select([
        'api_tokens.id',
        'users.name as user',
        'api_tokens.name',
        'api_tokens.scopes',
        'api_tokens.created_at',
        'api_tokens.expires_at',
        'api_tokens.revoked_at',
        'api_tokens.last_used_at',
      ]);
  }

  async list(user?: string): Promise<TokenInfo[]> {
    let q = this.select().orderBy('api_tokens.created_at').orderBy('api_tokens.id');
    if (user !== undefined) q = q.where('users.name', '=', user);
    return (await q.execute()).map(info);
  }

  async get(id: string): Promise<TokenInfo> {
    const r = await this.select().where('api_tokens.id', '=', id).executeTakeFirst();
    if (!r) throw new BerthError('TOKEN_UNKNOWN', `there is no API token ${id}`);
    return info(r);
  }

  /** Revokes a token for good (the row stays, for the audit trail). */
  async revoke(id: string): Promise<void> {
    const r = await this.db
      .updateTable('api_tokens')
      .set({ revoked_at: Date.now() })
      .where('id', '=', id)
      .where('revoked_at', 'is', null)
      .executeTakeFirst();
    if (Number(r.numUpdatedRows) === 0) await this.get(id); // unknown: TOKEN_UNKNOWN; already revoked: fine
    this.changed();
  }

  private row(id: string) {
    return this.db
      .selectFrom('api_tokens')
      .innerJoin('users', 'users.id', 'api_tokens.user_id')
      .select([
        'api_tokens.id',
        'api_tokens.secret_hash',
        'api_tokens.scopes',
        'api_tokens.expires_at',
        'api_tokens.revoked_at',
        'api_tokens.last_used_at',
        'users.id as user_id',
        'users.name as user',
        'users.admin',
      ])
      .where('api_tokens.id', '=', id)
      .executeTakeFirst();
  }

  private static usable(r: NonNullable<Awaited<ReturnType<ApiTokens['row']>>>, now: number): Usable {
    if (r.revoked_at !== null) return { ok: false, why: `API token ${r.id} was revoked` };
    if (r.expires_at !== null && r.expires_at <= now)
      return { ok: false, why: `API token ${r.id} has expired` };
    return {
      ok: true,
      id: r.id,
      user: { id: r.user_id, name: r.user, admin: r.admin === 1 },
      scopes: scopesOf(r.scopes),
      expiresAt: r.expires_at,
    };
  }

  /**
   * The token's user and scopes if `token` is a valid, unrevoked, unexpired token; otherwise why not.
   * The secret is compared as a hash in constant time.
   */
  async check(token: string, now = Date.now()): Promise<Usable> {
    const m = FORMAT.exec(token);
    if (!m) return { ok: false, why: 'malformed API token' };
    const r = await this.row(m[1]!);
    const given = Buffer.from(sha256(m[2]!), 'hex');
    if (!r || !timingSafeEqual(given, Buffer.from(r.secret_hash, 'hex')))
      return { ok: false, why: 'unknown API token' };
    const u = ApiTokens.usable(r, now);
    // last use, to the minute: one write a minute at most per token
    if (u.ok && (r.last_used_at === null || now - r.last_used_at > 60_000))
      await this.db.updateTable('api_tokens').set({ last_used_at: now }).where('id', '=', r.id).execute();
    return u;
  }

  /** The same as `check` for a token known by its id (a registry token issued for it names it). */
  async byId(id: string, now = Date.now()): Promise<Usable> {
    const r = await this.row(id);
    return r ? ApiTokens.usable(r, now) : { ok: false, why: 'unknown API token' };
  }
}

export type Usable =
  | { ok: true; id: string; user: UserRecord; scopes: Grant[] | null; expiresAt: number | null }
  | { ok: false; why: string };
