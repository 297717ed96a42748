// /api/v1/users: users, their passwords and permissions; /api/v1/public: patterns anyone may pull; whoami.
import { z } from 'zod';
import type { Berth } from '../app.js';
import { BerthError } from '../core/errors.js';
import type { Principal } from '../auth/principal.js';
import type { RouteContext } from '../http/router.js';

/** A user may see and change their own account (the same user, by id); an administrator any. */
export const requireSelfOrAdmin = (berth: Berth, p: Principal, user: string): Promise<void> =>
  berth.auth.requireSelfOrAdmin(p, user);

const NewUser = z.object({ name: z.string(), password: z.string(), admin: z.boolean().optional() }).strict();
export const NewUserBody = { schema: NewUser, expected: '{"name": "…", "password": "…", "admin": false}' };

export async function createUser(berth: Berth, ctx: RouteContext<never, z.infer<typeof NewUser>>) {
  const { body } = ctx;
  const user = await berth.auth.users.create(body.name, body.password, body.admin ?? false);
  ctx.auditDetail = { user: user.name, admin: user.admin };
  return ctx.reply.code(201).send(user);
}

export const listUsers = async (berth: Berth) => ({ users: await berth.auth.users.list() });

export async function showUser(berth: Berth, { user, principal }: RouteContext<'user'>) {
  await requireSelfOrAdmin(berth, principal, user);
  return berth.auth.users.show(user);
}

export async function removeUser(berth: Berth, { user, reply }: RouteContext<'user'>) {
  await berth.auth.users.remove(user);
  return reply.code(204).send();
}

const Password = z.object({ password: z.string() }).strict();
export const PasswordBody = { schema: Password, expected: '{"password": "…"}' };

export async function setPassword(
  berth: Berth,
  { reply, user, body, principal }: RouteContext<'user', z.infer<typeof Password>>,
) {
  await requireSelfOrAdmin(berth, principal, user);
  if (!principal.admin && principal.by !== 'password')
    throw new BerthError('DENIED', 'changing your password needs your password, not a token');
  await berth.auth.users.setPassword(user, body.password);
  return reply.code(204).send();
}

export async function listPermissions(berth: Berth, { user: userName, principal }: RouteContext<'user'>) {
  await requireSelfOrAdmin(berth, principal, userName);
  const user = await berth.auth.users.get(userName);
  return { user: user.name, admin: user.admin, permissions: await berth.auth.users.grants(user.id) };
}

const NewGrant = z.object({ pattern: z.string(), actions: z.array(z.string()).min(1) }).strict();
export const GrantBody = { schema: NewGrant, expected: '{"pattern": "team/*", "actions": ["pull", "push"]}' };

export async function grantPermission(berth: Berth, ctx: RouteContext<'user', z.infer<typeof NewGrant>>) {
  const { body } = ctx;
  const g = await berth.auth.users.grant(ctx.user, body.pattern, body.actions);
  ctx.auditDetail = { pattern: g.pattern, actions: g.actions };
  return g;
}

function patternParam(query: URLSearchParams): string {
  const pattern = query.get('pattern');
  if (pattern === null) throw new BerthError('PARAMETER_INVALID', 'say which pattern: ?pattern=team/*');
  return pattern;
}

export async function revokePermission(berth: Berth, { user, query, reply }: RouteContext<'user'>) {
  await berth.auth.users.revoke(user, patternParam(query));
  return reply.code(204).send();
}

export const listPublic = async (berth: Berth) => ({
  patterns: await berth.auth.users.publicPatterns(),
});

const PublicPattern = z.object({ pattern: z.string() }).strict();
export const PublicBody = { schema: PublicPattern, expected: '{"pattern": "team/*"}' };

export async function addPublic(berth: Berth, ctx: RouteContext<never, z.infer<typeof PublicPattern>>) {
  const { pattern } = ctx.body;
  await berth.auth.users.addPublic(pattern);
  ctx.auditDetail = { pattern };
  return ctx.reply.code(204).send();
}

export async function removePublic(berth: Berth, { query, reply }: RouteContext) {
  await berth.auth.users.removePublic(patternParam(query));
  return reply.code(204).send();
}

export const whoami = async (_berth: Berth, { principal }: RouteContext) => ({
  user: principal.user,
  admin: principal.admin,
  authenticatedBy: principal.by,
  ...(principal.tokenId === undefined ? {} : { tokenId: principal.tokenId }),
});
