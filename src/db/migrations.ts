// Schema migrations, in code, applied in order at start (Kysely's migrator holds a lock while it runs).
import { sql, type Kysely, type Migration, type MigrationProvider } from 'kysely';
import { syncMigration } from './sync-migration.js';

export type DialectName = 'sqlite' | 'postgres';

function migrations(dialect: DialectName): Record<string, Migration> {
  const big = dialect === 'postgres' ? 'bigint' : 'integer';
  return {
    '0001_initial': {
      async up(db: Kysely<unknown>) {
        await db.schema
          .createTable('repositories')
          .addColumn('id', dialect === 'postgres' ? 'serial' : 'integer', (c) =>
            dialect === 'postgres' ? c.primaryKey() : c.primaryKey().autoIncrement(),
          )
          .addColumn('name', 'text', (c) => c.notNull().unique())
          .addColumn('latest_version', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('created_at', big, (c) => c.notNull())
          .execute();
        await db.schema
          .createTable('repository_versions')
          .addColumn('repository_id', 'integer', (c) =>
            c.notNull().references('repositories.id').onDelete('cascade'),
          )
          .addColumn('number', 'integer', (c) => c.notNull())
          .addColumn('created_at', big, (c) => c.notNull())
          .addColumn('added', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('removed', 'integer', (c) => c.notNull().defaultTo(0))
          .addPrimaryKeyConstraint('repository_versions_pk', ['repository_id', 'number'])
          .execute();
        await db.schema
          .createTable('repository_content')
          .addColumn('repository_id', 'integer', (c) =>
            c.notNull().references('repositories.id').onDelete('cascade'),
          )
          .addColumn('kind', 'text', (c) => c.notNull())
          .addColumn('key', 'text', (c) => c.notNull())
          .addColumn('value', 'text')
          .addColumn('version_added', 'integer', (c) => c.notNull())
          .addColumn('version_removed', 'integer')
          .addPrimaryKeyConstraint('repository_content_pk', ['repository_id', 'kind', 'key', 'version_added'])
          .execute();
        // At most one current row per unit: adding what is there already is a conflict, not a duplicate.
        await db.schema
          .createIndex('repository_content_current')
          .on('repository_content')
          .columns(['repository_id', 'kind', 'key'])
          .unique()
          .where(sql.ref('version_removed'), 'is', null)
          .execute();
        await db.schema
          .createIndex('repository_content_removed')
          .on('repository_content')
          .columns(['repository_id', 'version_removed'])
          .execute();
        await db.schema
          .createIndex('repository_content_added')
          .on('repository_content')
          .columns(['repository_id', 'version_added'])
          .execute();
        await db.schema
          .createIndex('repository_content_key')
          .on('repository_content')
          .columns(['kind', 'key'])
          .execute();
        await db.schema
          .createTable('blobs')
          .addColumn('digest', 'text', (c) => c.primaryKey())
          .addColumn('size', big, (c) => c.notNull())
          .addColumn('created_at', big, (c) => c.notNull())
          .execute();
        await db.schema
          .createTable('manifests')
          .addColumn('digest', 'text', (c) => c.primaryKey())
          .addColumn('media_type', 'text', (c) => c.notNull())
          .addColumn('size', big, (c) => c.notNull())
          .addColumn('artifact_type', 'text')
          .addColumn('subject', 'text')
          .addColumn('config_digest', 'text')
          .addColumn('created_at', big, (c) => c.notNull())
          .execute();
        await db.schema.createIndex('manifests_subject').on('manifests').column('subject').execute();
        await db.schema
          .createTable('manifest_references')
          .addColumn('manifest_digest', 'text', (c) => c.notNull())
          .addColumn('digest', 'text', (c) => c.notNull())
          .addColumn('kind', 'text', (c) => c.notNull())
          .addPrimaryKeyConstraint('manifest_references_pk', ['manifest_digest', 'digest', 'kind'])
          .execute();
        await db.schema
          .createIndex('manifest_references_digest')
          .on('manifest_references')
          .column('digest')
          .execute();
        await db.schema
          .createTable('layer_diff_ids')
          .addColumn('blob_digest', 'text', (c) => c.notNull())
          .addColumn('diff_id', 'text', (c) => c.notNull())
          .addColumn('media_type', 'text', (c) => c.notNull())
          .addColumn('size', big, (c) => c.notNull())
          .addPrimaryKeyConstraint('layer_diff_ids_pk', ['blob_digest', 'diff_id'])
          .execute();
        await db.schema
          .createIndex('layer_diff_ids_diff_id')
          .on('layer_diff_ids')
          .column('diff_id')
          .execute();
      },
    },
    '0002_push': {
      async up(db: Kysely<unknown>) {
        // A blob upload session of the registry: its bytes are at uploads/<id>/data in the store.
        await db.schema
          .createTable('upload_sessions')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('repository', 'text', (c) => c.notNull())
          .addColumn('size', big, (c) => c.notNull().defaultTo(0))
          .addColumn('created_at', big, (c) => c.notNull())
          .addColumn('updated_at', big, (c) => c.notNull())
          /** a writer's lease: no two requests append to one session at once */
          .addColumn('busy_until', big, (c) => c.notNull().defaultTo(0))
          .execute();
        await db.schema
          .createIndex('upload_sessions_updated')
          .on('upload_sessions')
          .column('updated_at')
          .execute();
        // Blobs pushed (or mounted) into a repository and awaiting the manifest that will add them to a version.
        await db.schema
          .createTable('pending_blobs')
          .addColumn('repository', 'text', (c) => c.notNull())
          .addColumn('digest', 'text', (c) => c.notNull())
          .addColumn('created_at', big, (c) => c.notNull())
          .addPrimaryKeyConstraint('pending_blobs_pk', ['repository', 'digest'])
          .execute();
        await db.schema.createIndex('pending_blobs_digest').on('pending_blobs').column('digest').execute();
        await db.schema.alterTable('manifests').addColumn('annotations', 'text').execute();
      },
    },
    '0003_cleanup': {
      async up(db: Kysely<unknown>) {
        // A claim on a blob by an operation in flight (a push finishing, an archive import, a manifest push):
        // cleanup never deletes a claimed blob. Claims expire, so a crashed process's claims lapse.
        await db.schema
          .createTable('blob_claims')
          .addColumn('id', 'text', (c) => c.notNull())
          .addColumn('digest', 'text', (c) => c.notNull())
          .addColumn('expires_at', big, (c) => c.notNull())
          .addPrimaryKeyConstraint('blob_claims_pk', ['id', 'digest'])
          .execute();
        await db.schema.createIndex('blob_claims_digest').on('blob_claims').column('digest').execute();
        // When a blob was last claimed or committed: the protection time counts from here.
        await db.schema
          .alterTable('blobs')
          .addColumn('touched_at', big, (c) => c.notNull().defaultTo(0))
          .execute();
        // 'present', or 'missing' (fsck found no file for it)
        await db.schema
          .alterTable('blobs')
          .addColumn('state', 'text', (c) => c.notNull().defaultTo('present'))
          .execute();
        // keep only the latest N versions of a repository (null: keep all)
        await db.schema.alterTable('repositories').addColumn('retain_versions', 'integer').execute();
      },
    },
    '0004_auth': {
      async up(db: Kysely<unknown>) {
        const id = dialect === 'postgres' ? 'serial' : 'integer';
        await db.schema
          .createTable('users')
          .addColumn('id', id, (c) =>
            dialect === 'postgres' ? c.primaryKey() : c.primaryKey().autoIncrement(),
          )
          .addColumn('name', 'text', (c) => c.notNull().unique())
          .addColumn('password_hash', 'text', (c) => c.notNull())
          .addColumn('admin', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('created_at', big, (c) => c.notNull())
          .execute();
        // What a user may do in repositories matching a pattern (a name, a prefix "team/*", or "*").
        await db.schema
          .createTable('user_permissions')
          .addColumn('user_id', 'integer', (c) => c.notNull().references('users.id').onDelete('cascade'))
          .addColumn('pattern', 'text', (c) => c.notNull())
          .addColumn('actions', 'text', (c) => c.notNull())
          .addPrimaryKeyConstraint('user_permissions_pk', ['user_id', 'pattern'])
          .execute();
        // Patterns anyone may pull from, without credentials.
        await db.schema
          .createTable('public_patterns')
          .addColumn('pattern', 'text', (c) => c.primaryKey())
          .addColumn('created_at', big, (c) => c.notNull())
          .execute();
        // API tokens for robots and CI: the secret is stored as its SHA-256 (it is random, not a password).
        await db.schema
          .createTable('api_tokens')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('user_id', 'integer', (c) => c.notNull().references('users.id').onDelete('cascade'))
          .addColumn('name', 'text', (c) => c.notNull())
          .addColumn('secret_hash', 'text', (c) => c.notNull())
          .addColumn('scopes', 'text')
          .addColumn('created_at', big, (c) => c.notNull())
          .addColumn('expires_at', big)
          .addColumn('revoked_at', big)
          .addColumn('last_used_at', big)
          .execute();
        await db.schema.createIndex('api_tokens_user').on('api_tokens').column('user_id').execute();
        // Keys that sign registry tokens, shared by every process on the database.
        await db.schema
          .createTable('signing_keys')
          .addColumn('kid', 'text', (c) => c.primaryKey())
          .addColumn('secret', 'text', (c) => c.notNull())
          .addColumn('created_at', big, (c) => c.notNull())
          .execute();
        // Failed logins per user ("user:NAME") and per address ("addr:IP"), for slowing down guessing.
        await db.schema
          .createTable('login_failures')
          .addColumn('key', 'text', (c) => c.primaryKey())
          .addColumn('failures', 'integer', (c) => c.notNull())
          .addColumn('last_at', big, (c) => c.notNull())
          .execute();
        await db.schema
          .createTable('audit_log')
          .addColumn('id', id, (c) =>
            dialect === 'postgres' ? c.primaryKey() : c.primaryKey().autoIncrement(),
          )
          .addColumn('at', big, (c) => c.notNull())
          .addColumn('actor', 'text')
          .addColumn('address', 'text')
          .addColumn('action', 'text', (c) => c.notNull())
          .addColumn('repository', 'text')
          .addColumn('detail', 'text')
          .execute();
        await db.schema.createIndex('audit_log_at').on('audit_log').column('at').execute();
      },
    },
    '0005_leases': {
      async up(db: Kysely<unknown>) {
        // A lease on a job that one process at a time does (the scheduled cleanup): taken by inserting the row, or
        // by taking over a row whose time is up, in one statement each; never read, then written.
        await db.schema
          .createTable('leases')
          .addColumn('name', 'text', (c) => c.primaryKey())
          .addColumn('holder', 'text', (c) => c.notNull())
          .addColumn('expires_at', big, (c) => c.notNull())
          .execute();
      },
    },
    '0006_login_failures_last_at': {
      async up(db: Kysely<unknown>) {
        // login failures past their window are deleted, and beyond the bound the oldest: both by last_at
        await db.schema
          .createIndex('login_failures_last_at')
          .on('login_failures')
          .column('last_at')
          .execute();
      },
    },
    '0007_retention_immutability': {
      async up(db: Kysely<unknown>) {
        // Retention by age beside retention by count (null: no limit on that axis), and what retention removed:
        // versions below retired_before are gone, by the rule written in retired_by (restores of them are refused
        // naming it). Existing repositories keep what they had: retain_days starts null everywhere.
        await db.schema.alterTable('repositories').addColumn('retain_days', 'integer').execute();
        await db.schema.alterTable('repositories').addColumn('retired_before', 'integer').execute();
        await db.schema.alterTable('repositories').addColumn('retired_by', 'text').execute();
        // Immutable tags: a tag of a repository matching repository_pattern whose name matches tag_pattern is
        // never moved or deleted. One row per pair, created if absent through the primary key.
        await db.schema
          .createTable('immutable_tags')
          .addColumn('repository_pattern', 'text', (c) => c.notNull())
          .addColumn('tag_pattern', 'text', (c) => c.notNull())
          .addColumn('created_at', big, (c) => c.notNull())
          .addColumn('created_by', 'text')
          .addPrimaryKeyConstraint('immutable_tags_pk', ['repository_pattern', 'tag_pattern'])
          .execute();
      },
    },
    '0009_cleanup_policies': {
      async up(db: Kysely<unknown>) {
        // why a version was made, when something other than a client's request made it (cleanup)
        await db.schema.alterTable('repository_versions').addColumn('message', 'text').execute();
        // untagged manifests: null (the server's default), 'keep', or 'remove' after untagged_after_hours
        await db.schema.alterTable('repositories').addColumn('untagged_policy', 'text').execute();
        await db.schema.alterTable('repositories').addColumn('untagged_after_hours', 'integer').execute();
      },
    },
    '0010_upload_session_owners': {
      async up(db: Kysely<unknown>) {
        // Open upload sessions are bounded per repository and per user (the id, never reused; null: no user):
        // counted when a session opens, in the statement that inserts it.
        await db.schema.alterTable('upload_sessions').addColumn('user_id', 'integer').execute();
        await db.schema
          .createIndex('upload_sessions_repository')
          .on('upload_sessions')
          .column('repository')
          .execute();
        await db.schema.createIndex('upload_sessions_user').on('upload_sessions').column('user_id').execute();
      },
    },
    '0011_repository_deleted': {
      async up(db: Kysely<unknown>) {
        // `berth repo delete`: the version that emptied the repository and hid it from the listings; the next
        // version made (a push, an upload, a restore) clears it
        await db.schema.alterTable('repositories').addColumn('deleted_version', 'integer').execute();
      },
    },
    '0012_sync': syncMigration(big),
    '0014_web_sessions': {
      async up(db: Kysely<unknown>) {
        // Sessions of the web pages: the SHA-256 of the cookie's secret (never the secret), whose they are (the
        // user's id, never reused, and name; the API token signed in with, if one was), and until when. Sign-out
        // deletes the row; expired rows are deleted by the next sign-in.
        await db.schema
          .createTable('web_sessions')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('user_id', 'integer', (c) => c.notNull())
          .addColumn('user_name', 'text', (c) => c.notNull())
          .addColumn('token_id', 'text')
          .addColumn('created_at', big, (c) => c.notNull())
          .addColumn('expires_at', big, (c) => c.notNull())
          .execute();
        await db.schema
          .createIndex('web_sessions_expires_at')
          .on('web_sessions')
          .column('expires_at')
          .execute();
      },
    },
    '0015_blob_objects': {
      async up(db: Kysely<unknown>) {
        // Where a blob's bytes are: the key of the object an upload wrote them to (objects/<xx>/<id>/data), set when its
        // digest was verified; null for rows from before (and blobs moved to their content address,
        // blobs/<alg>/<xx>/<hex>). Unique: one object holds the bytes of one blob.
        await db.schema.alterTable('blobs').addColumn('object_key', 'text').execute();
        await db.schema.createIndex('blobs_object_key').on('blobs').column('object_key').unique().execute();
      },
    },
    '0016_upload_append_state': {
      async up(db: Kysely<unknown>) {
        // What a chunked upload keeps between requests, so that the next chunk may go to any process: the running
        // sha256 state (hash-wasm's saved state, base64; null: none yet) and the store's own state of the object
        // being appended to (S3: the multipart upload, its parts' ETags and the tail object; null on files)
        await db.schema.alterTable('upload_sessions').addColumn('hash_state', 'text').execute();
        await db.schema.alterTable('upload_sessions').addColumn('store_state', 'text').execute();
      },
    },
    '0008_quotas': {
      async up(db: Kysely<unknown>) {
        // A storage quota on the repositories matching a pattern (a name, a prefix "team/*", or "*"). Its row is
        // locked by every write that adds to what those repositories hold, so a check and its write serialize.
        await db.schema
          .createTable('quotas')
          .addColumn('pattern', 'text', (c) => c.primaryKey())
          .addColumn('limit_bytes', big, (c) => c.notNull())
          .addColumn('created_at', big, (c) => c.notNull())
          .execute();
      },
    },
  };
}

export function migrationProvider(dialect: DialectName): MigrationProvider {
  return { getMigrations: async () => migrations(dialect) };
}
