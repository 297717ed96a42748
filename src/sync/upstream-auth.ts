// Upstream authentication: anonymous, Basic, and the Docker token flow (challenge, token per scope, refresh on 401).
import { BerthError } from '../core/errors.js';

/** A parsed WWW-Authenticate challenge: its scheme (lower case) and parameters. */
export interface Challenge {
  scheme: string;
  params: Record<string, string>;
}

/** Parses `Bearer realm="…",service="…",scope="…"` (or `Basic realm="…"`); undefined when absent. */
export function parseChallenge(header: string | string[] | undefined): Challenge | undefined {
  const v = Array.isArray(header) ? header[0] : header;
  if (v === undefined || v.trim() === '') return undefined;
  const m = /^\s*([A-Za-z]+)\s*(.*)$/s.exec(v);
  if (!m) return undefined;
  const params: Record<string, string> = {};
  for (const p of m[2]!.matchAll(/([A-Za-z_]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))/g)) {
    params[p[1]!.toLowerCase()] = p[2] !== undefined ? p[2].replace(/\\(.)/g, '$1') : (p[3] ?? '');
  }
  return { scheme: m[1]!.toLowerCase(), params };
}

/** What the client asks a token server for: a token for `scope` from `realm`. */
export type FetchToken = (
  realm: string,
  query: URLSearchParams,
  basic: string | undefined,
) => Promise<{ token: string; expiresInSeconds: number }>;

interface CachedToken {
  header: string;
  expiresAt: number;
  /** not used successfully yet: a 401 to it is final */
  fresh: boolean;
}

/** What a client learned of a remote's authentication: shared by the clients of that remote in this process. */
export interface AuthState {
  bearer: { realm: string; service?: string } | undefined;
  basicAsked: boolean;
  tokens: Map<string, CachedToken>;
  /** token requests under way, by scope: requests that need the same token at once wait for one fetch */
  pending: Map<string, Promise<string>>;
}

const states = new Map<string, AuthState>();

/**
 * The learned authentication of a remote, shared in this process by its URL and credentials: the next client
 * (the next sync run, an on-demand fetch) sends the right credentials at once, with no 401 round trip.
 */
export function authStateFor(
  url: string,
  username: string | undefined,
  password: string | undefined,
): AuthState {
  const key = `${url}\0${username ?? ''}\0${password ?? ''}`;
  let s = states.get(key);
  if (!s) {
    s = freshAuthState();
    states.set(key, s);
  }
  return s;
}

export const freshAuthState = (): AuthState => ({
  bearer: undefined,
  basicAsked: false,
  tokens: new Map(),
  pending: new Map(),
});

/**
 * The credentials of one remote. Before a request: the Authorization header for its scope (a cached token,
 * Basic once upstream asked for it, else none). After a 401: learn the challenge and get new credentials.
 */
export class UpstreamAuth {
  private readonly basic: string | undefined;

  constructor(
    private readonly remoteName: string,
    username: string | undefined,
    password: string | undefined,
    private readonly fetchToken: FetchToken,
    private readonly now: () => number,
    private readonly state: AuthState = freshAuthState(),
  ) {
    this.basic =
      username !== undefined && username !== ''
        ? `Basic ${Buffer.from(`${username}:${password ?? ''}`).toString('base64')}`
        : undefined;
  }

  /** The header to send for a request needing `scope` (fetching a token when upstream is known to want one). */
  async header(scope: string): Promise<string | undefined> {
    const cached = this.state.tokens.get(scope);
    if (cached && cached.expiresAt > this.now()) return cached.header;
    if (this.state.bearer) return this.refresh(scope, undefined);
    if (this.state.basicAsked) return this.basic;
    return undefined;
  }

  /**
   * Upstream answered 401 to a request sent with `sent` (the header, or undefined): learns its challenge and
   * gets new credentials. Returns false when there is nothing new to try (the caller fails the request).
   */
  async unauthorized(
    scope: string,
    sent: string | undefined,
    wwwAuthenticate: string | string[] | undefined,
  ) {
    const c = parseChallenge(wwwAuthenticate);
    if (c?.scheme === 'bearer' && c.params.realm) {
      const known = this.state.tokens.get(scope);
      this.state.bearer = { realm: c.params.realm, service: c.params.service };
      // another request got a new token meanwhile: try that one
      if (known !== undefined && known.header !== sent && known.expiresAt > this.now()) return true;
      this.state.tokens.delete(scope);
      // a token just fetched and refused at once: a second one would be refused too
      if (sent !== undefined && known?.header === sent && known.fresh) return false;
      await this.refresh(scope, c.params.scope);
      return true;
    }
    if (c?.scheme === 'basic' || c === undefined) {
      if (this.basic === undefined || sent === this.basic) return false;
      this.state.basicAsked = true;
      return true;
    }
    return false;
  }

  private refresh(scope: string, challengeScope: string | undefined): Promise<string> {
    const under = this.state.pending.get(scope);
    if (under) return under;
    const p = this.fetch(scope, challengeScope).finally(() => this.state.pending.delete(scope));
    this.state.pending.set(scope, p);
    return p;
  }

  private async fetch(scope: string, challengeScope: string | undefined): Promise<string> {
    const { realm, service } = this.state.bearer!;
    const q = new URLSearchParams();
    if (service !== undefined) q.set('service', service);
    // the challenge's scope when upstream named one (it may ask for more than we guessed), else ours
    for (const s of (challengeScope ?? scope).split(' ').filter(Boolean)) q.append('scope', s);
    let answer: { token: string; expiresInSeconds: number };
    try {
      answer = await this.fetchToken(realm, q, this.basic);
    } catch (e) {
      if (e instanceof BerthError) throw e;
      throw new BerthError(
        'UPSTREAM_ERROR',
        `remote ${this.remoteName}: its token server ${realm} failed: ${(e as Error).message}`,
        { remote: this.remoteName, kind: 'unauthorized' },
      );
    }
    const header = `Bearer ${answer.token}`;
    // refreshed a little before upstream's expiry; marked fresh until used once
    const entry: CachedToken = {
      header,
      expiresAt: this.now() + Math.max(1, answer.expiresInSeconds - 5) * 1000,
      fresh: true,
    };
    this.state.tokens.set(scope, entry);
    return header;
  }

  /** A request with the token for `scope` succeeded: a later 401 means it expired, worth one refresh. */
  used(scope: string): void {
    const t = this.state.tokens.get(scope);
    if (t) t.fresh = false;
  }
}
