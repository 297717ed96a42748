// The sync service: runs a sync of a repository from a remote (plan, fetch, verify, one version), one run per repository across processes.
import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.js';
import { BerthError } from '../core/errors.js';
import { algorithmOf, type Digest } from '../core/digest.js';
import { isRepositoryName, parseRepositoryName } from '../core/references.js';
import type { BlobStore } from '../storage/blob-store.js';
import { receive } from '../storage/cas.js';
import { Leases } from '../db/leases.js';
import { realClock, type Clock } from '../gc/clock.js';
import { removeStaleSyncDownloads, syncDownloadDir } from '../gc/leftovers.js';
import { current, heldBlobs } from '../repo/held.js';
import { DEFAULT_COMMIT_SETTINGS, type CommitSettings } from '../repo/versions.js';
import type { Remote, RemoteConnection } from './remote.js';
import type { Upstream } from './upstream.js';
import {
  blobsOf,
  chosenChildren,
  commitContent,
  emptyContent,
  fetchedManifest,
  type ContentToRecord,
  type FetchedManifest,
} from './content.js';
import { inPool, planSync, type CurrentContent } from './plan.js';
import { newStats, SyncRuns, withUpstream, type SyncRun, type SyncStats } from './runs.js';

/** What a sync needs from outside: the remotes (passwords decrypted) and an upstream client for one. */
export interface SyncPorts {
  remote(name: string): Promise<Remote>;
  connect(conn: RemoteConnection): Upstream;
}

export interface SyncRequest {
  repository: string;
  remote: string;
  /** the upstream repository (default: the same name) */
  upstream?: string;
  /** also remove tags (within the include set) that upstream no longer has */
  mirror?: boolean;
  trigger: 'api' | 'schedule' | 'cli';
  actor?: string;
}

export interface SyncOptions {
  settings?: CommitSettings;
  /** this process's name as a lease holder */
  holder?: string;
  /** how long a run's lease lasts without renewal (renewed every third of it) */
  leaseMs?: number;
  /** how often a run writes its statistics while fetching (ms) */
  progressMs?: number;
}

export const syncLease = (repository: string): string => `sync:${repository}`;

export class Syncs {
  readonly runs: SyncRuns;
  private readonly leases: Leases;
  private readonly clock: Clock;
  private readonly settings: CommitSettings;
  private readonly holder: string;
  private readonly leaseMs: number;
  private readonly progressMs: number;
  /** the ends of the runs going on in this process */
  private readonly running = new Set<Promise<SyncRun>>();
  private stopping = false;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly store: BlobStore,
    private readonly ports: SyncPorts,
    opts: SyncOptions = {},
  ) {
    this.runs = new SyncRuns(db);
    this.leases = new Leases(db);
    this.settings = opts.settings ?? DEFAULT_COMMIT_SETTINGS;
    this.clock = this.settings.clock ?? realClock;
    this.holder = opts.holder ?? `sync-${randomUUID()}`;
    this.leaseMs = opts.leaseMs ?? 60_000;
    this.progressMs = opts.progressMs ?? 1000;
  }

  /**
   * Starts a run and returns it (state running) with a promise of its end, which never rejects: a failed run is a
   * run in state failed. Refused (SYNC_BUSY) while another run of the repository goes on, on any process.
   */
  async start(req: SyncRequest): Promise<{ run: SyncRun; done: Promise<SyncRun> }> {
    if (this.stopping)
      throw new BerthError('UNAVAILABLE', 'the server is stopping: start the sync again on a running one');
    parseRepositoryName(req.repository);
    const upstreamName = req.upstream ?? req.repository;
    if (!isRepositoryName(upstreamName)) {
      throw new BerthError(
        'NAME_INVALID',
        `invalid upstream repository name "${upstreamName}": lowercase path components joined by "/", as in every registry`,
      );
    }
    const remote = await this.ports.remote(req.remote);
    const id = randomUUID();
    const lease = syncLease(req.repository);
    const now = this.clock.now();
    if (!(await this.leases.acquire(lease, id, now + this.leaseMs, now))) {
      const busy = await this.runs.list(req.repository, 1);
      const run = busy[0]?.state === 'running' ? busy[0].id : undefined;
      throw new BerthError(
        'SYNC_BUSY',
        `repository ${req.repository} is being synced already${run ? ` (run ${run})` : ''}; wait for that run to end`,
        { repository: req.repository, run },
      );
    }
    try {
      await this.runs.abandon(req.repository, id, now);
      await this.runs.create({
        id,
        repository: req.repository,
        remote: req.remote,
        upstream: upstreamName,
        mirror: req.mirror ? 1 : 0,
        trigger: req.trigger,
        actor: req.actor ?? null,
        started_at: now,
      });
    } catch (e) {
      await this.leases.release(lease, id);
      throw e;
    }
    const run = await this.runs.get(id);
    const done = this.ended(run, this.execute(run, remote), lease);
    this.running.add(done);
    void done.then(() => this.running.delete(done));
    return { run, done };
  }

  /**
   * Stops the runs going on in this process (a server shutting down): each fails at its next step ("the server
   * stopped"), and this waits until they have ended; runs started after it are refused (UNAVAILABLE). Runs end
   * before the database closes: a run that outlived it would fail writing, with its lease still held.
   */
  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.all([...this.running]);
  }

  /**
   * A run's end, which never rejects, after its lease is given back. A lease the database would not take back
   * (unreachable at that moment) expires on its own after leaseMs; a run whose end cannot be read is a failed run.
   */
  private async ended(run: SyncRun, execution: Promise<SyncRun>, lease: string): Promise<SyncRun> {
    const end = await execution.catch((e: unknown): SyncRun => ({
      ...run,
      state: 'failed',
      error: `the run's end could not be recorded: ${e instanceof Error ? e.message : String(e)}`,
    }));
    await this.leases.release(lease, run.id).catch(() => undefined);
    return end;
  }

  /**
   * Fails the runs a killed process left running (their lease is gone), then removes the download folders of runs
   * no longer running that are older than `protectionMs` (a serving process does this at start).
   */
  async sweepAbandoned(now: number, protectionMs?: number): Promise<{ runs: number; folders: string[] }> {
    const runs = await this.runs.failAbandoned(now);
    return { runs, folders: await removeStaleSyncDownloads(this.db, this.store, protectionMs, now) };
  }

  /** Starts a run and waits for its end. */
  async run(req: SyncRequest): Promise<SyncRun> {
    return (await this.start(req)).done;
  }

  private async execute(run: SyncRun, remote: Remote): Promise<SyncRun> {
    const lease = syncLease(run.repository);
    const renew = this.clock.setInterval(() => {
      void this.leases.renew(lease, run.id, this.clock.now() + this.leaseMs).catch(() => undefined);
    }, this.leaseMs / 3);
    const dir = syncDownloadDir(run.id);
    let up: Upstream | undefined;
    let stats = newStats();
    let lastWrite = 0;
    const report = async (s: SyncStats, force = false) => {
      // (a stopping server ends its runs at their next step before the commit; one that committed ends as it did)
      if (this.stopping && s.phase !== 'done') {
        throw new Error('the server stopped during the run: start it again');
      }
      stats = up ? withUpstream(s, up.stats) : s;
      const now = this.clock.now();
      if (!force && now - lastWrite < this.progressMs) return;
      lastWrite = now;
      await this.runs.progress(run.id, stats, now);
    };
    try {
      up = this.ports.connect(remote.connection);
      const content = await this.gather(run, remote, up, dir, stats, report);
      await report({ ...stats, phase: 'committing' }, true);
      const v = await commitContent(this.db, this.store, run.repository, content, {
        message: `sync run ${run.id} from ${run.remote}`,
        create: true,
        settings: this.settings,
      });
      await report({ ...stats, phase: 'done' }, true);
      await this.runs.finish(run.id, { state: 'succeeded', stats, version: v?.number }, this.clock.now());
    } catch (e) {
      if (up) stats = withUpstream(stats, up.stats);
      const error = e instanceof Error ? e.message : String(e);
      await this.runs
        .finish(run.id, { state: 'failed', stats, error }, this.clock.now())
        .catch(() => undefined);
    } finally {
      this.clock.clearInterval(renew);
      await this.store.deletePrefix(dir).catch(() => undefined);
    }
    return this.runs.get(run.id);
  }

  /**
   * Plans, fetches the manifests (the chosen platforms' children of indexes, referrers when asked) and the blobs
   * the repository does not hold: downloaded and verified into `dir` (immediate), or recorded on demand. A blob
   * the repository does not hold is downloaded even when berth stores its bytes for another repository: the
   * download is the proof of ownership (the copy is discarded at commit when the bytes are stored already).
   */
  private async gather(
    run: SyncRun,
    remote: Remote,
    up: Upstream,
    dir: string,
    start: SyncStats,
    report: (s: SyncStats, force?: boolean) => Promise<void>,
  ): Promise<ContentToRecord> {
    const n = remote.connection.concurrency;
    const have = await currentContent(this.db, run.repository);
    const plan = await planSync(up, remote, run.upstream, have, { mirror: run.mirror, concurrency: n });
    let stats: SyncStats = {
      ...start,
      phase: 'fetching',
      tagsSeen: plan.seen.length,
      tagsChanged: plan.setTags.length,
      tagsRemoved: plan.removeTags.length,
    };
    await report(stats, true);
    const fetched = new Map<Digest, FetchedManifest>();
    const wanted = new Set<string>(plan.fetch);
    const fetchAll = async (digests: Digest[]) => {
      let queue = digests;
      while (queue.length > 0) {
        const got = await inPool(queue, n, async (d) => {
          const m = await up.getManifest(run.upstream, d);
          if (!m) {
            throw new BerthError(
              'MANIFEST_UNKNOWN',
              `remote ${run.remote} has no manifest ${d} in ${run.upstream} (any more)`,
            );
          }
          return fetchedManifest(m);
        });
        queue = [];
        for (const m of got) {
          fetched.set(m.digest, m);
          for (const c of chosenChildren(m, remote.platforms)) {
            if (!have.manifests.has(c.digest) && !wanted.has(c.digest)) {
              wanted.add(c.digest);
              queue.push(c.digest);
            }
          }
        }
        stats = { ...stats, manifests: fetched.size };
        await report(stats);
      }
    };
    await fetchAll(plan.fetch);
    if (remote.referrers !== 'none') {
      const subjects = [...new Set([...plan.seen.map((s) => s.digest), ...fetched.keys()])];
      const types = remote.referrers === 'all' ? [undefined] : remote.referrers;
      const found = new Set<Digest>();
      await inPool(subjects, n, async (d) => {
        for (const t of types) {
          for (const r of await up.referrers(run.upstream, d, t)) {
            if (!have.manifests.has(r.digest) && !wanted.has(r.digest)) found.add(r.digest);
          }
        }
      });
      for (const d of found) wanted.add(d);
      await fetchAll([...found].sort());
    }
    const needed = new Map<Digest, number>();
    for (const m of fetched.values()) for (const b of blobsOf(m)) needed.set(b.digest, b.size);
    const held = await heldBlobs(this.db, run.repository, [...needed.keys()]);
    const missing = [...needed].filter(([d]) => !held.has(d)).map(([digest, size]) => ({ digest, size }));
    const content: ContentToRecord = {
      ...emptyContent(),
      manifests: [...fetched.values()],
      held: [...held] as Digest[],
      tags: plan.setTags,
      removeTags: plan.removeTags,
    };
    stats = { ...stats, blobsTotal: missing.length, blobsReused: held.size };
    if (remote.policy === 'on_demand') {
      content.remote = missing;
      content.onDemand = { remote: run.remote, upstream: run.upstream };
      stats = { ...stats, blobsOnDemand: missing.length };
    } else {
      let i = 0;
      content.downloaded = await inPool(missing, n, async (b) => {
        const key = `${dir}${i++}`;
        const body = await up.getBlob(run.upstream, b.digest, b.size);
        // the client verifies as the bytes pass; hashed again here, so no caller's bug can store wrong bytes
        const got = await receive(this.store, key, body, { algorithm: algorithmOf(b.digest) });
        if (got.digest !== b.digest || got.size !== b.size) {
          await this.store.delete(key);
          throw new BerthError(
            'DIGEST_INVALID',
            `remote ${run.remote} sent ${got.size} bytes hashing to ${got.digest} for blob ${b.digest} (${b.size} bytes)`,
          );
        }
        stats = { ...stats, blobsFetched: stats.blobsFetched + 1 };
        await report(stats);
        return { ...b, key };
      });
    }
    await report(stats, true);
    return content;
  }
}

/** The repository's tags and manifests now (empty when it does not exist yet). */
async function currentContent(db: Kysely<Database>, name: string): Promise<CurrentContent> {
  const rows = await current(db, name)
    .select(['c.kind', 'c.key', 'c.value'])
    .where('c.kind', 'in', ['tag', 'manifest'])
    .execute();
  const out: CurrentContent = { tags: new Map(), manifests: new Set() };
  for (const r of rows) {
    if (r.kind === 'tag') out.tags.set(r.key, r.value ?? '');
    else out.manifests.add(r.key);
  }
  return out;
}
