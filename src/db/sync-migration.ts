// Migration 0012: the tables of src/sync (remotes, sync runs and schedules, on-demand blobs, pull-through caches).
import type { Kysely, Migration } from 'kysely';

export function syncMigration(big: 'bigint' | 'integer'): Migration {
  return {
    async up(db: Kysely<unknown>) {
      // Remotes: other registries content is brought in from (src/sync/). The password or token is stored
      // encrypted (AES-256-GCM under the server's secret key) and never returned.
      await db.schema
        .createTable('remotes')
        .addColumn('name', 'text', (c) => c.primaryKey())
        .addColumn('url', 'text', (c) => c.notNull())
        .addColumn('username', 'text')
        .addColumn('secret', 'text')
        .addColumn('ca_pem', 'text')
        .addColumn('tls_verify', 'integer', (c) => c.notNull().defaultTo(1))
        // JSON arrays of strings
        .addColumn('include', 'text', (c) => c.notNull().defaultTo('[]'))
        .addColumn('exclude', 'text', (c) => c.notNull().defaultTo('[]'))
        .addColumn('platforms', 'text', (c) => c.notNull().defaultTo('[]'))
        // 'none', 'all', or a JSON array of artifact types
        .addColumn('referrers', 'text', (c) => c.notNull().defaultTo('none'))
        .addColumn('policy', 'text', (c) => c.notNull().defaultTo('immediate'))
        .addColumn('concurrency', 'integer', (c) => c.notNull().defaultTo(4))
        .addColumn('requests_per_second', 'integer')
        .addColumn('ratelimit_remaining', 'integer')
        .addColumn('ratelimit_seen_at', big)
        .addColumn('created_at', big, (c) => c.notNull())
        .addColumn('updated_at', big, (c) => c.notNull())
        .execute();
      // One sync of a repository from a remote: its state, statistics (JSON) and the version it made.
      await db.schema
        .createTable('sync_runs')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('repository', 'text', (c) => c.notNull())
        .addColumn('remote', 'text', (c) => c.notNull())
        .addColumn('upstream', 'text', (c) => c.notNull())
        .addColumn('mirror', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('state', 'text', (c) => c.notNull())
        .addColumn('trigger', 'text', (c) => c.notNull())
        .addColumn('actor', 'text')
        .addColumn('stats', 'text')
        .addColumn('version', 'integer')
        .addColumn('error', 'text')
        .addColumn('started_at', big, (c) => c.notNull())
        .addColumn('updated_at', big, (c) => c.notNull())
        .addColumn('finished_at', big)
        .execute();
      await db.schema
        .createIndex('sync_runs_repository')
        .on('sync_runs')
        .columns(['repository', 'started_at'])
        .execute();
      // A repository synced from a remote every interval_seconds, by one process at a time.
      await db.schema
        .createTable('sync_schedules')
        .addColumn('repository', 'text', (c) => c.primaryKey())
        .addColumn('remote', 'text', (c) => c.notNull())
        .addColumn('upstream', 'text', (c) => c.notNull())
        .addColumn('mirror', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('interval_seconds', 'integer', (c) => c.notNull())
        .addColumn('next_at', big, (c) => c.notNull())
        .execute();
      // Blobs a repository holds through an on-demand sync or a cache: the bytes come from the remote on first
      // GET and are verified there, even when berth already stores them for another repository (proof of
      // ownership). The row goes once the bytes came from the remote.
      await db.schema
        .createTable('on_demand_blobs')
        .addColumn('repository', 'text', (c) => c.notNull())
        .addColumn('digest', 'text', (c) => c.notNull())
        .addColumn('size', big, (c) => c.notNull())
        .addColumn('remote', 'text', (c) => c.notNull())
        .addColumn('upstream', 'text', (c) => c.notNull())
        .addColumn('created_at', big, (c) => c.notNull())
        .addPrimaryKeyConstraint('on_demand_blobs_pk', ['repository', 'digest'])
        .execute();
      await db.schema.createIndex('on_demand_blobs_digest').on('on_demand_blobs').column('digest').execute();
      // Pull-through caches: repositories under `prefix` resolve upstream at `remote` on first use.
      await db.schema
        .createTable('caches')
        .addColumn('name', 'text', (c) => c.primaryKey())
        .addColumn('remote', 'text', (c) => c.notNull())
        .addColumn('prefix', 'text', (c) => c.notNull().unique())
        .addColumn('check_seconds', 'integer', (c) => c.notNull())
        .addColumn('stale_seconds', 'integer', (c) => c.notNull())
        .addColumn('retain_days', 'integer')
        .addColumn('created_at', big, (c) => c.notNull())
        .execute();
      // When each tag (or digest) of a cache repository was last checked upstream and last pulled.
      await db.schema
        .createTable('cache_tags')
        .addColumn('repository', 'text', (c) => c.notNull())
        .addColumn('reference', 'text', (c) => c.notNull())
        .addColumn('digest', 'text', (c) => c.notNull())
        .addColumn('checked_at', big, (c) => c.notNull())
        .addColumn('pulled_at', big, (c) => c.notNull())
        .addPrimaryKeyConstraint('cache_tags_pk', ['repository', 'reference'])
        .execute();
      // a repository a cache made (refuses pushes), and when it was last pulled (retention by last pull)
      await db.schema.alterTable('repositories').addColumn('cache', 'text').execute();
      await db.schema.alterTable('repositories').addColumn('last_pulled_at', big).execute();
    },
  };
}
