// Shapes of the access-control answers (users, permissions, tokens, audit, whoami), checked like api-types.ts.
import { z } from 'zod';

export const User = z.object({ name: z.string(), admin: z.boolean(), createdAt: z.string() });
export const UserList = z.object({ users: z.array(User) });

export const Grant = z.object({ pattern: z.string(), actions: z.array(z.string()) });
export const UserDetails = User.extend({ permissions: z.array(Grant) });
export const Permissions = z.object({ user: z.string(), admin: z.boolean(), permissions: z.array(Grant) });
export const PublicList = z.object({ patterns: z.array(z.string()) });

export const Token = z.object({
  id: z.string(),
  user: z.string(),
  name: z.string(),
  scopes: z.array(z.string()).nullable(),
  createdAt: z.string(),
  expiresAt: z.string().nullable(),
  revokedAt: z.string().nullable(),
  lastUsedAt: z.string().nullable(),
});
export const TokenList = z.object({ tokens: z.array(Token) });
/** A new token: the secret is in this answer only. */
export const NewToken = Token.extend({ token: z.string() });

export const AuditEntry = z.object({
  id: z.number(),
  at: z.string(),
  actor: z.string().nullable(),
  address: z.string().nullable(),
  action: z.string(),
  repository: z.string().nullable(),
  detail: z.record(z.string(), z.unknown()).nullable(),
});
export const AuditList = z.object({ entries: z.array(AuditEntry) });

export const Whoami = z.object({
  user: z.string().nullable(),
  admin: z.boolean(),
  authenticatedBy: z.string(),
  tokenId: z.string().optional(),
});

export type User = z.infer<typeof User>;
export type Grant = z.infer<typeof Grant>;
export type UserDetails = z.infer<typeof UserDetails>;
export type Token = z.infer<typeof Token>;
export type AuditEntry = z.infer<typeof AuditEntry>;
export type Whoami = z.infer<typeof Whoami>;
