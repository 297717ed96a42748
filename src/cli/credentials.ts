// The credentials client commands send: --username/--password, else BERTH_USERNAME/BERTH_PASSWORD (a password may
// be an API token), else the login `berth login` stored for the server.
import { BerthClient } from './client.js';
import { storedLogin } from './logins.js';

export interface ClientOptions {
  server: string;
  username?: string;
  password?: string;
}

/** The Authorization header for a user name and password (or API token); none without a password. */
export function authorizationFor(opts: { username?: string; password?: string }): string | undefined {
  if (opts.password === undefined || opts.password === '') return undefined;
  const user = opts.username ?? '';
  if (user === '') return `Bearer ${opts.password}`;
  return `Basic ${Buffer.from(`${user}:${opts.password}`).toString('base64')}`;
}

export interface ResolvedCredentials {
  authorization: string | undefined;
  /** where they came from: options or environment, the stored login, or nowhere (anonymous) */
  source: 'options' | 'login' | 'none';
  /** what to do when the server does not take them */
  hint?: string;
}

/**
 * A password (option or environment; commander folds the environment into the options) wins. Without one, the
 * stored login for the server is used, unless --username names someone else.
 */
export function credentialsFor(opts: ClientOptions): ResolvedCredentials {
  const explicit = authorizationFor(opts);
  if (explicit !== undefined) return { authorization: explicit, source: 'options' };
  const login = storedLogin(opts.server);
  if (login && (opts.username === undefined || opts.username === login.username)) {
    return {
      authorization: authorizationFor({ username: login.username, password: login.token }),
      source: 'login',
      hint: `the server no longer takes ${login.username}'s stored login (API token ${login.tokenId}): run berth login again`,
    };
  }
  return {
    authorization: undefined,
    source: 'none',
    hint: 'log in with berth login, or give --username/--password (BERTH_USERNAME/BERTH_PASSWORD)',
  };
}

/** A client of the server the options name, with the credentials they resolve to. */
export function clientFor(opts: ClientOptions): BerthClient {
  const creds = credentialsFor(opts);
  return new BerthClient(opts.server, creds.authorization, creds.hint);
}
