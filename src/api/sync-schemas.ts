// The answers of the sync API (/api/v1/repositories/<name>/-/sync, /api/v1/sync-runs), shared with the CLI.
import { z } from 'zod';

export const SyncStats = z.object({
  phase: z.enum(['planning', 'fetching', 'committing', 'done']),
  tagsSeen: z.number(),
  tagsChanged: z.number(),
  tagsRemoved: z.number(),
  manifests: z.number(),
  blobsTotal: z.number(),
  blobsFetched: z.number(),
  blobsReused: z.number(),
  blobsOnDemand: z.number(),
  bytes: z.number(),
  requests: z.record(z.string(), z.number()),
  retries: z.number(),
  throttled: z.number(),
});

export const SyncRun = z.object({
  id: z.string(),
  repository: z.string(),
  remote: z.string(),
  upstream: z.string(),
  mirror: z.boolean(),
  state: z.enum(['running', 'succeeded', 'failed']),
  trigger: z.string(),
  actor: z.string().nullable(),
  stats: SyncStats,
  version: z.number().nullable(),
  error: z.string().nullable(),
  startedAt: z.string(),
  updatedAt: z.string(),
  finishedAt: z.string().nullable(),
});

export const SyncRunList = z.object({ runs: z.array(SyncRun) });

export const SyncSchedule = z.object({
  repository: z.string(),
  remote: z.string(),
  upstream: z.string(),
  mirror: z.boolean(),
  everySeconds: z.number(),
  nextAt: z.string(),
});

export const SyncAnswer = z.object({ run: SyncRun.nullable(), schedule: SyncSchedule.nullable() });

export type SyncRun = z.infer<typeof SyncRun>;
export type SyncSchedule = z.infer<typeof SyncSchedule>;
