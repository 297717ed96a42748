// Who may call a route: credentials of the request, access checks with their challenges, the audit record.
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Auth, Credentials } from '../auth/auth.js';
import { can, type Principal } from '../auth/principal.js';
import { BerthError } from '../core/errors.js';
import { hasControl, isRepositoryName } from '../core/references.js';
import type { Access, RouteContext } from './router.js';
import type { Action } from '../auth/permissions.js';

/** The credentials of a request: none, Basic user:password (or user:API token), or Bearer token. */
export function credentialsOf(req: FastifyRequest): Credentials {
  const header = req.headers.authorization;
  if (header === undefined || header === '') return { kind: 'none' };
  const space = header.indexOf(' ');
  const scheme = header.slice(0, space < 0 ? undefined : space).toLowerCase();
  const value = space < 0 ? '' : header.slice(space + 1).trim();
  if (scheme === 'basic') {
    const decoded = Buffer.from(value, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon > 0) {
      const user = decoded.slice(0, colon);
      // no user name holds one (and PostgreSQL refuses NUL in text): refused before any lookup
      if (hasControl(user)) throw new BerthError('UNAUTHORIZED', 'the user name holds a control character');
      return { kind: 'basic', user, password: decoded.slice(colon + 1) };
    }
    throw new BerthError('UNAUTHORIZED', 'the Authorization header is not Basic base64(user:password)');
  }
  if (scheme === 'bearer' && value !== '') return { kind: 'bearer', token: value };
  throw new BerthError('UNAUTHORIZED', 'the Authorization header must be Basic or Bearer credentials');
}

/** Where clients fetch registry tokens: this server, as the client reached it. */
const realm = (req: FastifyRequest): string => `${req.protocol}://${req.host}/token`;

const scopeActions: Record<Action, string> = {
  pull: 'pull',
  push: 'pull,push',
  delete: 'delete',
  admin: '*',
};

/**
 * Sets the challenge of a 401: the registry asks for a Bearer token from /token (with the scopes the request
 * needs, separated by spaces), the management API for Basic credentials.
 */
export function challenge(
  auth: Auth,
  req: FastifyRequest,
  reply: FastifyReply,
  flavor: 'registry' | 'api',
  scope?: string,
  insufficient = false,
): void {
  if (flavor === 'api') {
    reply.header('WWW-Authenticate', 'Basic realm="berth", charset="UTF-8"');
    return;
  }
  let v = `Bearer realm="${realm(req)}",service="${auth.service}"`;
  if (scope !== undefined) v += `,scope="${scope}"`;
  if (insufficient) v += ',error="insufficient_scope"';
  reply.header('WWW-Authenticate', v);
}

/** Authenticates, turning a refusal into the right answer headers (a challenge, or Retry-After). */
export async function authenticate(
  auth: Auth,
  req: FastifyRequest,
  reply: FastifyReply,
  flavor: 'registry' | 'api',
): Promise<Principal> {
  try {
    return await auth.authenticate(credentialsOf(req), req.ip);
  } catch (e) {
    if (e instanceof BerthError && e.code === 'UNAUTHORIZED') challenge(auth, req, reply, flavor);
    if (e instanceof BerthError && e.code === 'TOOMANYREQUESTS')
      reply.header('Retry-After', String((e.detail as { retryAfterSeconds: number }).retryAfterSeconds));
    throw e;
  }
}

/**
 * The scopes a registry request needing `access` on `name` asks for. A cross-repository mount (`mount` and `from`
 * in the query) also asks for pull on `from`, as CNCF Distribution does: a client that obtained its token from
 * the challenge can then mount, and one without pull there gets a plain upload.
 */
function scopesFor(name: string, access: Action, query: URLSearchParams): string {
  const scope = `repository:${name}:${scopeActions[access]}`;
  const from = query.get('from');
  if (access !== 'push' || query.get('mount') === null || from === null || from === name) return scope;
  return isRepositoryName(from) ? `${scope} repository:${from}:pull` : scope;
}

/**
 * The route access check. A caller without the right gets the same answer whether the repository exists or
 * not: 401 with a challenge when anonymous (or when a registry token merely lacks a scope its user has),
 * 403 DENIED when authenticated.
 */
export function authorizer(auth: Auth, flavor: 'registry' | 'api') {
  return async (
    { req, reply, params, query }: Omit<RouteContext, 'principal'>,
    access: Access,
  ): Promise<Principal> => {
    const p = await authenticate(auth, req, reply, flavor);
    if (access === 'anyone') return p;
    if (flavor === 'api' && p.by === 'registry-token') {
      challenge(auth, req, reply, flavor);
      throw new BerthError(
        'UNAUTHORIZED',
        'the management API takes Basic credentials (user and password or API token), or an API token as Bearer',
      );
    }
    if (p.user === null && flavor === 'registry' && access !== 'administrator' && access !== 'signed-in') {
      if (can(p, params.name!, access)) return p;
      challenge(auth, req, reply, flavor, scopesFor(params.name!, access, query));
      throw new BerthError('UNAUTHORIZED', `authentication required to ${access} repository ${params.name}`);
    }
    if (p.user === null) {
      challenge(auth, req, reply, flavor);
      throw new BerthError('UNAUTHORIZED', 'authentication required');
    }
    if (access === 'signed-in') return p;
    if (access === 'administrator') {
      if (p.admin) return p;
      throw new BerthError('DENIED', `${p.user} is not an administrator`);
    }
    const name = params.name!;
    if (can(p, name, access)) return p;
    if (p.by === 'registry-token' && can(await auth.behind(p), name, access)) {
      challenge(auth, req, reply, flavor, scopesFor(name, access, query), true);
      throw new BerthError(
        'UNAUTHORIZED',
        `the registry token does not cover ${access} on ${name}: ask for a new one`,
      );
    }
    throw new BerthError('DENIED', `${p.user} may not ${access} repository ${name}`);
  };
}

/** Records a successful request in the audit log: who, from where, the action, the repository and the details. */
export function auditor(auth: Auth) {
  return async (
    { req, reply, params, query, principal, auditDetail }: RouteContext,
    action: string,
  ): Promise<void> => {
    const detail: Record<string, unknown> = { status: reply.statusCode };
    for (const [k, v] of Object.entries(params)) if (k !== 'name') detail[k] = v;
    for (const k of ['tag', 'digest', 'mount', 'from', 'pattern', 'user']) {
      const v = query.get(k);
      if (v !== null) detail[k] = v;
    }
    const digest = reply.getHeader('docker-content-digest');
    if (typeof digest === 'string') detail.digest = digest;
    Object.assign(detail, auditDetail);
    try {
      await auth.audit.record({
        actor: principal.user,
        address: req.ip,
        action,
        repository: params.name ?? null,
        detail,
      });
    } catch (err) {
      req.log.error({ err, action }, 'writing the audit log failed');
    }
  };
}
