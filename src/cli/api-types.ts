// Shapes of the management API's answers, checked with zod so a mismatch is reported, not misprinted.
import { z } from 'zod';
import { ApiError } from './client.js';

export const Repository = z.object({
  name: z.string(),
  latestVersion: z.number().nullable(),
  createdAt: z.string(),
  retainVersions: z.number().nullable().optional(),
});

export const RepositoryList = z.object({ repositories: z.array(Repository) });

/** `added` / `removed` of a version summary: counts, or lists of content, or content groups. */
export const VersionSummary = z.object({
  number: z.number(),
  createdAt: z.string(),
  added: z.unknown(),
  removed: z.unknown(),
});

export const VersionList = z.object({ versions: z.array(VersionSummary) });

export const Content = z.object({
  manifests: z.array(z.object({ digest: z.string(), mediaType: z.string() })),
  blobs: z.array(z.object({ digest: z.string(), size: z.number() })),
  tags: z.array(z.object({ name: z.string(), digest: z.string() })),
});

export const Version = z.object({ number: z.number(), createdAt: z.string(), content: Content });

export const VersionDiff = z.object({ from: z.number(), to: z.number(), added: Content, removed: Content });

export const ArchiveResult = z.object({
  repository: z.string(),
  version: z.number(),
  format: z.string(),
  manifests: z.array(z.object({ digest: z.string(), mediaType: z.string(), tags: z.array(z.string()) })),
  blobs: z.object({ uploaded: z.number(), reused: z.number(), foreign: z.number() }),
});

export const PresentBlobs = z.object({ present: z.array(z.string()) });

export type Repository = z.infer<typeof Repository>;
export type VersionSummary = z.infer<typeof VersionSummary>;
export type Content = z.infer<typeof Content>;
export type Version = z.infer<typeof Version>;
export type VersionDiff = z.infer<typeof VersionDiff>;
export type ArchiveResult = z.infer<typeof ArchiveResult>;

/** Checks an answer against its shape; `what` names the request in the error. */
export function expect<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  throw new ApiError(
    'BAD_RESPONSE',
    `unexpected answer from the server to ${what}`,
    z.prettifyError(r.error),
  );
}
