// A configured berth instance: its database, blob store and the services the HTTP layer and CLI call.
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { openDatabase, type Db } from './db/connect.js';
import { FsBlobStore } from './storage/fs-blob-store.js';
import type { BlobStore } from './storage/blob-store.js';
import { checkDataWritable } from './storage/probe.js';
import { S3BlobStore } from './storage/s3-blob-store.js';
import { Keys } from './storage/cas.js';
import type { S3Location } from './storage/s3-config.js';
import { S3Presigner, type S3RedirectSettings } from './storage/s3-presign.js';
export { parseS3Store } from './storage/s3-config.js';
export { DEFAULT_REDIRECT_TTL, parsePublicEndpoint, parseRedirectTtl } from './storage/s3-presign.js';
import { Repositories } from './repo/repositories.js';
import { Blobs } from './repo/blobs.js';
import { Manifests } from './repo/manifests.js';
import { Tags } from './repo/tags.js';
import { Images } from './repo/images.js';
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
import { StoreMigration } from './repo/store-migration.js';
export type { MigrationProgress, MigrationReport } from './repo/store-migration.js';
import { realClock, type Clock } from './gc/clock.js';
import { DEFAULT_RETENTION, type RetentionRule } from './repo/retention.js';
import { Retention } from './repo/retention-settings.js';
import { ImmutableTags } from './repo/immutability.js';
import type { CommitSettings } from './repo/versions.js';
import { ARCHIVE_LIMITS, type ArchiveLimits } from './archive/tar-guard.js';
import { Caches } from './sync/caches.js';
import { applyCacheRetention } from './sync/cache-retention.js';
import { PullThrough } from './sync/pull-through.js';
import { Syncs, type SyncPorts } from './sync/syncs.js';
import { SyncSchedules } from './sync/schedules.js';
import { OnDemandBlobs, type OnDemandOptions, type UpstreamFor } from './sync/on-demand.js';
import { Remotes } from './sync/remotes.js';
import { Upstreams } from './sync/upstreams.js';
import { createUpstream } from './sync/upstream-http.js';
import { HashWorker } from './core/hash-worker.js';
import { DEFAULT_SECRET_KEY_FILE, Secrets } from './sync/secrets.js';

export interface BerthConfig {
  /** folder of the filesystem blob store (and of the default SQLite database) */
  data: string;
  /** blobs in an S3 bucket (`--store s3://…`) instead of files under `data` */
  s3?: S3Location;
  /** blob GETs answer 307 to presigned URLs of the S3 store (`--s3-redirect`); refused without `s3` */
  s3Redirect?: S3RedirectSettings;
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
  /** sync's ports where they differ from the default (the remotes service, the HTTP upstream client): tests */
  syncPorts?: Partial<SyncPorts>;
  /** on-demand blobs: the lease and wait times of a fetch (src/sync/on-demand.ts) */
  onDemand?: Pick<OnDemandOptions, 'leaseMs' | 'waitMs' | 'sleep'>;
  /** the client of a remote by its name (tests; default: the remotes service's remote through the HTTP client, one per remote) */
  upstreamFor?: UpstreamFor;
  /** the key remote passwords are encrypted with (`--secret-key-file`; default <data>/secret.key, made on first need) */
  secretKeyFile?: string;
}

export interface Berth {
  config: BerthConfig;
  db: Db;
  store: BlobStore;
  repositories: Repositories;
  blobs: Blobs;
  manifests: Manifests;
  tags: Tags;
  /** what the web pages show of an image: platforms, size, config, layers with their history, referrers */
  images: Images;
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
  /** pull-through caches: their settings, the cache a repository falls under, the refusal of pushes */
  caches: Caches;
  /** the resolution of manifests pulled under a cache's prefix */
  pullThrough: PullThrough;
  /** syncs of repositories from remotes, and their runs */
  syncs: Syncs;
  /** scheduled syncs (run by one process at a time) */
  syncSchedules: SyncSchedules;
  /** on-demand blobs: fetched from their remote on first GET */
  onDemand: OnDemandBlobs;
  /** registries content is brought in from (sync, on-demand blobs, caches call get(name)) */
  remotes: Remotes;
  /**
   * a hashing thread, started on first use, stopped by close. Archive uploads hash their large entries on it (the
   * event loop receives and writes meanwhile); blobs from remotes hash on the event loop, which measured faster on
   * 2 cores (docs/benchmarks.md, cache); an Upstream may be given it
   */
  hasher: HashWorker;
  /** ends the sync runs going on (syncs.stop), then closes the database and stops the hashing thread */
  close(): Promise<void>;
}

export async function openBerth(config: BerthConfig): Promise<Berth> {
  const data = resolve(config.data);
  if (config.s3Redirect && !config.s3) {
    throw new Error(
      '--s3-redirect needs the S3 store: give --store s3://BUCKET[/PREFIX] too (the filesystem store serves blobs itself)',
    );
  }
  const s3 = config.s3 ? new S3BlobStore(config.s3) : undefined;
  const urls =
    s3 && config.s3Redirect ? new S3Presigner(s3.location, s3.client, config.s3Redirect) : undefined;
  const store = s3 ?? new FsBlobStore(join(data, 'store'));
  // before the database: a read-only data folder is named as such, not as "unable to open database file"
  if (config.checkWritable !== false) {
    // a missing bucket or wrong keys are named with S3's code, not found by the first upload answering 500
    await s3?.check();
    await checkDataWritable(
      data,
      store,
      s3 ? s3.describe() : join(data, 'store'),
      s3 ? 'check the bucket policy: berth needs to put, get, list and delete objects there' : undefined,
    );
  }
  const db = await openDatabase(config.database ?? join(data, 'berth.db'));
  const auth = new Auth(db.kysely, config.auth);
  await auth.init();
  const settings: CommitSettings = {
    clock: config.clock ?? realClock,
    newRepositories: { ...DEFAULT_RETENTION, ...config.retention },
  };
  const repositories = new Repositories(db.kysely);
  const retention = new Retention(db.kysely, settings.clock, repositories);
  const remotes = new Remotes(
    db.kysely,
    new Secrets(config.secretKeyFile ? resolve(config.secretKeyFile) : join(data, DEFAULT_SECRET_KEY_FILE)),
    settings.clock,
  );
  // started when something first hashes on it (an archive upload's large entry: see the Berth field)
  const hasher = new HashWorker();
  const syncPorts: SyncPorts = {
    remote: (name) => remotes.get(name),
    // the last ratelimit-remaining upstream sent is kept on the remote (shown, and a metric)
    connect: (conn) =>
      createUpstream(conn, {
        onRateLimit: (remaining) => void remotes.recordRateLimit(conn.name, remaining).catch(() => undefined),
      }),
    ...config.syncPorts,
  };
  const syncs = new Syncs(db.kysely, store, syncPorts, { settings });
  const caches = new Caches(db.kysely, settings.clock);
  // one client per remote, shared by on-demand blobs and the cache (its tokens, rate limit and statistics)
  const upstreams = new Upstreams(
    (name) => syncPorts.remote(name),
    (conn) => syncPorts.connect(conn),
  );
  const upstreamFor: UpstreamFor = config.upstreamFor ?? ((remote) => upstreams.for(remote));
  const onDemand = new OnDemandBlobs(db.kysely, store, upstreamFor, {
    ...config.onDemand,
    clock: settings.clock,
  });
  const manifests = new Manifests(db.kysely, store, settings);
  return {
    config: { ...config, data },
    db,
    store,
    repositories,
    blobs: new Blobs(db.kysely, store, settings, onDemand, urls),
    manifests,
    tags: new Tags(db.kysely),
    images: new Images(db.kysely, store, manifests),
    uploads: new Uploads(db.kysely, store, { ...DEFAULT_UPLOAD_OPTIONS, ...config.uploads }),
    history: new History(db.kysely, repositories, settings),
    retention,
    immutableTags: new ImmutableTags(db.kysely),
    // retention first: blobs only the removed versions needed are collected in the same run; then what the latest
    // versions no longer need leaves them (one version per repository), then the sweep
    cleanup: new Cleanup(db.kysely, store, new Pruner(db.kysely, config.cleanup, settings), {
      beforeRun: async ({ dryRun }) => {
        // runs a killed process left marked running fail (their download folders are then cleanup's)
        if (!dryRun) await syncs.runs.failAbandoned(settings.clock.now());
        // cache repositories first: what was not pulled for their retain_days leaves their latest versions
        await applyCacheRetention(db.kysely, { dryRun, settings });
        const removed = await retention.applyEverywhere({ dryRun });
        return removed.reduce((n, r) => n + r.removedVersions.length, 0);
      },
    }),
    fsck: new Fsck(db.kysely, store),
    leases: new Leases(db.kysely),
    imports: new Imports(db.kysely, store, { ...ARCHIVE_LIMITS, ...config.archiveLimits }, settings, hasher),
    removals: new Removals(db.kysely, settings),
    auth,
    quotas: new Quotas(db.kysely),
    diskUsage: new DiskUsage(db.kysely, store),
    caches,
    pullThrough: new PullThrough(db.kysely, store, caches, { upstream: upstreamFor, settings }),
    syncs,
    syncSchedules: new SyncSchedules(db.kysely, syncs, settings.clock),
    onDemand,
    remotes,
    hasher,
    close: async () => {
      await syncs.stop(); // runs going on end before the database closes
      await db.close();
      await hasher.close();
    },
  };
}

export interface StoreMigrationConfig {
  /** the instance's data folder: the default database's place, and the source store's when `from` is absent */
  data: string;
  database?: string;
  /** the source store: S3, or (absent) the files under `data` */
  from?: S3Location;
  to: S3Location;
}

/**
 * `berth migrate-store`: the instance's database and its two stores, checked (the buckets reached, the source
 * folder there), and the copy between them. The database is never made here: one that is not there is refused.
 */
export async function openStoreMigration(
  config: StoreMigrationConfig,
): Promise<{ from: string; to: string; migration: StoreMigration; close(): Promise<void> }> {
  const data = resolve(config.data);
  const to = new S3BlobStore(config.to);
  const from = config.from ? new S3BlobStore(config.from) : new FsBlobStore(join(data, 'store'));
  const fromName = from instanceof S3BlobStore ? from.describe() : join(data, 'store');
  if (from instanceof S3BlobStore) await from.check();
  else if (!existsSync(join(data, 'store'))) {
    throw new Error(
      `there is no blob store at ${fromName}: give --from DIR, the --data folder berth serve uses (its store is DIR/store)`,
    );
  }
  await to.check();
  const db = await openDatabase(config.database ?? join(data, 'berth.db'));
  const abortUnfinished = async () =>
    (await to.abortUploads(`${config.to.prefix}${Keys.blobsRoot}`)) +
    (await to.abortUploads(`${config.to.prefix}${Keys.objectsRoot}`));
  return {
    from: fromName,
    to: to.describe(),
    migration: new StoreMigration(db.kysely, from, to, abortUnfinished),
    close: () => db.close(),
  };
}
