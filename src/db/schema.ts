// The database schema as Kysely types: one interface per table.
import type { Generated } from 'kysely';

export interface RepositoriesTable {
  id: Generated<number>;
  name: string;
  latest_version: number;
  created_at: number;
  /** keep only the latest N versions (null: all) */
  retain_versions: Generated<number | null>;
  /** keep versions younger than D days too (null: no age rule); a version is dropped only when no rule keeps it */
  retain_days: Generated<number | null>;
  /** versions below this number were removed by retention (null: none was) */
  retired_before: Generated<number | null>;
  /** the retention rule that removed them, in words */
  retired_by: Generated<string | null>;
  /** untagged manifests: null (the server's default), 'keep', or 'remove' (after untagged_after_hours) */
  untagged_policy: Generated<UntaggedPolicy | null>;
  untagged_after_hours: Generated<number | null>;
  /** the version `berth repo delete` made, emptying it and hiding it from the listings (null: not deleted) */
  deleted_version: Generated<number | null>;
  /** the pull-through cache that made this repository (null: none); such repositories refuse pushes */
  cache: Generated<string | null>;
  /** when a manifest of it was last pulled (ms; null: never), for retention of cache repositories */
  last_pulled_at: Generated<number | null>;
}

export type UntaggedPolicy = 'keep' | 'remove';

export interface RepositoryVersionsTable {
  repository_id: number;
  number: number;
  created_at: number;
  /** content units added and removed by this version, against the one before */
  added: number;
  removed: number;
  /** why the version was made when no client asked for it (e.g. "cleanup: removed 3 unreferenced blobs") */
  message: Generated<string | null>;
}

/**
 * Membership of content units in repository versions, as ranges: a row is in every version v with
 * version_added <= v < version_removed (or version_removed null: still in the latest version).
 * kind: 'blob' | 'manifest' (key = digest) or 'tag' (key = tag name, value = manifest digest).
 */
export interface RepositoryContentTable {
  repository_id: number;
  kind: ContentKind;
  key: string;
  value: string | null;
  version_added: number;
  version_removed: number | null;
}

export type ContentKind = 'blob' | 'manifest' | 'tag';

export interface BlobsTable {
  digest: string;
  size: number;
  created_at: number;
  /** when the blob was last claimed or committed; cleanup's protection time counts from here */
  touched_at: Generated<number>;
  /**
   * 'present'; 'missing' when fsck found no file for it; 'remote' when no bytes were ever stored (an on-demand
   * blob: on_demand_blobs says where to fetch it)
   */
  state: Generated<'present' | 'missing' | 'remote'>;
  /**
   * The key of the object holding the bytes (an upload's objects/<xx>/<id>/data, never moved), or null: the content
   * address blobs/<alg>/<xx>/<hex> (rows from before migration 0015, and blobs other writers moved into place)
   */
  object_key: Generated<string | null>;
}

/** A claim on a blob by an operation in flight; cleanup never deletes a claimed blob. */
export interface BlobClaimsTable {
  id: string;
  digest: string;
  expires_at: number;
}

export interface ManifestsTable {
  digest: string;
  media_type: string;
  size: number;
  artifact_type: string | null;
  subject: string | null;
  config_digest: string | null;
  created_at: number;
  /** the manifest's annotations as JSON, for the referrers API */
  annotations: string | null;
}

export interface UploadSessionsTable {
  id: string;
  repository: string;
  size: number;
  created_at: number;
  updated_at: number;
  busy_until: number;
  /** the user who opened the session (null: none), for the bound per user */
  user_id: number | null;
  /** the running sha256 of the bytes received, saved (hash-wasm, base64); null: none (no bytes, or another hash) */
  hash_state: string | null;
  /** the store's state of the object being appended to (BlobStore.appender); null: none */
  store_state: string | null;
}

export interface PendingBlobsTable {
  repository: string;
  digest: string;
  created_at: number;
}

/** What a manifest refers to: kind 'blob' (config, layers), 'manifest' (index children) or 'foreign' (not stored). */
export interface ManifestReferencesTable {
  manifest_digest: string;
  digest: string;
  kind: 'blob' | 'manifest' | 'foreign';
}

/** The uncompressed digest (diff ID) of a stored layer, learned from image configs. */
export interface LayerDiffIdsTable {
  blob_digest: string;
  diff_id: string;
  /** the layer's media type where it was seen (its compression) and its size */
  media_type: string;
  size: number;
}

export interface UsersTable {
  id: Generated<number>;
  name: string;
  /** argon2id PHC string */
  password_hash: string;
  /** 1: administrator of the whole instance */
  admin: number;
  created_at: number;
}

export interface UserPermissionsTable {
  user_id: number;
  /** a repository name, a prefix "team/*", or "*" */
  pattern: string;
  /** comma-separated: pull, push, delete, admin */
  actions: string;
}

export interface PublicPatternsTable {
  pattern: string;
  created_at: number;
}

export interface ApiTokensTable {
  id: string;
  user_id: number;
  name: string;
  /** SHA-256 hex of the secret */
  secret_hash: string;
  /** JSON [{pattern, actions}], or null: everything its user may do */
  scopes: string | null;
  created_at: number;
  expires_at: number | null;
  revoked_at: number | null;
  last_used_at: number | null;
}

export interface SigningKeysTable {
  kid: string;
  /** base64url of 32 random bytes (HS256) */
  secret: string;
  created_at: number;
}

export interface LoginFailuresTable {
  key: string;
  failures: number;
  last_at: number;
}

export interface AuditLogTable {
  id: Generated<number>;
  at: number;
  actor: string | null;
  address: string | null;
  action: string;
  repository: string | null;
  /** JSON */
  detail: string | null;
}

/** A lease on a job one process at a time does (e.g. `cleanup`): who holds it, and until when (ms since epoch). */
export interface LeasesTable {
  name: string;
  holder: string;
  expires_at: number;
}

/**
 * A storage quota: the repositories matching `pattern` (a name, "team/*" or "*") may hold at most `limit_bytes`,
 * counted as the bytes of the blobs (and manifests) of each one's latest version and pending pushes, summed over
 * the repositories. Every write that adds to that usage locks the row, then checks, then writes.
 */
export interface QuotasTable {
  pattern: string;
  limit_bytes: number;
  created_at: number;
}

/** A tag immutability rule: tags matching tag_pattern of repositories matching repository_pattern never move. */
export interface ImmutableTagsTable {
  /** a repository name, a prefix "team/*", or "*" */
  repository_pattern: string;
  /** a tag, or a pattern where "*" stands for any characters ("v*", "*") */
  tag_pattern: string;
  created_at: number;
  created_by: string | null;
}

/** A registry content is brought in from (src/sync/). */
export interface RemotesTable {
  name: string;
  /** base URL, e.g. https://registry-1.docker.io */
  url: string;
  username: string | null;
  /** the password or token, encrypted (src/sync/secrets.ts); never returned, never logged */
  secret: string | null;
  /** PEM of CAs to trust for this remote (null: the system's) */
  ca_pem: string | null;
  /** 0: do not verify the remote's TLS certificate */
  tls_verify: Generated<number>;
  /** JSON arrays: tag globs, literal tags or digests to include / exclude; platforms like "linux/amd64" */
  include: Generated<string>;
  exclude: Generated<string>;
  platforms: Generated<string>;
  /** 'none', 'all', or a JSON array of artifact types */
  referrers: Generated<string>;
  policy: Generated<'immediate' | 'on_demand'>;
  concurrency: Generated<number>;
  /** token-bucket rate (null: unlimited) */
  requests_per_second: number | null;
  /** the last `ratelimit-remaining` the remote answered, and when */
  ratelimit_remaining: number | null;
  ratelimit_seen_at: number | null;
  created_at: number;
  updated_at: number;
}

export type SyncRunState = 'running' | 'succeeded' | 'failed';

/** One sync of a repository from a remote. */
export interface SyncRunsTable {
  id: string;
  repository: string;
  remote: string;
  /** the upstream repository */
  upstream: string;
  mirror: number;
  state: SyncRunState;
  /** 'api', 'schedule' or 'cache' */
  trigger: string;
  actor: string | null;
  /** JSON statistics (src/sync/) */
  stats: string | null;
  /** the version the run made (null: none, it changed nothing or failed) */
  version: number | null;
  error: string | null;
  started_at: number;
  updated_at: number;
  finished_at: number | null;
}

/** A repository synced from a remote on a schedule (one process at a time). */
export interface SyncSchedulesTable {
  repository: string;
  remote: string;
  upstream: string;
  mirror: number;
  interval_seconds: number;
  next_at: number;
}

/**
 * A blob a repository holds whose bytes come from a remote on first GET, verified, even when berth already stores
 * them for another repository (proof of ownership); the row goes once they came.
 */
export interface OnDemandBlobsTable {
  repository: string;
  digest: string;
  size: number;
  remote: string;
  upstream: string;
  created_at: number;
}

/** A pull-through cache: repositories under `prefix` resolve at `remote` on first use. */
export interface CachesTable {
  name: string;
  remote: string;
  prefix: string;
  /** a tag is checked upstream (HEAD) at most this often */
  check_seconds: number;
  /** when upstream fails, tags checked less than this long ago are still served */
  stale_seconds: number;
  /** cache repositories not pulled for this many days are emptied by retention (null: kept) */
  retain_days: number | null;
  created_at: number;
}

/** When a reference (tag or digest) of a cache repository was last checked upstream and last pulled. */
export interface CacheTagsTable {
  repository: string;
  reference: string;
  digest: string;
  checked_at: number;
  pulled_at: number;
}

/** A signed-in session of the web pages (src/auth/sessions.ts): the cookie holds a secret, the row its hash. */
export interface WebSessionsTable {
  /** SHA-256 (hex) of the session's secret */
  id: string;
  user_id: number;
  user_name: string;
  /** the API token the user signed in with (null: a password) */
  token_id: string | null;
  created_at: number;
  expires_at: number;
}

export interface Database {
  repositories: RepositoriesTable;
  repository_versions: RepositoryVersionsTable;
  repository_content: RepositoryContentTable;
  blobs: BlobsTable;
  manifests: ManifestsTable;
  manifest_references: ManifestReferencesTable;
  layer_diff_ids: LayerDiffIdsTable;
  upload_sessions: UploadSessionsTable;
  pending_blobs: PendingBlobsTable;
  blob_claims: BlobClaimsTable;
  users: UsersTable;
  user_permissions: UserPermissionsTable;
  public_patterns: PublicPatternsTable;
  api_tokens: ApiTokensTable;
  signing_keys: SigningKeysTable;
  login_failures: LoginFailuresTable;
  audit_log: AuditLogTable;
  leases: LeasesTable;
  quotas: QuotasTable;
  immutable_tags: ImmutableTagsTable;
  remotes: RemotesTable;
  sync_runs: SyncRunsTable;
  sync_schedules: SyncSchedulesTable;
  on_demand_blobs: OnDemandBlobsTable;
  caches: CachesTable;
  cache_tags: CacheTagsTable;
  web_sessions: WebSessionsTable;
}
