// Authentication: credentials (Basic password or API token, Bearer registry token or API token) to a Principal,
// with failed logins slowed down, and the registry tokens of the Docker token flow.
import { createHash } from 'node:crypto';
import type { Kysely } from 'kysely';
import { LRUCache } from 'lru-cache';
import { BerthError } from '../core/errors.js';
import { isRepositoryName } from '../core/references.js';
import type { Database } from '../db/schema.js';
import { ApiTokens, looksLikeApiToken, type TokenInfo } from './api-tokens.js';
import { AuditLog } from './audit.js';
import { limitedWhat, loginKeys, LoginLimits, type LimitKey, type LoginLimitPolicy } from './login-limits.js';
import { ALL_ACTIONS, type Action } from './permissions.js';
import { anonymous, registryTokenPrincipal, userPrincipal, type Principal } from './principal.js';
import { RegistryTokens, type AccessEntry, type RegistryTokenClaims } from './registry-tokens.js';
import { Users, type UserRecord } from './users.js';
import type { Grant } from './permissions.js';
import { requireWithinScopes } from './token-scopes.js';
import { Sessions, type SessionOwner } from './sessions.js';

export type Credentials =
  { kind: 'none' } | { kind: 'basic'; user: string; password: string } | { kind: 'bearer'; token: string };

export interface AuthOptions {
  /** the `service` of registry tokens (their audience) */
  service?: string;
  tokenTtlSeconds?: number;
  /**
   * How long a successful password or API-token check is remembered in this process. Changes made through this
   * process take effect at once; changes made through another process within this time.
   */
  cacheSeconds?: number;
  loginPolicy?: LoginLimitPolicy;
  /** the clock (ms since the epoch) of login limits, registry tokens and caches; tests pass a fake one */
  now?: () => number;
}

const sha256 = (s: string): string => createHash('sha256').update(s).digest('hex');

export class Auth {
  readonly users: Users;
  readonly tokens: ApiTokens;
  readonly registryTokens: RegistryTokens;
  readonly limits: LoginLimits;
  readonly audit: AuditLog;
  /** sessions of the web pages */
  readonly sessions: Sessions;
  private readonly cacheMs: number;
  private readonly now: () => number;
  /** credentials checked recently, each until its own time (at most `cacheMs`): the most recently used 10 000 */
  private readonly principals: LRUCache<string, Principal>;
  private publicList: readonly string[] = [];
  private publicUntil = 0;
  /** counts `invalidate` calls: a check that began before one remembers nothing (it may have read what changed) */
  private generation = 0;
  private readonly publicPatterns = () => this.publicList;

  constructor(
    private readonly db: Kysely<Database>,
    opts: AuthOptions = {},
  ) {
    this.now = opts.now ?? Date.now;
    // each change to users, permissions, public patterns or tokens made through this process forgets at once
    // what it remembered of them
    this.users = new Users(db, () => this.invalidate());
    this.tokens = new ApiTokens(db, () => this.invalidate());
    this.registryTokens = new RegistryTokens(
      db,
      opts.service ?? 'berth',
      opts.tokenTtlSeconds ?? 300,
      this.now,
    );
    this.limits = new LoginLimits(db, opts.loginPolicy, this.now);
    this.audit = new AuditLog(db);
    this.sessions = new Sessions(db, this.now);
    this.cacheMs = (opts.cacheSeconds ?? 10) * 1000;
    // ttlResolution 0: asks the clock each time (by default lru-cache reuses a reading for a millisecond of real
    // time, in which a fake clock may move)
    this.principals = new LRUCache({ max: 10_000, perf: { now: this.now }, ttlResolution: 0 });
  }

  get service(): string {
    return this.registryTokens.service;
  }

  async init(): Promise<void> {
    await this.registryTokens.init();
  }

  /**
   * Forgets what this process remembered of users, tokens and public patterns. The changes made through
   * `users` and `tokens` call it; a change made to the database otherwise needs it (or waits for `cacheSeconds`).
   */
  invalidate(): void {
    this.principals.clear();
    this.generation++;
    this.publicUntil = 0;
  }

  private async refreshPublic(now: number): Promise<void> {
    if (now < this.publicUntil) return;
    this.publicList = await this.users.publicPatterns();
    this.publicUntil = now + Math.min(this.cacheMs, 5000);
  }

  anonymous(): Principal {
    return anonymous(this.publicPatterns);
  }

  /**
   * Who the credentials belong to. Wrong credentials are UNAUTHORIZED (never treated as anonymous); after
   * repeated failures for a user or from an address, TOOMANYREQUESTS until the wait is over (which counts hold
   * back which attempts: loginKeys).
   */
  async authenticate(creds: Credentials, address: string): Promise<Principal> {
    const now = this.now();
    const generation = this.generation;
    await this.refreshPublic(now);
    if (creds.kind === 'none') return this.anonymous();
    const key =
      creds.kind === 'basic' ? `b:${sha256(`${creds.user}\0${creds.password}`)}` : `t:${creds.token}`;
    if (creds.kind === 'bearer' && !looksLikeApiToken(creds.token)) {
      const cached = this.principals.get(key);
      if (cached) return cached;
      const claims = await this.registryTokens.verify(creds.token);
      if (!claims) {
        throw new BerthError('UNAUTHORIZED', 'the registry token is invalid or has expired: log in again');
      }
      // a token issued for an API token since revoked, or for a user since removed, ends with them: also when
      // a new user has the name since (the token names its user's id, which is never given again)
      if (!(await this.stillValid(claims, now))) {
        throw new BerthError(
          'UNAUTHORIZED',
          'the registry token was issued for an API token or a user that is no longer valid: log in again',
        );
      }
      const p = registryTokenPrincipal({
        user: claims.user,
        ...(claims.userId === undefined ? {} : { userId: claims.userId }),
        ...(claims.tokenId === undefined ? {} : { tokenId: claims.tokenId }),
        access: claims.repositories,
        publicPatterns: this.publicPatterns,
      });
      this.remember(key, p, claims.expiresAt, now, generation);
      return p;
    }
    const user = creds.kind === 'basic' ? creds.user : undefined;
    const secret = creds.kind === 'basic' ? creds.password : creds.token;
    const cached = this.principals.get(key);
    // which counts hold the attempt back depends on whether the name is a user's (see loginKeys)
    const known = user !== undefined && (cached !== undefined || (await this.users.find(user)) !== undefined);
    const keys = loginKeys(address, user, known);
    const userKeys = user === undefined ? [] : [`user:${user}`];
    // The wait applies to remembered credentials too: answering them otherwise would tell a guesser which
    // guess was right while every wrong one is refused at once.
    const { failures } = await this.checkLimits(keys, address, now);
    if (cached) {
      if (failures) await this.limits.succeeded(userKeys, now);
      return cached;
    }
    const found = looksLikeApiToken(secret)
      ? await this.byApiToken(secret, user, now)
      : user === undefined
        ? undefined
        : await this.byPassword(user, secret);
    const at = this.now();
    if (!found || 'why' in found) {
      // Counted only while no wait applies, in one step with the check for every process: of parallel wrong
      // guesses (here or in other processes) the free ones are 401, the others wait.
      await this.countFailure(keys, address, at);
      throw new BerthError(
        'UNAUTHORIZED',
        found?.why ??
          (user === undefined ? 'the API token is not valid' : `wrong user name or password for ${user}`),
      );
    }
    // A wait that began while these credentials were checked (other guesses failed meanwhile) applies to them.
    await this.checkLimits(keys, address, at);
    // A success clears the user's count (once its wait is over), not the address's: one valid account must not
    // reset the count of an address guessing other users' passwords.
    await this.limits.succeeded(userKeys, at);
    this.remember(key, found.principal, found.until ?? Infinity, at, generation);
    return found.principal;
  }

  /**
   * Whether the user (by id and name) and the API token a registry token was issued for are still there. A token
   * of a user without the id (issued before ids were written; at most a token lifetime ago) is refused.
   */
  private async stillValid(claims: RegistryTokenClaims, now: number): Promise<boolean> {
    if (claims.user === null) return claims.tokenId === undefined;
    if (claims.userId === undefined) return false;
    if (claims.tokenId === undefined)
      return (await this.users.findById(claims.userId, claims.user)) !== undefined;
    const t = await this.tokens.byId(claims.tokenId, now);
    return t.ok && t.user.id === claims.userId && t.user.name === claims.user;
  }

  /**
   * Remembers a principal until `until` and for at most `cacheMs` (nothing when that time is up already, or when
   * something changed since the check began).
   */
  private remember(key: string, p: Principal, until: number, now: number, generation: number): void {
    if (generation !== this.generation) return; // a user or token changed while it was checked
    const ttl = Math.floor(Math.min(until, now + this.cacheMs) - now);
    if (ttl > 0) this.principals.set(key, p, { ttl, start: now });
  }

  /** TOOMANYREQUESTS naming what was limited: the user (`for NAME`) or the address (`from ADDRESS`). */
  private tooMany(by: string | undefined, address: string, wait: number): BerthError {
    const seconds = Math.max(1, Math.ceil(wait / 1000));
    return new BerthError(
      'TOOMANYREQUESTS',
      `too many failed logins ${by === undefined ? `from ${address}` : limitedWhat(by)}: try again in ${seconds} s`,
      { retryAfterSeconds: seconds },
    );
  }

  private async checkLimits(keys: LimitKey[], address: string, now: number): Promise<{ failures: boolean }> {
    const { wait, failures, by } = await this.limits.check(keys, now);
    if (wait > 0) throw this.tooMany(by, address, wait);
    return { failures };
  }

  /** Counts a failure, or throws TOOMANYREQUESTS when a wait applies (and counts nothing). */
  private async countFailure(keys: LimitKey[], address: string, at: number) {
    // the wait that refused the count may be over when asked about (a success cleared it): count again
    for (let i = 0; i < 3; i++) {
      if (await this.limits.failed(keys, at)) return;
      await this.checkLimits(keys, address, at);
    }
    throw this.tooMany(undefined, address, 1000);
  }

  private async byPassword(
    user: string,
    password: string,
  ): Promise<{ principal: Principal; until?: number } | undefined> {
    const u = await this.users.checkCredentials(user, password);
    if (!u) return undefined;
    return { principal: await this.principalOf(u) };
  }

  private async byApiToken(
    token: string,
    user: string | undefined,
    now: number,
  ): Promise<{ principal: Principal; until?: number } | { why: string } | undefined> {
    const t = await this.tokens.check(token, now);
    if (!t.ok) return t.why.startsWith('API token ') ? { why: `${t.why}: create a new one` } : undefined;
    if (user !== undefined && user !== t.user.name) return undefined;
    return {
      principal: await this.principalOf(t.user, { id: t.id, scopes: t.scopes }),
      ...(t.expiresAt === null ? {} : { until: t.expiresAt }),
    };
  }

  private async principalOf(
    u: UserRecord,
    token?: { id: string; scopes: Grant[] | null },
  ): Promise<Principal> {
    return userPrincipal({
      user: u.name,
      userId: u.id,
      admin: u.admin,
      grants: u.admin ? [] : await this.users.grants(u.id),
      publicPatterns: this.publicPatterns,
      ...(token ? { tokenId: token.id, scopes: token.scopes } : {}),
    });
  }

  /**
   * The principal of a web session's owner, as a password (or, signed in with one, that API token) gives it now:
   * undefined when the user was removed (a new user of the same name is not them) or the token revoked or expired.
   */
  async sessionPrincipal(owner: SessionOwner): Promise<Principal | undefined> {
    const now = this.now();
    await this.refreshPublic(now);
    const u = await this.users.findById(owner.userId, owner.user);
    if (!u) return undefined;
    if (owner.tokenId === null) return this.principalOf(u);
    const t = await this.tokens.byId(owner.tokenId, now);
    return t.ok && t.user.id === u.id ? this.principalOf(t.user, { id: t.id, scopes: t.scopes }) : undefined;
  }

  /**
   * A user may see and change their own account, an administrator any. Credentials remembered (by another
   * process, for up to cacheSeconds) of a removed user are not those of a new user given the same name.
   */
  async requireSelfOrAdmin(p: Principal, user: string): Promise<void> {
    if (p.admin) return;
    if (p.user !== user) throw new BerthError('DENIED', `${p.user} may not manage user ${user}`);
    const u = await this.users.find(user);
    if (u && u.id !== p.userId) {
      throw new BerthError('UNAUTHORIZED', `these credentials are not those of user ${user}: log in again`);
    }
  }

  /**
   * A new API token for user `user`, created by `p`. Through a token with scopes only tokens within those scopes
   * (an administrator's tokens are not limited); through an unscoped token any (it is its user already).
   */
  async createToken(
    p: Principal,
    user: string,
    opts: { name: string; scopes: Grant[] | null; expiresAt: number | null },
  ): Promise<TokenInfo & { token: string }> {
    if (p.by === 'api-token' && p.tokenId !== undefined && !p.admin) {
      const own = await this.tokens.byId(p.tokenId);
      if (own.ok) requireWithinScopes(opts.scopes, own.scopes);
    }
    const target = await this.users.get(user);
    // credentials remembered (by another process) from a removed user must not make a token for a new user
    // of the same name
    if (!p.admin && p.userId !== target.id) {
      throw new BerthError('UNAUTHORIZED', `these credentials are not those of user ${user}: log in again`);
    }
    return this.tokens.create(target, opts);
  }

  /**
   * The full rights behind a registry token: its user's (limited by its API token's scopes, if it came from
   * one). Undefined when the user or token is gone. Used to tell "ask for a wider token" from "denied", and to
   * list repositories.
   */
  async behind(p: Principal): Promise<Principal> {
    if (p.by !== 'registry-token') return p;
    if (p.user === null || p.userId === undefined) return this.anonymous();
    const u = await this.users.findById(p.userId, p.user);
    if (!u) return this.anonymous();
    if (p.tokenId === undefined) return this.principalOf(u);
    const t = await this.tokens.byId(p.tokenId);
    return t.ok && t.user.id === u.id
      ? this.principalOf(t.user, { id: t.id, scopes: t.scopes })
      : this.anonymous();
  }

  /**
   * A registry token for the requested scopes ("repository:NAME:pull,push", "registry:catalog:*"), granting only
   * the permitted subset of each; scopes it cannot parse are left out.
   */
  async issue(
    p: Principal,
    scopes: string[],
  ): Promise<{ token: string; expiresIn: number; issuedAt: string }> {
    const access: AccessEntry[] = [];
    for (const scope of scopes) {
      const first = scope.indexOf(':');
      const last = scope.lastIndexOf(':');
      if (first < 0 || last <= first) continue;
      const type = scope.slice(0, first).replace(/\(.*\)$/, '');
      const name = scope.slice(first + 1, last);
      const requested = scope.slice(last + 1).split(',');
      if (type === 'repository' && isRepositoryName(name)) {
        const want = new Set<Action>(
          requested.includes('*')
            ? ['pull', 'push', 'delete']
            : requested.filter((a): a is Action => ALL_ACTIONS.has(a as Action)),
        );
        const allowed = p.actions(name);
        const granted = [...want].filter((a) => allowed.has(a));
        if (granted.length > 0) access.push({ type: 'repository', name, actions: granted });
      } else if (type === 'registry' && name === 'catalog' && p.user !== null) {
        access.push({ type: 'registry', name: 'catalog', actions: ['*'] });
      }
    }
    return this.registryTokens.issue(p.user, access, p.tokenId, p.userId);
  }
}
