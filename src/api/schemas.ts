// Shapes of the /api/v1 answers (zod), shared by the server's route table and the CLI that parses them.
import { z } from 'zod';

/** A quota and what the repositories matching its pattern hold together, in bytes. */
export const Quota = z.object({ pattern: z.string(), limit: z.number(), usage: z.number() });
export const QuotaInfo = Quota.extend({ createdAt: z.string() });
export const QuotaList = z.object({ quotas: z.array(QuotaInfo) });

export const Repository = z.object({
  name: z.string(),
  latestVersion: z.number().nullable(),
  createdAt: z.string(),
  retainVersions: z.number().nullable().optional(),
  retainDays: z.number().nullable().optional(),
  /** PATCH's answer: the versions the retention rule removed (or, in a dry run, would remove) */
  removedVersions: z.array(z.number()).optional(),
  dryRun: z.boolean().optional(),
  /** what cleanup does with untagged manifests: the server's default, keep, or remove after afterHours */
  untagged: z
    .object({ policy: z.enum(['default', 'keep', 'remove']), afterHours: z.number().nullable() })
    .optional(),
  /** the version that deleted it (hidden from the listings), or null */
  deletedInVersion: z.number().nullable().optional(),
  /** what quotas count for it (its latest version and pending pushes, in bytes), and the quotas that govern it */
  usage: z.object({ bytes: z.number(), quotas: z.array(Quota) }).optional(),
});
export const RepositoryList = z.object({ repositories: z.array(Repository) });

/** `added` / `removed` of a version summary: counts, or lists of content, or content groups. */
export const VersionSummary = z.object({
  number: z.number(),
  createdAt: z.string(),
  added: z.unknown(),
  removed: z.unknown(),
  /** why the version was made when no client asked for it (cleanup), else null */
  message: z.string().nullable().optional(),
});
export const VersionList = z.object({ versions: z.array(VersionSummary) });

/** The answer of a DELETE of a tag, an image or a repository: the version it made. */
export const Deletion = z.object({
  repository: z.string(),
  tag: z.string().optional(),
  digest: z.string().optional(),
  tags: z.array(z.string()).optional(),
  version: VersionSummary,
});

export const Content = z.object({
  manifests: z.array(z.object({ digest: z.string(), mediaType: z.string() })),
  blobs: z.array(z.object({ digest: z.string(), size: z.number() })),
  tags: z.array(z.object({ name: z.string(), digest: z.string() })),
});
export const Version = z.object({
  number: z.number(),
  createdAt: z.string(),
  content: Content,
  /** the manifests no tag names and no index of the version refers to: pulled by digest only */
  untagged: z.array(z.object({ digest: z.string(), mediaType: z.string() })).optional(),
});
export const VersionDiff = z.object({ from: z.number(), to: z.number(), added: Content, removed: Content });

export const ArchiveResult = z.object({
  repository: z.string(),
  version: z.number(),
  format: z.string(),
  manifests: z.array(
    z.object({
      digest: z.string(),
      mediaType: z.string(),
      tags: z.array(z.string()),
      /** an image of its own (not a child of an index of the archive) */
      root: z.boolean().optional(),
    }),
  ),
  blobs: z.object({ uploaded: z.number(), reused: z.number(), foreign: z.number() }),
});

export const PresentBlobs = z.object({ present: z.array(z.string()) });

export const CleanupReport = z.object({
  dryRun: z.boolean(),
  protectionSeconds: z.number(),
  removed: z.object({
    blobs: z.number(),
    bytes: z.number(),
    manifests: z.number(),
    strayFiles: z.number().optional(),
    strayBytes: z.number().optional(),
    /** versions retention removed (every repository's own rule, applied first) */
    versions: z.number().optional(),
    /** on-demand blobs whose repository refers to them no more: where their bytes would come from, forgotten */
    onDemand: z.number().optional(),
  }),
  keptForWriters: z.number(),
  digests: z.array(z.string()),
  /** the repositories whose latest version let go of unreferenced blobs or untagged manifests, one version each */
  repositories: z
    .array(
      z.object({
        repository: z.string(),
        version: z.number().nullable(),
        blobs: z.number(),
        bytes: z.number(),
        manifests: z.number(),
      }),
    )
    .optional(),
});

export const ImmutableRule = z.object({
  repository: z.string(),
  tag: z.string(),
  createdAt: z.string(),
  createdBy: z.string().nullable(),
});
export const ImmutableRuleList = z.object({ rules: z.array(ImmutableRule) });

export const Cache = z.object({
  name: z.string(),
  remote: z.string(),
  prefix: z.string(),
  checkSeconds: z.number(),
  staleSeconds: z.number(),
  retainDays: z.number().nullable(),
  createdAt: z.string(),
  repositories: z.number(),
});
export const CacheList = z.object({ caches: z.array(Cache) });

export const User = z.object({ name: z.string(), admin: z.boolean(), createdAt: z.string() });
export const UserList = z.object({ users: z.array(User) });

export const Grant = z.object({ pattern: z.string(), actions: z.array(z.string()).readonly() });
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

export const RepositoryDiskUsage = z.object({
  name: z.string(),
  latest: z.number(),
  pending: z.number(),
  retained: z.number(),
  unique: z.number(),
});
const Count = z.object({ count: z.number(), bytes: z.number() });
export const StoreDiskUsage = z.object({
  blobs: Count,
  referenced: Count,
  unreferenced: Count,
  uploads: z.object({ sessions: z.number(), bytes: z.number() }),
  staging: z.object({ files: z.number(), bytes: z.number() }),
});
export const DiskUsage = z.object({ repositories: z.array(RepositoryDiskUsage), store: StoreDiskUsage });
export const RepositoryDiskUsageWithQuotas = RepositoryDiskUsage.extend({ quotas: z.array(Quota) });

export const Whoami = z.object({
  user: z.string().nullable(),
  admin: z.boolean(),
  authenticatedBy: z.string(),
  tokenId: z.string().optional(),
});

export type Repository = z.infer<typeof Repository>;
export type VersionSummary = z.infer<typeof VersionSummary>;
export type Deletion = z.infer<typeof Deletion>;
export type Content = z.infer<typeof Content>;
export type Version = z.infer<typeof Version>;
export type VersionDiff = z.infer<typeof VersionDiff>;
export type ArchiveResult = z.infer<typeof ArchiveResult>;
export type CleanupReport = z.infer<typeof CleanupReport>;
export type User = z.infer<typeof User>;
export type ImmutableRule = z.infer<typeof ImmutableRule>;
export type Cache = z.infer<typeof Cache>;
export type Grant = z.infer<typeof Grant>;
export type UserDetails = z.infer<typeof UserDetails>;
export type Token = z.infer<typeof Token>;
export type AuditEntry = z.infer<typeof AuditEntry>;
export type Whoami = z.infer<typeof Whoami>;
export type QuotaInfo = z.infer<typeof QuotaInfo>;
export type RepositoryDiskUsage = z.infer<typeof RepositoryDiskUsage>;
export type DiskUsage = z.infer<typeof DiskUsage>;
export type RepositoryDiskUsageWithQuotas = z.infer<typeof RepositoryDiskUsageWithQuotas>;
