// `berth token create|list|revoke`: API tokens for robots and CI, usable wherever a password is.
import { NewToken, TokenList } from '../api/schemas.js';
import { tokenTable } from './access-format.js';
import { expect } from './api-types.js';
import { clientFor } from './credentials.js';
import { formatTime, printJson } from './format.js';
import type { CommandOptions } from './users.js';

export interface TokenCreateOptions extends CommandOptions {
  user?: string;
  name?: string;
  scope?: string[];
  expires?: string;
}

/**
 * Creates a token. The secret alone goes to stdout (TOKEN=$(berth token create …) keeps just it); what it is,
 * and that it is shown only now, to stderr. --json prints the server's whole answer, secret included.
 */
export async function tokenCreate(opts: TokenCreateOptions): Promise<void> {
  const body = {
    ...(opts.user === undefined ? {} : { user: opts.user }),
    ...(opts.name === undefined ? {} : { name: opts.name }),
    ...(opts.scope === undefined ? {} : { scopes: opts.scope }),
    ...(opts.expires === undefined ? {} : { expiresIn: opts.expires }),
  };
  const answer = await clientFor(opts).postJson('api/v1/tokens', body);
  if (opts.json) return printJson(answer);
  const t = expect(NewToken, answer, 'POST /api/v1/tokens');
  const scopes = t.scopes === null ? `everything ${t.user} may do` : t.scopes.join(' ');
  const expires = t.expiresAt === null ? 'never expires' : `expires ${formatTime(t.expiresAt)}`;
  console.error(`created API token ${t.id} "${t.name}" for ${t.user}: ${scopes}; ${expires}`);
  console.log(t.token);
  console.error(
    `the secret above is shown only now: store it safely (revoke it: berth token revoke ${t.id})`,
  );
}

export async function tokenList(opts: CommandOptions & { user?: string }): Promise<void> {
  const path = `api/v1/tokens${opts.user === undefined ? '' : `?user=${encodeURIComponent(opts.user)}`}`;
  const answer = await clientFor(opts).getJson(path);
  if (opts.json) return printJson(answer);
  console.log(tokenTable(expect(TokenList, answer, `GET /${path}`).tokens));
}

export async function tokenRevoke(id: string, opts: CommandOptions): Promise<void> {
  await clientFor(opts).call('DELETE', `api/v1/tokens/${encodeURIComponent(id)}`);
  if (opts.json) return printJson({ id, revoked: true });
  console.log(`revoked API token ${id}`);
}
