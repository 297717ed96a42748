// Sessions of the web pages: a random secret in the visitor's cookie, its hash in the database, until it expires.
import { createHash, randomBytes } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.js';

/** How long a session lasts after sign-in (it does not extend itself). */
export const SESSION_TTL_MS = 12 * 60 * 60 * 1000;

/** Whose a session is: the user (by id, never reused, and name) and the API token signed in with, if one was. */
export interface SessionOwner {
  userId: number;
  user: string;
  tokenId: string | null;
}

export interface SessionRecord extends SessionOwner {
  expiresAt: number;
}

const hash = (secret: string): string => createHash('sha256').update(secret).digest('hex');

/** A secret of 32 random bytes, URL-safe: what a session cookie holds. */
export const newSecret = (): string => randomBytes(32).toString('base64url');

export class Sessions {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly now: () => number,
    private readonly ttlMs = SESSION_TTL_MS,
  ) {}

  /** A new session of `owner`: its secret (for the cookie, shown nowhere else) and when it ends. Sweeps expired ones. */
  async create(owner: SessionOwner): Promise<{ secret: string; expiresAt: number }> {
    const now = this.now();
    await this.db.deleteFrom('web_sessions').where('expires_at', '<=', now).execute();
    const secret = newSecret();
    const expiresAt = now + this.ttlMs;
    await this.db
      .insertInto('web_sessions')
      .values({
        id: hash(secret),
        user_id: owner.userId,
        user_name: owner.user,
        token_id: owner.tokenId,
        created_at: now,
        expires_at: expiresAt,
      })
      .execute();
    return { secret, expiresAt };
  }

  /** The session a cookie's secret names, unless it has ended or was signed out of. */
  async find(secret: string): Promise<SessionRecord | undefined> {
    const r = await this.db
      .selectFrom('web_sessions')
      .select(['user_id', 'user_name', 'token_id', 'expires_at'])
      .where('id', '=', hash(secret))
      .executeTakeFirst();
    if (!r || r.expires_at <= this.now()) return undefined;
    return { userId: r.user_id, user: r.user_name, tokenId: r.token_id, expiresAt: r.expires_at };
  }

  /** Ends a session (sign-out); an unknown secret changes nothing. */
  async remove(secret: string): Promise<void> {
    await this.db.deleteFrom('web_sessions').where('id', '=', hash(secret)).execute();
  }
}
