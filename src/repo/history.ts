// The history of a repository: versions, a version's content, diffs, deleting a version, retention, restoring.
import type { Kysely, Transaction } from 'kysely';
import type { ContentKind, Database } from '../db/schema.js';
import { BerthError } from '../core/errors.js';
import { dropVersionsBefore, missingVersion, type RetentionRule } from './retention.js';
import { Retention, type RetentionResult } from './retention-settings.js';
import { holds, rowsBetween, unit, type RangeRow } from './version-rows.js';
import { Repositories } from './repositories.js';
import {
  commitVersion,
  DEFAULT_COMMIT_SETTINGS,
  lockRepository,
  type CommitSettings,
  type CommittedVersion,
  type ContentChange,
} from './versions.js';
import { untaggedImages } from './untagged.js';

export interface VersionInfo {
  number: number;
  createdAt: string;
  added: number;
  removed: number;
  /** why the version was made when no client asked for it (cleanup), else null */
  message: string | null;
}

export interface VersionContent {
  manifests: { digest: string; mediaType: string }[];
  blobs: { digest: string; size: number }[];
  tags: { name: string; digest: string }[];
}

const iso = (ms: number): string => new Date(Number(ms)).toISOString();
const summary = ({ number, createdAt, added, removed, message }: VersionInfo): VersionInfo => ({
  number,
  createdAt,
  added,
  removed,
  message,
});

interface LockedRepository {
  id: number;
  latest_version: number;
  retain_versions: number | null;
  retain_days: number | null;
}

/** Takes the repository's row lock (the one commitVersion takes), so history changes and commits serialize. */
async function lockExisting(trx: Transaction<Database>, name: string): Promise<LockedRepository> {
  const repo = await lockRepository(trx, name);
  if (!repo) throw new BerthError('NAME_UNKNOWN', `repository ${name} does not exist`);
  return repo;
}

async function requireVersion(
  trx: Transaction<Database>,
  name: string,
  repositoryId: number,
  number: number,
): Promise<void> {
  const v = await trx
    .selectFrom('repository_versions')
    .select('number')
    .where('repository_id', '=', repositoryId)
    .where('number', '=', number)
    .executeTakeFirst();
  if (!v) throw await missingVersion(trx, name, number);
}

export class History {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly repositories = new Repositories(db),
    private readonly settings: CommitSettings = DEFAULT_COMMIT_SETTINGS,
  ) {}

  async versions(name: string): Promise<VersionInfo[]> {
    const id = await this.repositoryId(name);
    const rows = await this.db
      .selectFrom('repository_versions')
      .selectAll()
      .where('repository_id', '=', id)
      .orderBy('number')
      .execute();
    return rows.map((r) => ({
      number: r.number,
      createdAt: iso(r.created_at),
      added: r.added,
      removed: r.removed,
      message: r.message,
    }));
  }

  async version(name: string, number: number): Promise<VersionInfo & { repositoryId: number }> {
    const id = await this.repositoryId(name);
    const r = await this.db
      .selectFrom('repository_versions')
      .selectAll()
      .where('repository_id', '=', id)
      .where('number', '=', number)
      .executeTakeFirst();
    if (!r) throw await missingVersion(this.db, name, number);
    return {
      repositoryId: id,
      number,
      createdAt: iso(r.created_at),
      added: r.added,
      removed: r.removed,
      message: r.message,
    };
  }

  /** The existing version before `number` (numbers have gaps once versions are deleted), if any. */
  async previousVersion(name: string, number: number): Promise<number | undefined> {
    const v = await this.version(name, number);
    const r = await this.db
      .selectFrom('repository_versions')
      .select('number')
      .where('repository_id', '=', v.repositoryId)
      .where('number', '<', number)
      .orderBy('number', 'desc')
      .limit(1)
      .executeTakeFirst();
    return r?.number;
  }

  /** The content units of one version: rows whose range [version_added, version_removed) holds it. */
  async content(name: string, number: number): Promise<VersionContent> {
    const v = await this.version(name, number);
    const rows = await this.db
      .selectFrom('repository_content')
      .select(['kind', 'key', 'value'])
      .where('repository_id', '=', v.repositoryId)
      .where('version_added', '<=', number)
      .where((eb) => eb.or([eb('version_removed', 'is', null), eb('version_removed', '>', number)]))
      .orderBy('kind')
      .orderBy('key')
      .execute();
    return this.describe(rows);
  }

  /** One version: its summary, its content, and its untagged images (see untaggedImages). */
  async show(
    name: string,
    number: number,
  ): Promise<VersionInfo & { content: VersionContent; untagged: VersionContent['manifests'] }> {
    const v = summary(await this.version(name, number));
    const content = await this.content(name, number);
    return { ...v, content, untagged: await untaggedImages(this.db, content) };
  }

  /** The diff from `from` to `to`; by default from the version before `to` (the oldest: against itself). */
  async diffFrom(name: string, to: number, from?: number) {
    const start = from ?? (await this.previousVersion(name, to)) ?? to;
    return { from: start, to, ...(await this.diff(name, start, to)) };
  }

  /** What changed between two versions: units in `to` and not in `from` (added), and the reverse (removed). */
  async diff(
    name: string,
    from: number,
    to: number,
  ): Promise<{ added: VersionContent; removed: VersionContent }> {
    const a = await this.version(name, from);
    await this.version(name, to);
    const inFrom = new Map<string, RangeRow>();
    const inTo = new Map<string, RangeRow>();
    for (const r of await rowsBetween(this.db, a.repositoryId, from, to)) {
      if (holds(r, from)) inFrom.set(unit(r), r);
      if (holds(r, to)) inTo.set(unit(r), r);
    }
    const added = [...inTo].filter(([k]) => !inFrom.has(k)).map(([, r]) => r);
    const removed = [...inFrom].filter(([k]) => !inTo.has(k)).map(([, r]) => r);
    return { added: await this.describe(added), removed: await this.describe(removed) };
  }

  private async repositoryId(name: string): Promise<number> {
    const r = await this.db
      .selectFrom('repositories')
      .select('id')
      .where('name', '=', name)
      .executeTakeFirst();
    if (!r) throw new BerthError('NAME_UNKNOWN', `repository ${name} does not exist`);
    return r.id;
  }

  private async describe(
    rows: { kind: ContentKind; key: string; value: string | null }[],
  ): Promise<VersionContent> {
    const out: VersionContent = { manifests: [], blobs: [], tags: [] };
    const manifestDigests = rows.filter((r) => r.kind === 'manifest').map((r) => r.key);
    const blobDigests = rows.filter((r) => r.kind === 'blob').map((r) => r.key);
    const types = new Map<string, string>();
    const sizes = new Map<string, number>();
    for (let i = 0; i < manifestDigests.length; i += 500) {
      const part = manifestDigests.slice(i, i + 500);
      for (const m of await this.db
        .selectFrom('manifests')
        .select(['digest', 'media_type'])
        .where('digest', 'in', part)
        .execute()) {
        types.set(m.digest, m.media_type);
      }
    }
    for (let i = 0; i < blobDigests.length; i += 500) {
      const part = blobDigests.slice(i, i + 500);
      for (const b of await this.db
        .selectFrom('blobs')
        .select(['digest', 'size'])
        .where('digest', 'in', part)
        .execute()) {
        sizes.set(b.digest, b.size);
      }
    }
    for (const r of rows) {
      if (r.kind === 'manifest')
        out.manifests.push({ digest: r.key, mediaType: types.get(r.key) ?? 'unknown' });
      else if (r.kind === 'blob') out.blobs.push({ digest: r.key, size: sizes.get(r.key) ?? 0 });
      else out.tags.push({ name: r.key, digest: r.value ?? '' });
    }
    const byKey = <T extends { digest?: string; name?: string }>(x: T, y: T) =>
      (x.name ?? x.digest ?? '').localeCompare(y.name ?? y.digest ?? '');
    out.manifests.sort(byKey);
    out.blobs.sort(byKey);
    out.tags.sort(byKey);
    return out;
  }

  /**
   * Deletes version `number`; its changes fold into the next existing version, whose added/removed are then
   * counted against the version before the deleted one (or against nothing when it becomes the oldest).
   * Any version but the latest can be deleted, version 0 included. Content rows keep naming existing versions
   * (except starts below the oldest one): a row that began in the deleted version begins in the next, a row that
   * ended there ends in the next, a row whose range holds no version any more is deleted, and a unit removed in the
   * deleted version and added back in the next one becomes one row again.
   */
  async deleteVersion(name: string, number: number): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      const repo = await lockExisting(trx, name);
      await requireVersion(trx, name, repo.id, number);
      if (number === repo.latest_version) {
        throw new BerthError(
          'PARAMETER_INVALID',
          `version ${number} is the latest version of ${name} and cannot be deleted; restore an older version or add a new one first`,
        );
      }
      const neighbour = (dir: 'prev' | 'next') =>
        trx
          .selectFrom('repository_versions')
          .select('number')
          .where('repository_id', '=', repo.id)
          .where('number', dir === 'prev' ? '<' : '>', number)
          .orderBy('number', dir === 'prev' ? 'desc' : 'asc')
          .limit(1)
          .executeTakeFirst();
      const next = (await neighbour('next'))!.number; // not the latest, so there is a next one
      const prev = await neighbour('prev');
      if (!prev) {
        await dropVersionsBefore(trx, repo.id, next);
        return;
      }
      await this.fold(trx, repo.id, number, next);
    });
  }

  /** Folds version k into the next existing version n (k has a predecessor), in the caller's transaction. */
  private async fold(trx: Transaction<Database>, repositoryId: number, k: number, n: number): Promise<void> {
    const rows = trx.selectFrom('repository_content').where('repository_id', '=', repositoryId);
    // A unit added in k and removed in n is in no remaining version.
    await trx
      .deleteFrom('repository_content')
      .where('repository_id', '=', repositoryId)
      .where('version_added', '=', k)
      .where('version_removed', '=', n)
      .execute();
    // A unit removed in k and added back (with the same value) in n: the two rows become one.
    const endedInK = await rows
      .select(['kind', 'key', 'value', 'version_added'])
      .where('version_removed', '=', k)
      .execute();
    const beganInN = new Map(
      (
        await rows
          .select(['kind', 'key', 'value', 'version_removed'])
          .where('version_added', '=', n)
          .execute()
      ).map((r) => [unit(r), r]),
    );
    await trx
      .updateTable('repository_content')
      .set({ version_removed: n })
      .where('repository_id', '=', repositoryId)
      .where('version_removed', '=', k)
      .execute();
    for (const early of endedInK) {
      const late = beganInN.get(unit(early));
      if (!late) continue;
      await trx
        .deleteFrom('repository_content')
        .where('repository_id', '=', repositoryId)
        .where('kind', '=', late.kind)
        .where('key', '=', late.key)
        .where('version_added', '=', n)
        .execute();
      await trx
        .updateTable('repository_content')
        .set({ version_removed: late.version_removed })
        .where('repository_id', '=', repositoryId)
        .where('kind', '=', early.kind)
        .where('key', '=', early.key)
        .where('version_added', '=', early.version_added)
        .execute();
    }
    await trx
      .updateTable('repository_content')
      .set({ version_added: n })
      .where('repository_id', '=', repositoryId)
      .where('version_added', '=', k)
      .execute();
    await trx
      .deleteFrom('repository_versions')
      .where('repository_id', '=', repositoryId)
      .where('number', '=', k)
      .execute();
    const count = async (column: 'version_added' | 'version_removed') =>
      Number(
        (
          await rows
            .select((eb) => eb.fn.countAll<number>().as('c'))
            .where(column, '=', n)
            .executeTakeFirstOrThrow()
        ).c,
      );
    const added = await count('version_added');
    const removed = await count('version_removed');
    await trx
      .updateTable('repository_versions')
      .set({ added, removed })
      .where('repository_id', '=', repositoryId)
      .where('number', '=', n)
      .execute();
  }

  /** Sets the repository's retention rule and applies it at once (retention.ts); a dry run only reports. */
  async setRetention(
    name: string,
    rule: RetentionRule,
    opts: { dryRun?: boolean } = {},
  ): Promise<RetentionResult> {
    return new Retention(this.db, this.settings.clock, this.repositories).set(name, rule, opts);
  }

  /**
   * Makes a new version whose content equals version `number`'s: what the latest holds and `number` does not is
   * removed, what `number` holds and the latest does not is added (a tag points where it pointed then).
   */
  async restore(name: string, number: number): Promise<VersionInfo> {
    const made = await this.restoreChanges(name, number);
    return summary(await this.version(name, made.number));
  }

  private async restoreChanges(name: string, number: number): Promise<CommittedVersion> {
    const commit = { create: false, settings: this.settings };
    return commitVersion(this.db, name, commit, async ({ trx, repositoryId, number: made }) => {
      await requireVersion(trx, name, repositoryId, number);
      const latest = made - 1;
      const rows = await rowsBetween(trx, repositoryId, number, latest);
      const removes: ContentChange[] = [];
      const adds: ContentChange[] = [];
      for (const r of rows) {
        const inOld = holds(r, number);
        const inLatest = holds(r, latest);
        if (inOld && !inLatest) {
          adds.push(
            r.kind === 'tag'
              ? { op: 'add', kind: 'tag', tag: r.key, digest: r.value ?? '' }
              : { op: 'add', kind: r.kind, digest: r.key },
          );
        } else if (inLatest && !inOld) {
          removes.push({ op: 'remove', kind: r.kind, key: r.key });
        }
      }
      // Removes first: a tag that pointed elsewhere then is added back after its current target is removed.
      return [...removes, ...adds];
    });
  }
}
