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
  /** 'present', or 'missing' when fsck found no file for it */
  state: Generated<'present' | 'missing'>;
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
}
