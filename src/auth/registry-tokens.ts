// Registry tokens: short-lived JWTs (HS256) for the Docker token flow, signed with keys kept in the database
// so that every berth process on it issues and accepts the same tokens, across restarts.
import { randomBytes, randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import { jwtVerify, SignJWT, errors as joseErrors } from 'jose';
import type { Database } from '../db/schema.js';
import { isAction, type Action } from './permissions.js';

const ISSUER = 'berth';

/** One entry of a token's `access` claim, as the Docker token spec writes it. */
export interface AccessEntry {
  type: 'repository' | 'registry';
  name: string;
  actions: string[];
}

export interface RegistryTokenClaims {
  user: string | null;
  /** the user's id (never reused, unlike a name); absent from anonymous tokens */
  userId?: number;
  tokenId?: string;
  /** repository name → actions granted */
  repositories: Map<string, Set<Action>>;
  expiresAt: number;
}

export class RegistryTokens {
  private keys = new Map<string, Uint8Array>();
  private current?: { kid: string; key: Uint8Array };
  private loadedAt = 0;

  /** `now`: the clock (ms since the epoch) of issuing and verifying; tests pass a fake one. */
  constructor(
    private readonly db: Kysely<Database>,
    readonly service: string,
    readonly ttlSeconds: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Makes sure a signing key exists (the first process to start creates it; the others find it) and loads them. */
  async init(): Promise<void> {
    await this.db
      .insertInto('signing_keys')
      .values({ kid: 'key-1', secret: randomBytes(32).toString('base64url'), created_at: this.now() })
      .onConflict((oc) => oc.column('kid').doNothing())
      .execute();
    await this.load();
  }

  private async load(): Promise<void> {
    const rows = await this.db
      .selectFrom('signing_keys')
      .select(['kid', 'secret', 'created_at'])
      .orderBy('created_at')
      .orderBy('kid')
      .execute();
    this.loadedAt = this.now();
    this.keys = new Map(rows.map((r) => [r.kid, Buffer.from(r.secret, 'base64url')]));
    const newest = rows.at(-1);
    if (newest) this.current = { kid: newest.kid, key: this.keys.get(newest.kid)! };
  }

  /** `userId`: the user's id, written as the `uid` claim (a name can belong to another user later; an id not). */
  async issue(
    user: string | null,
    access: AccessEntry[],
    tokenId?: string,
    userId?: number,
  ): Promise<{ token: string; expiresIn: number; issuedAt: string }> {
    if (!this.current) await this.init();
    const { kid, key } = this.current!;
    const now = Math.floor(this.now() / 1000);
    let jwt = new SignJWT({
      access,
      ...(tokenId === undefined ? {} : { tid: tokenId }),
      ...(userId === undefined ? {} : { uid: userId }),
    })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT', kid })
      .setIssuer(ISSUER)
      .setAudience(this.service)
      .setIssuedAt(now)
      .setNotBefore(now - 1)
      .setExpirationTime(now + this.ttlSeconds)
      .setJti(randomUUID());
    if (user !== null) jwt = jwt.setSubject(user);
    return {
      token: await jwt.sign(key),
      expiresIn: this.ttlSeconds,
      issuedAt: new Date(now * 1000).toISOString(),
    };
  }

  /** The claims of a valid token of ours; undefined for anything else (bad signature, expired, foreign). */
  async verify(token: string): Promise<RegistryTokenClaims | undefined> {
    try {
      const { payload } = await jwtVerify(
        token,
        async (header) => {
          const kid = header.kid ?? '';
          // a key made by another process since we loaded (looked for at most once a second: made-up key ids
          // must not cost a database read each)
          if (!this.keys.has(kid) && this.now() - this.loadedAt > 1000) await this.load();
          const key = this.keys.get(kid);
          if (!key) throw new joseErrors.JWSSignatureVerificationFailed('unknown key');
          return key;
        },
        {
          issuer: ISSUER,
          audience: this.service,
          algorithms: ['HS256'],
          clockTolerance: 30,
          currentDate: new Date(this.now()),
        },
      );
      const repositories = new Map<string, Set<Action>>();
      for (const e of (payload.access ?? []) as AccessEntry[]) {
        if (e.type === 'repository' && typeof e.name === 'string' && Array.isArray(e.actions))
          repositories.set(e.name, new Set(e.actions.filter((a): a is Action => isAction(a))));
      }
      return {
        user: payload.sub ?? null,
        ...(Number.isSafeInteger(payload.uid) ? { userId: payload.uid as number } : {}),
        ...(typeof payload.tid === 'string' ? { tokenId: payload.tid } : {}),
        repositories,
        expiresAt: (payload.exp ?? 0) * 1000,
      };
    } catch (e) {
      if (e instanceof joseErrors.JOSEError) return undefined;
      throw e;
    }
  }
}
