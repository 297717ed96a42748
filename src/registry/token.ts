// GET /token: the token endpoint of the Docker token flow; Basic credentials (or none) in, a short-lived JWT out.
import type { Berth } from '../app.js';
import { BerthError } from '../core/errors.js';
import type { RouteContext } from '../http/router.js';

export async function issueToken(berth: Berth, { reply, query, principal }: RouteContext): Promise<unknown> {
  const service = query.get('service');
  if (service !== null && service !== berth.auth.service) {
    throw new BerthError(
      'PARAMETER_INVALID',
      `service=${service} is not this registry's service "${berth.auth.service}"`,
    );
  }
  // Each scope parameter may hold several scopes separated by spaces.
  const scopes = query
    .getAll('scope')
    .flatMap((s) => s.split(' '))
    .filter((s) => s !== '');
  const t = await berth.auth.issue(principal, scopes);
  reply.header('Cache-Control', 'no-store');
  return reply.send({
    token: t.token,
    access_token: t.token,
    expires_in: t.expiresIn,
    issued_at: t.issuedAt,
  });
}
