// /api/v1/users: users, their passwords and permissions; /api/v1/public: patterns anyone may pull; whoami.
import { z } from 'zod';
import type { Berth } from '../app.js';
import { BerthError } from '../core/errors.js';
import type { Principal } from '../auth/principal.js';
import type { RouteContext } from '../http/router.js';
import { validBody } from '../http/validate.js';

/** A user may see and change their own account; an administrator any. */
export function requireSelfOrAdmin(p: Principal, user: string): void {
  if (!p.admin && p.user !== user) throw new BerthError('DENIED', `${p.user} may not manage user ${user}`);
}

const NewUser = z.object({ name: z.string(), password: z.string(), admin: z.boolean().optional() }).strict();

export async function createUser(berth: Berth, ctx: RouteContext): Promise<unknown> {
  const body = validBody(NewUser, ctx.req.body, '{"name": "…", "password": "…", "admin": false}');
  const user = await berth.auth.users.create(body.name, body.password, body.admin ?? false);
  ctx.auditDetail = { user: user.name, admin: user.admin };
  return ctx.reply.code(201).send(user);
}

export const listUsers = async (berth: Berth): Promise<unknown> => ({ users: await berth.auth.users.list() });

export async function showUser(berth: Berth, { params, principal }: RouteContext): Promise<unknown> {
  requireSelfOrAdmin(principal, params.user!);
  return berth.auth.users.show(params.user!);
}

export async function removeUser(berth: Berth, { params, reply }: RouteContext): Promise<unknown> {
  await berth.auth.users.remove(params.user!);
  return reply.code(204).send();
}

const Password = z.object({ password: z.string() }).strict();

export async function setPassword(
  berth: Berth,
  { req, reply, params, principal }: RouteContext,
): Promise<unknown> {
  requireSelfOrAdmin(principal, params.user!);
  if (!principal.admin && principal.by !== 'password')
    throw new BerthError('DENIED', 'changing your password needs your password, not a token');
  const body = validBody(Password, req.body, '{"password": "…"}');
  await berth.auth.users.setPassword(params.user!, body.password);
  return reply.code(204).send();
}

export async function listPermissions(berth: Berth, { params, principal }: RouteContext): Promise<unknown> {
  requireSelfOrAdmin(principal, params.user!);
  const user = await berth.auth.users.get(params.user!);
  return { user: user.name, admin: user.admin, permissions: await berth.auth.users.grants(user.id) };
}

const GrantBody = z.object({ pattern: z.string(), actions: z.array(z.string()).min(1) }).strict();

export async function grantPermission(berth: Berth, ctx: RouteContext): Promise<unknown> {
  const body = validBody(GrantBody, ctx.req.body, '{"pattern": "team/*", "actions": ["pull", "push"]}');
  const g = await berth.auth.users.grant(ctx.params.user!, body.pattern, body.actions);
  ctx.auditDetail = { pattern: g.pattern, actions: g.actions };
  return g;
}

function patternParam(query: URLSearchParams): string {
  const pattern = query.get('pattern');
  if (pattern === null) throw new BerthError('PARAMETER_INVALID', 'say which pattern: ?pattern=team/*');
  return pattern;
}

export async function revokePermission(
  berth: Berth,
  { params, query, reply }: RouteContext,
): Promise<unknown> {
  await berth.auth.users.revoke(params.user!, patternParam(query));
  return reply.code(204).send();
}

export const listPublic = async (berth: Berth): Promise<unknown> => ({
  patterns: await berth.auth.users.publicPatterns(),
});

const PublicBody = z.object({ pattern: z.string() }).strict();

export async function addPublic(berth: Berth, ctx: RouteContext): Promise<unknown> {
  const { pattern } = validBody(PublicBody, ctx.req.body, '{"pattern": "team/*"}');
  await berth.auth.users.addPublic(pattern);
  ctx.auditDetail = { pattern };
  return ctx.reply.code(204).send();
}

export async function removePublic(berth: Berth, { query, reply }: RouteContext): Promise<unknown> {
  await berth.auth.users.removePublic(patternParam(query));
  return reply.code(204).send();
}

export const whoami = async (_berth: Berth, { principal }: RouteContext): Promise<unknown> => ({
  user: principal.user,
  admin: principal.admin,
  authenticatedBy: principal.by,
  ...(principal.tokenId === undefined ? {} : { tokenId: principal.tokenId }),
});
