// /api/v1/tokens: API tokens for robots and CI (create, list, revoke); /api/v1/audit: the audit log.
import { z } from 'zod';
import type { Berth } from '../app.js';
import { BerthError } from '../core/errors.js';
import { parseDuration } from '../core/durations.js';
import { parseScope } from '../auth/permissions.js';
import { intParam, type RouteContext } from '../http/router.js';
import { requireSelfOrAdmin } from './users.js';

const NewToken = z
  .object({
    user: z.string().optional(),
    name: z.string().optional(),
    scopes: z.array(z.string()).min(1).optional(),
    expiresIn: z.string().optional(),
  })
  .strict();
export const NewTokenBody = {
  schema: NewToken,
  expected: '{"user": "ci", "name": "…", "scopes": ["repository:team/*:pull,push"], "expiresIn": "30d"}',
};

/**
 * POST /api/v1/tokens: a token for yourself (or, as an administrator, for anyone). Without scopes it may do what
 * its user may; with scopes, only what both allow. The secret is in this answer only.
 */
export async function createToken(berth: Berth, ctx: RouteContext<never, z.infer<typeof NewToken>>) {
  const { body } = ctx;
  const p = ctx.principal;
  const userName = body.user ?? p.user!;
  await requireSelfOrAdmin(berth, p, userName);
  const scopes = body.scopes?.map(parseScope) ?? null;
  const ttl = parseDuration(body.expiresIn ?? '90d');
  const made = await berth.auth.createToken(p, userName, {
    name: body.name ?? `token for ${userName}`,
    scopes,
    expiresAt: ttl === null ? null : Date.now() + ttl,
  });
  ctx.auditDetail = { id: made.id, user: made.user, scopes: made.scopes, expiresAt: made.expiresAt };
  return ctx.reply.code(201).send(made);
}

/** GET /api/v1/tokens[?user=U]: your tokens; an administrator sees everyone's (or U's). */
export async function listTokens(berth: Berth, { query, principal }: RouteContext) {
  const user = query.get('user') ?? (principal.admin ? undefined : principal.user!);
  if (user !== undefined) await requireSelfOrAdmin(berth, principal, user);
  return { tokens: await berth.auth.tokens.list(user) };
}

export async function revokeToken(berth: Berth, ctx: RouteContext<'id'>) {
  const t = await berth.auth.tokens.get(ctx.id);
  await requireSelfOrAdmin(berth, ctx.principal, t.user);
  await berth.auth.tokens.revoke(t.id);
  ctx.auditDetail = { user: t.user };
  return ctx.reply.code(204).send();
}

/** GET /api/v1/audit?actor=&repository=&action=&before=&limit=: newest first. */
export async function listAudit(berth: Berth, { query }: RouteContext) {
  const limit = intParam(query, 'limit');
  if (limit !== undefined && (limit < 1 || limit > 1000))
    throw new BerthError('PARAMETER_INVALID', `limit=${limit}: ask for 1 to 1000 entries`);
  const entries = await berth.auth.audit.list({
    ...(query.get('actor') !== null ? { actor: query.get('actor')! } : {}),
    ...(query.get('repository') !== null ? { repository: query.get('repository')! } : {}),
    ...(query.get('action') !== null ? { action: query.get('action')! } : {}),
    ...(intParam(query, 'before') !== undefined ? { before: intParam(query, 'before')! } : {}),
    ...(limit !== undefined ? { limit } : {}),
  });
  return { entries };
}
