// `berth login|logout|whoami`: trade a password for a stored API token, revoke it, and ask who the server sees.
import { hostname } from 'node:os';
import { NewToken, Whoami } from '../api/schemas.js';
import { whoamiLines } from './access-format.js';
import { expect } from './api-types.js';
import { ApiError, BerthClient } from './client.js';
import { authorizationFor, credentialsFor } from './credentials.js';
import { formatTime, printJson } from './format.js';
import { credentialsFile, forgetLogin, serverKey, storedLogin, storeLogin } from './logins.js';
import { errorLines, UsageError } from './report.js';
import { canPrompt, passwordFromStdin, promptHidden, promptLine } from './secrets.js';
import type { CommandOptions } from './users.js';

const LOGIN_TTL = '90d';
const tokenPath = (id: string): string => `api/v1/tokens/${encodeURIComponent(id)}`;

/** The user logging in: --username/BERTH_USERNAME, else the stored login's, else asked on a terminal. */
async function whoLogsIn(opts: CommandOptions, previous: string | undefined): Promise<string> {
  const name = opts.username ?? previous ?? (canPrompt() ? await promptLine('Username: ') : undefined);
  if (name === undefined || name === '')
    throw new UsageError('say who logs in: berth login -u NAME (or BERTH_USERNAME)');
  return name;
}

/** The password: --password-stdin, else --password/BERTH_PASSWORD, else asked on a terminal without echo. */
async function passwordOf(opts: CommandOptions & { passwordStdin?: boolean }, user: string): Promise<string> {
  if (opts.passwordStdin) return passwordFromStdin();
  if (opts.password !== undefined && opts.password !== '') return opts.password;
  if (canPrompt()) return promptHidden(`Password for ${user} at ${new URL(serverKey(opts.server)).host}: `);
  throw new UsageError('no password: use --password-stdin, BERTH_PASSWORD, or run on a terminal to be asked');
}

/**
 * Creates an API token with the password (never stored) and keeps it for the server in credentials.json. A
 * login it replaces has its token revoked, as far as the new one may.
 */
export async function login(opts: CommandOptions & { passwordStdin?: boolean }): Promise<void> {
  const server = serverKey(opts.server);
  const previous = storedLogin(server);
  const username = await whoLogsIn(opts, previous?.username);
  const password = await passwordOf(opts, username);
  const client = new BerthClient(server, authorizationFor({ username, password }));
  const answer = await client.postJson('api/v1/tokens', {
    name: `berth login from ${hostname()}`,
    expiresIn: LOGIN_TTL,
  });
  const t = expect(NewToken, answer, 'POST /api/v1/tokens');
  const withToken = new BerthClient(server, authorizationFor({ username: t.user, password: t.token }));
  try {
    storeLogin(server, { username: t.user, token: t.token, tokenId: t.id });
  } catch (e) {
    await withToken.call('DELETE', tokenPath(t.id)).catch(() => {}); // not kept: not left valid either
    throw e;
  }
  if (previous && previous.tokenId !== t.id) {
    await withToken.call('DELETE', tokenPath(previous.tokenId)).catch((e: unknown) => {
      const why = errorLines(e)[0]!.replace(/^berth: /, '');
      console.error(`berth: the previous login's token ${previous.tokenId} is not revoked: ${why}`);
    });
  }
  const file = credentialsFile();
  if (opts.json) return printJson({ server, user: t.user, tokenId: t.id, expiresAt: t.expiresAt, file });
  const expires = t.expiresAt === null ? 'never expires' : `expires ${formatTime(t.expiresAt)}`;
  console.log(`logged in to ${server} as ${t.user}: API token ${t.id} (${expires}) stored in ${file}`);
}

/**
 * Revokes the stored token (with itself, unless options or the environment give other credentials) and forgets
 * it. A stored token the server no longer takes (401) needs no revoking; any other failure is reported (exit 1),
 * but the login is forgotten all the same.
 */
export async function logout(opts: CommandOptions): Promise<void> {
  const server = serverKey(opts.server);
  const stored = storedLogin(server);
  if (!stored) {
    if (opts.json) return printJson({ server, loggedOut: false });
    return void console.log(`not logged in to ${server}`);
  }
  let outcome: 'revoked' | 'no longer valid' | 'not revoked' = 'revoked';
  let failure: ApiError | undefined;
  const creds = credentialsFor({ ...opts, server });
  try {
    await new BerthClient(server, creds.authorization).call('DELETE', tokenPath(stored.tokenId));
  } catch (e) {
    if (e instanceof ApiError && e.status === 401 && creds.source === 'login') outcome = 'no longer valid';
    else {
      outcome = 'not revoked';
      failure = e instanceof ApiError ? e : new ApiError('ERROR', (e as Error).message);
    }
  }
  forgetLogin(server);
  const { username, tokenId } = stored;
  if (opts.json) printJson({ server, loggedOut: true, user: username, tokenId, token: outcome });
  else console.log(`logged out of ${server}: forgot ${username}'s API token ${tokenId} (${outcome})`);
  if (failure) {
    throw new ApiError(
      failure.code,
      `the server did not revoke API token ${tokenId}: ${failure.message}`,
      `once it answers, revoke it with: berth token revoke ${tokenId} --server ${server}`,
      failure.status,
    );
  }
}

export async function whoami(opts: CommandOptions): Promise<void> {
  const creds = credentialsFor(opts);
  const answer = await new BerthClient(opts.server, creds.authorization, creds.hint).getJson('api/v1/whoami');
  if (opts.json) return printJson(answer);
  const w = expect(Whoami, answer, 'GET /api/v1/whoami');
  console.log(whoamiLines(w, serverKey(opts.server), creds.source));
}
