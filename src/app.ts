// A configured berth instance: its database, blob store and the services the HTTP layer and CLI call.
import { join, resolve } from 'node:path';
import { openDatabase, type Db } from './db/connect.js';
import { FsBlobStore } from './storage/fs-blob-store.js';
import type { BlobStore } from './storage/blob-store.js';
import { checkDataWritable } from './storage/probe.js';
import { Repositories } from './repo/repositories.js';
import { Blobs } from './repo/blobs.js';
import { Manifests } from './repo/manifests.js';
import { Tags } from './repo/tags.js';
import { DEFAULT_UPLOAD_OPTIONS, Uploads, type UploadOptions } from './repo/uploads.js';
import { History } from './repo/history.js';
import { Cleanup } from './gc/cleanup.js';
import { Fsck } from './gc/fsck/index.js';
import { Leases } from './db/leases.js';
import { Imports } from './repo/imports.js';
import { Removals } from './repo/removals.js';
import { Auth, type AuthOptions } from './auth/auth.js';
import { Pruner, type PruneDefaults } from './repo/prune.js';
import { Quotas } from './repo/quotas.js';
import { DiskUsage } from './repo/disk-usage.js';
import { realClock, type Clock } from './gc/clock.js';
import { DEFAULT_RETENTION, type RetentionRule } from './repo/retention.js';
import { Retention } from './repo/retention-settings.js';
import { ImmutableTags } from './repo/immutability.js';
import type { CommitSettings } from './repo/versions.js';
import { ARCHIVE_LIMITS, type ArchiveLimits } from './archive/tar-guard.js';

export interface BerthConfig {
  /** folder of the filesystem blob store (and of the default SQLite database) */
  data: string;
  /** a SQLite file path or postgres://… URL; default: <data>/berth.db */
  database?: string;
  auth?: AuthOptions;
  /** the retention rule new repositories start with; a part left out is the default's (the latest 10 versions and 30 days) */
  retention?: Partial<RetentionRule>;
  /** the time versions are stamped and aged by (tests inject a fake one) */
  clock?: Clock;
  /** cleanup's defaults for repositories with no policy of their own (untagged manifests: kept unless set) */
  cleanup?: PruneDefaults;
  /** the archive limits that differ from ARCHIVE_LIMITS (`berth serve --archive-max-…`) */
  archiveLimits?: Partial<ArchiveLimits>;
  /** upload sessions: the bounds of open sessions per repository and per user, expiry (defaults: DEFAULT_UPLOAD_OPTIONS) */
  uploads?: Partial<UploadOptions>;
  /** check at open that the data folder and its store take a write (default true; false: touch no file) */
  checkWritable?: boolean;
}

export interface Berth {
  config: BerthConfig;
  db: Db;
  store: BlobStore;
  repositories: Repositories;
  blobs: Blobs;
  manifests: Manifests;
  tags: Tags;
  uploads: Uploads;
  history: History;
  /** version retention: every repository's rule, applied by cleanup */
  retention: Retention;
  /** tag immutability rules */
  immutableTags: ImmutableTags;
  cleanup: Cleanup;
  /** the consistency check of `berth fsck` */
  fsck: Fsck;
  /** jobs one process at a time may do (the scheduled cleanup) */
  leases: Leases;
  /** archive uploads */
  imports: Imports;
  /** deleting a tag, an image or a repository */
  removals: Removals;
  auth: Auth;
  /** storage quotas per repository or name pattern */
  quotas: Quotas;
  /** the bytes `berth du` reports */
  diskUsage: DiskUsage;
  close(): Promise<void>;
}

export async function openBerth(config: BerthConfig): Promise<Berth> {
  const data = resolve(config.data);
  const store = new FsBlobStore(join(data, 'store'));
  // before the database: a read-only data folder is named as such, not as "unable to open database file"
  if (config.checkWritable !== false) await checkDataWritable(data, store, store.root);
  const db = await openDatabase(config.database ?? join(data, 'berth.db'));
  const auth = new Auth(db.kysely, config.auth);
  await auth.init();
  const settings: CommitSettings = {
    clock: config.clock ?? realClock,
    newRepositories: { ...DEFAULT_RETENTION, ...config.retention },
  };
  const repositories = new Repositories(db.kysely);
  const retention = new Retention(db.kysely, settings.clock, repositories);
  return {
    config: { ...config, data },
    db,
    store,
    repositories,
    blobs: new Blobs(db.kysely, store, settings),
    manifests: new Manifests(db.kysely, store, settings),
    tags: new Tags(db.kysely),
    uploads: new Uploads(db.kysely, store, { ...DEFAULT_UPLOAD_OPTIONS, ...config.uploads }),
    history: new History(db.kysely, repositories, settings),
    retention,
    immutableTags: new ImmutableTags(db.kysely),
    // retention first: blobs only the removed versions needed are collected in the same run; then what the latest
    // versions no longer need leaves them (one version per repository), then the sweep
    cleanup: new Cleanup(db.kysely, store, new Pruner(db.kysely, config.cleanup, settings), {
      beforeRun: async ({ dryRun }) => {
        const removed = await retention.applyEverywhere({ dryRun });
        return removed.reduce((n, r) => n + r.removedVersions.length, 0);
      },
    }),
    fsck: new Fsck(db.kysely, store),
    leases: new Leases(db.kysely),
    imports: new Imports(db.kysely, store, { ...ARCHIVE_LIMITS, ...config.archiveLimits }, settings),
    removals: new Removals(db.kysely, settings),
    auth,
    quotas: new Quotas(db.kysely),
    diskUsage: new DiskUsage(db.kysely, store),
    close: () => db.close(),
  };
}
