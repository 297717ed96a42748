// Shapes of the /api/v1/remotes answers (zod), shared by the route table and `berth remote`, which parses them.
import { z } from 'zod';

/** A remote as answered: never its password, only whether it has one. */
export const Remote = z.object({
  name: z.string(),
  url: z.string(),
  username: z.string().nullable(),
  hasPassword: z.boolean(),
  caPem: z.string().nullable(),
  tlsVerify: z.boolean(),
  include: z.array(z.string()),
  exclude: z.array(z.string()),
  platforms: z.array(z.string()),
  referrers: z.union([z.enum(['none', 'all']), z.array(z.string())]),
  policy: z.enum(['immediate', 'on_demand']),
  concurrency: z.number(),
  requestsPerSecond: z.number().nullable(),
  /** the last `ratelimit-remaining` the remote answered, and when (null: none seen) */
  ratelimitRemaining: z.number().nullable(),
  ratelimitSeenAt: z.string().nullable(),
  createdAt: z.string(),
  updatedAt: z.string(),
});
export const RemoteList = z.object({ remotes: z.array(Remote) });
