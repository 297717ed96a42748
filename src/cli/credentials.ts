// The credentials client commands send: --username/--password (or BERTH_USERNAME/BERTH_PASSWORD; a password may
// be an API token).
import { BerthClient } from './client.js';

export interface ClientOptions {
  server: string;
  username?: string;
  password?: string;
}

/** The Authorization header for the options, if they name credentials. */
export function authorizationFor(opts: ClientOptions): string | undefined {
  if (opts.password === undefined || opts.password === '') return undefined;
  const user = opts.username ?? '';
  if (user === '') return `Bearer ${opts.password}`;
  return `Basic ${Buffer.from(`${user}:${opts.password}`).toString('base64')}`;
}

/** A client of the server the options name, with their credentials. */
export const clientFor = (opts: ClientOptions): BerthClient =>
  new BerthClient(opts.server, authorizationFor(opts));
