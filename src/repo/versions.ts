// Repository versions: one transaction turns a list of content changes into version N+1.
import type { Kysely, Transaction } from 'kysely';
import type { ContentKind, Database } from '../db/schema.js';
import { BerthError } from '../core/errors.js';
import { assertRoom, lockQuotas } from './quotas.js';
import { usageOf } from './usage.js';
import { realClock, type Clock } from '../gc/clock.js';
import { applyRetention, DEFAULT_RETENTION, type RetentionRule } from './retention.js';
import { refuseImmutableChanges } from './immutability.js';

export type ContentChange =
  | { op: 'add'; kind: 'blob' | 'manifest'; digest: string }
  | { op: 'add'; kind: 'tag'; tag: string; digest: string }
  | { op: 'remove'; kind: ContentKind; key: string };

export interface CommittedVersion {
  repositoryId: number;
  number: number;
  added: number;
  removed: number;
}

export interface VersionContext {
  trx: Transaction<Database>;
  repositoryId: number;
  /** the version being made; the latest committed one is number - 1 */
  number: number;
}

/** What every commit needs besides its changes: the time, and the retention rule a new repository starts with. */
export interface CommitSettings {
  clock: Clock;
  newRepositories: RetentionRule;
}

export const DEFAULT_COMMIT_SETTINGS: CommitSettings = {
  clock: realClock,
  newRepositories: DEFAULT_RETENTION,
};

const BATCH = 500;

/**
 * Makes one new version of repository `name` in one transaction: takes the repository's row lock (bumping
 * latest_version first, so concurrent writers queue here rather than interleave), lets `build` check
 * its preconditions against the locked latest version and return the changes, applies them as range rows and
 * records the version, then drops the versions that the repository's retention no longer keeps. Anything `build`
 * throws rolls the whole version back, as does a version that adds bytes past a quota of the repository (DENIED). Every write path passes here, so this is where the tag immutability rules are
 * enforced: changes that would move or delete a protected tag are refused before anything is written.
 */
export interface CommitOptions {
  create: boolean;
  /** why the version is made, recorded with it (cleanup's versions say what they removed) */
  message?: string;
  /** the clock and retention rule of new repositories (default: DEFAULT_COMMIT_SETTINGS) */
  settings?: CommitSettings;
}

export async function commitVersion(
  db: Kysely<Database>,
  name: string,
  opts: CommitOptions,
  build: (ctx: VersionContext) => Promise<ContentChange[]>,
): Promise<CommittedVersion> {
  return db.transaction().execute((trx) => commitVersionIn(trx, name, opts, build));
}

/** commitVersion in the caller's transaction, for a caller that must decide under the lock whether to commit. */
export async function commitVersionIn(
  trx: Transaction<Database>,
  name: string,
  opts: CommitOptions,
  build: (ctx: VersionContext) => Promise<ContentChange[]>,
): Promise<CommittedVersion> {
  const settings = opts.settings ?? DEFAULT_COMMIT_SETTINGS;
  const now = settings.clock.now();
  if (opts.create) {
    const rule = settings.newRepositories;
    const created = await trx
      .insertInto('repositories')
      .values({
        name,
        latest_version: 0,
        created_at: now,
        retain_versions: rule.versions,
        retain_days: rule.days,
      })
      .onConflict((oc) => oc.column('name').doNothing())
      .returning('id')
      .executeTakeFirst();
    if (created) {
      await trx
        .insertInto('repository_versions')
        .values({ repository_id: created.id, number: 0, created_at: now, added: 0, removed: 0 })
        .execute();
    }
  }
  const repo = await trx
    .updateTable('repositories')
    // a new version brings a deleted repository back (a repository deletion sets deleted_version again after this)
    .set((eb) => ({ latest_version: eb('latest_version', '+', 1), deleted_version: null }))
    .where('name', '=', name)
    .returning(['id', 'latest_version', 'retain_versions', 'retain_days'])
    .executeTakeFirst();
  if (!repo) throw new BerthError('NAME_UNKNOWN', `repository ${name} does not exist`);
  const ctx: VersionContext = { trx, repositoryId: repo.id, number: repo.latest_version };
  // the quota rule (quotas.ts): the quotas' rows locked after the repository's, before build writes any blob row
  const quotas = await lockQuotas(trx, name);
  const before = quotas.length > 0 ? await usageOf(trx, name) : 0;
  const changes = await build(ctx);
  await refuseImmutableChanges(trx, name, changes);
  const counts = await applyChanges(ctx, changes);
  if (quotas.length > 0) {
    assertRoom(name, quotas, (await usageOf(trx, name)) - before, `the new version ${ctx.number}`);
  }
  await trx
    .insertInto('repository_versions')
    .values({
      repository_id: repo.id,
      number: ctx.number,
      created_at: now,
      ...counts,
      message: opts.message ?? null,
    })
    .execute();
  await applyRetention(trx, repo.id, { versions: repo.retain_versions, days: repo.retain_days }, now);
  return { repositoryId: repo.id, number: ctx.number, ...counts };
}

/**
 * Takes the repository's row lock (the one commitVersion takes) without making a version, so that what the caller
 * reads next is the latest version and stays so until its transaction ends; undefined if there is no repository.
 */
export async function lockRepository(
  trx: Transaction<Database>,
  name: string,
  set: { retain_versions?: number | null; retain_days?: number | null } = {},
): Promise<
  | { id: number; latest_version: number; retain_versions: number | null; retain_days: number | null }
  | undefined
> {
  return trx
    .updateTable('repositories')
    .set((eb) => ({ latest_version: eb.ref('latest_version'), ...set }))
    .where('name', '=', name)
    .returning(['id', 'latest_version', 'retain_versions', 'retain_days'])
    .executeTakeFirst();
}

async function applyChanges(
  ctx: VersionContext,
  changes: ContentChange[],
): Promise<{ added: number; removed: number }> {
  const { trx, repositoryId, number } = ctx;
  let added = 0;
  let removed = 0;
  // Later changes to the same unit win; a unit is touched at most once per version.
  const byUnit = new Map<string, ContentChange>();
  for (const c of changes) {
    const key = c.op === 'add' ? (c.kind === 'tag' ? c.tag : c.digest) : c.key;
    byUnit.set(`${c.kind}\u0000${key}`, c);
  }
  const adds: { kind: ContentKind; key: string; value: string | null }[] = [];
  const removes: { kind: ContentKind; key: string }[] = [];
  for (const c of byUnit.values()) {
    if (c.op === 'remove') removes.push({ kind: c.kind, key: c.key });
    else if (c.kind === 'tag') adds.push({ kind: 'tag', key: c.tag, value: c.digest });
    else adds.push({ kind: c.kind, key: c.digest, value: null });
  }
  // A tag that points elsewhere now is removed, then added again with its new target.
  for (const a of adds) {
    if (a.kind !== 'tag') continue;
    const r = await trx
      .updateTable('repository_content')
      .set({ version_removed: number })
      .where('repository_id', '=', repositoryId)
      .where('kind', '=', 'tag')
      .where('key', '=', a.key)
      .where('version_removed', 'is', null)
      .where('value', '!=', a.value)
      .executeTakeFirst();
    removed += Number(r.numUpdatedRows);
  }
  for (const r of removes) {
    const res = await trx
      .updateTable('repository_content')
      .set({ version_removed: number })
      .where('repository_id', '=', repositoryId)
      .where('kind', '=', r.kind)
      .where('key', '=', r.key)
      .where('version_removed', 'is', null)
      .executeTakeFirst();
    removed += Number(res.numUpdatedRows);
  }
  // Create-if-absent through the partial unique index: what is already current is a conflict, skipped.
  for (let i = 0; i < adds.length; i += BATCH) {
    const rows = adds.slice(i, i + BATCH).map((a) => ({
      repository_id: repositoryId,
      kind: a.kind,
      key: a.key,
      value: a.value,
      version_added: number,
      version_removed: null,
    }));
    const res = await trx
      .insertInto('repository_content')
      .values(rows)
      .onConflict((oc) =>
        oc.columns(['repository_id', 'kind', 'key']).where('version_removed', 'is', null).doNothing(),
      )
      .executeTakeFirst();
    added += Number(res.numInsertedOrUpdatedRows ?? 0);
  }
  return { added, removed };
}
