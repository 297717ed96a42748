// Cleanup's first step, per repository: one new version removing what its latest version no longer needs (gc/pruning.ts's port).
import type { Kysely } from 'kysely';
import type { Database, UntaggedPolicy } from '../db/schema.js';
import type { PruneOptions, PrunedRepository, RepositoryPruning } from '../gc/pruning.js';
import {
  commitVersionIn,
  DEFAULT_COMMIT_SETTINGS,
  lockRepository,
  type CommitSettings,
  type ContentChange,
} from './versions.js';
import { unneeded, type Unneeded } from './unneeded.js';

type Db = Kysely<Database>;

const HOUR_MS = 3600_000;
const PAGE = 500;

export interface PruneDefaults {
  /** the server's untagged policy for repositories with none of their own: hours untagged; null: keep (default) */
  untaggedAfterHours?: number | null;
}

/** The grace (ms) after which untagged manifests go, or null when they are kept, by the repository's policy. */
export function untaggedGraceMs(
  policy: UntaggedPolicy | null,
  afterHours: number | null,
  defaults: PruneDefaults,
): number | null {
  const hours = policy === 'keep' ? null : policy === 'remove' ? afterHours : defaults.untaggedAfterHours;
  return hours === null || hours === undefined ? null : hours * HOUR_MS;
}

const plural = (n: number, what: string): string => `${n} ${what}${n === 1 ? '' : 's'}`;

/** The message of the version cleanup makes: "cleanup: removed 3 unreferenced blobs" (and untagged manifests). */
export function pruneMessage(blobs: number, manifests: number): string {
  const parts = [];
  if (blobs > 0 || manifests === 0) parts.push(plural(blobs, 'unreferenced blob'));
  if (manifests > 0) parts.push(plural(manifests, 'untagged manifest'));
  return `cleanup: removed ${parts.join(' and ')}`;
}

export class Pruner implements RepositoryPruning {
  constructor(
    private readonly db: Db,
    private readonly defaults: PruneDefaults = {},
    private readonly settings: CommitSettings = DEFAULT_COMMIT_SETTINGS,
  ) {}

  async prune(opts: PruneOptions): Promise<PrunedRepository[]> {
    const out: PrunedRepository[] = [];
    let after = '';
    for (;;) {
      const page = await this.db
        .selectFrom('repositories')
        .select(['id', 'name', 'untagged_policy', 'untagged_after_hours'])
        .where('name', '>', after)
        .orderBy('name')
        .limit(PAGE)
        .execute();
      for (const r of page) {
        const grace = untaggedGraceMs(r.untagged_policy, r.untagged_after_hours, this.defaults);
        const done = await this.pruneOne(r.id, r.name, { ...opts, untaggedAfterMs: grace });
        if (done) out.push(done);
      }
      if (page.length < PAGE) return out;
      after = page.at(-1)!.name;
    }
  }

  /**
   * One repository: asked first without the lock (nothing to do is the usual answer), then again in one
   * transaction under the repository's row lock, the one every commit takes; what that answer names leaves the
   * latest version as one new version whose message says what went.
   */
  private async pruneOne(
    id: number,
    name: string,
    opts: PruneOptions & { untaggedAfterMs: number | null },
  ): Promise<PrunedRepository | undefined> {
    const ask = { now: opts.now, cutoff: opts.cutoff, untaggedAfterMs: opts.untaggedAfterMs };
    const first = await unneeded(this.db, id, name, ask);
    if (isEmpty(first)) return undefined;
    if (opts.dryRun) {
      for (const b of first.blobs)
        opts.log?.info(
          { repository: name, digest: b.digest, size: b.size },
          'cleanup would remove unreferenced blob',
        );
      for (const m of first.manifests)
        opts.log?.info({ repository: name, digest: m }, 'cleanup would remove untagged manifest');
      return summary(name, null, first);
    }
    await opts.beforeLock?.(name);
    return this.db.transaction().execute(async (trx) => {
      const repo = await lockRepository(trx, name);
      if (!repo || repo.id !== id) return undefined; // gone (or made anew) meanwhile
      const decided = await unneeded(trx, id, name, ask);
      if (isEmpty(decided)) return undefined;
      const changes: ContentChange[] = [
        ...decided.manifests.map((m): ContentChange => ({ op: 'remove', kind: 'manifest', key: m })),
        ...decided.blobs.map((b): ContentChange => ({ op: 'remove', kind: 'blob', key: b.digest })),
      ];
      const v = await commitVersionIn(
        trx,
        name,
        {
          create: false,
          settings: this.settings,
          message: pruneMessage(decided.blobs.length, decided.manifests.length),
        },
        async () => changes,
      );
      for (const b of decided.blobs)
        opts.log?.info(
          { repository: name, version: v.number, digest: b.digest, size: b.size },
          'cleanup removed unreferenced blob from the repository',
        );
      for (const m of decided.manifests)
        opts.log?.info(
          { repository: name, version: v.number, digest: m },
          'cleanup removed untagged manifest from the repository',
        );
      return summary(name, v.number, decided);
    });
  }
}

const isEmpty = (u: Unneeded): boolean => u.blobs.length === 0 && u.manifests.length === 0;

const summary = (repository: string, version: number | null, u: Unneeded): PrunedRepository => ({
  repository,
  version,
  blobs: u.blobs.length,
  bytes: u.blobs.reduce((sum, b) => sum + b.size, 0),
  manifests: u.manifests.length,
});
