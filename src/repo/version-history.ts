// Rewriting a repository's history: delete a version (folding it into the next), retention, restore as a new version.
import type { Kysely, Transaction } from 'kysely';
import type { ContentKind, Database } from '../db/schema.js';
import { BerthError } from '../core/errors.js';
import { applyRetention, dropVersionsBefore } from './retention.js';
import { commitVersion, lockRepository, type CommittedVersion, type ContentChange } from './versions.js';

interface LockedRepository {
  id: number;
  latest_version: number;
  retain_versions: number | null;
}

/** Takes the repository's row lock (the one commitVersion takes), so history changes and commits serialize. */
async function lockExisting(
  trx: Transaction<Database>,
  name: string,
  set: { retain_versions?: number | null } = {},
): Promise<LockedRepository> {
  const repo = await lockRepository(trx, name, set);
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
  if (!v) throw new BerthError('VERSION_UNKNOWN', `repository ${name} has no version ${number}`);
}

type Row = { kind: ContentKind; key: string; value: string | null };
const unit = (r: Row): string => `${r.kind}\u0000${r.key}\u0000${r.value ?? ''}`;

export class VersionHistory {
  constructor(private readonly db: Kysely<Database>) {}

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

  /** Sets how many of the latest versions the repository keeps (null: all) and applies it at once. */
  async setRetention(name: string, keep: number | null): Promise<void> {
    if (keep !== null && (!Number.isInteger(keep) || keep < 1)) {
      throw new BerthError('PARAMETER_INVALID', `retainVersions must be an integer of at least 1, or null`);
    }
    await this.db.transaction().execute(async (trx) => {
      const repo = await lockExisting(trx, name, { retain_versions: keep });
      if (keep !== null) await applyRetention(trx, repo.id, keep);
    });
  }

  /**
   * Makes a new version whose content equals version `number`'s: what the latest holds and `number` does not is
   * removed, what `number` holds and the latest does not is added (a tag points where it pointed then).
   */
  async restore(name: string, number: number): Promise<CommittedVersion> {
    return commitVersion(this.db, name, { create: false }, async ({ trx, repositoryId, number: made }) => {
      await requireVersion(trx, name, repositoryId, number);
      const latest = made - 1;
      const lo = Math.min(number, latest);
      const hi = Math.max(number, latest);
      // Only rows whose range starts or ends between the two versions can differ.
      const rows = await trx
        .selectFrom('repository_content')
        .select(['kind', 'key', 'value', 'version_added', 'version_removed'])
        .where('repository_id', '=', repositoryId)
        .where((eb) =>
          eb.or([
            eb.and([eb('version_added', '>', lo), eb('version_added', '<=', hi)]),
            eb.and([eb('version_removed', '>', lo), eb('version_removed', '<=', hi)]),
          ]),
        )
        .execute();
      const holds = (r: (typeof rows)[number], v: number) =>
        r.version_added <= v && (r.version_removed === null || r.version_removed > v);
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
