// Deleting from a repository as the command line does: a tag, an image (its manifest and every tag on it), or the
// whole repository (a version that empties it and hides it from the listings). Each makes one new version.
import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.js';
import { BerthError } from '../core/errors.js';
import type { Reference } from '../core/references.js';
import {
  commitVersion,
  commitVersionIn,
  DEFAULT_COMMIT_SETTINGS,
  type CommitSettings,
  lockRepository,
  type CommittedVersion,
  type ContentChange,
} from './versions.js';

export class Removals {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly settings: CommitSettings = DEFAULT_COMMIT_SETTINGS,
  ) {}

  /** Removes tag `tag` (the manifest stays): one new version; MANIFEST_UNKNOWN if there is no such tag. */
  async deleteTag(name: string, tag: string): Promise<CommittedVersion> {
    return commitVersion(
      this.db,
      name,
      { create: false, settings: this.settings },
      async ({ trx, repositoryId }) => {
        const found = await trx
          .selectFrom('repository_content')
          .select('key')
          .where('repository_id', '=', repositoryId)
          .where('version_removed', 'is', null)
          .where('kind', '=', 'tag')
          .where('key', '=', tag)
          .executeTakeFirst();
        if (!found) throw new BerthError('MANIFEST_UNKNOWN', `repository ${name} has no tag ${tag}`);
        return [{ op: 'remove', kind: 'tag', key: tag }];
      },
    );
  }

  /**
   * Removes an image: the manifest `ref` names (by digest, or the one a tag points at, read under the repository's
   * lock) and every tag pointing at it, in one new version. Its blobs stay until cleanup finds them unreferenced.
   */
  async deleteImage(
    name: string,
    ref: Reference,
  ): Promise<CommittedVersion & { digest: string; tags: string[] }> {
    let digest = '';
    let tags: string[] = [];
    const v = await commitVersion(
      this.db,
      name,
      { create: false, settings: this.settings },
      async ({ trx, repositoryId }) => {
        const current = trx
          .selectFrom('repository_content')
          .select(['key', 'value'])
          .where('repository_id', '=', repositoryId)
          .where('version_removed', 'is', null);
        if (ref.kind === 'tag') {
          const tag = await current.where('kind', '=', 'tag').where('key', '=', ref.tag).executeTakeFirst();
          if (!tag?.value)
            throw new BerthError('MANIFEST_UNKNOWN', `repository ${name} has no tag ${ref.tag}`);
          digest = tag.value;
        } else {
          digest = ref.digest;
        }
        const m = await current.where('kind', '=', 'manifest').where('key', '=', digest).executeTakeFirst();
        if (!m) throw new BerthError('MANIFEST_UNKNOWN', `repository ${name} has no manifest ${digest}`);
        tags = (
          await current.where('kind', '=', 'tag').where('value', '=', digest).orderBy('key').execute()
        ).map((t) => t.key);
        return [
          { op: 'remove', kind: 'manifest', key: digest },
          ...tags.map((t): ContentChange => ({ op: 'remove', kind: 'tag', key: t })),
        ];
      },
    );
    return { ...v, digest, tags };
  }

  /**
   * Deletes a repository: one new version that holds nothing, recorded as its deletion, so that the catalog and
   * the listing leave it out. Its history stays (versions, restore) until retention drops it; the next version
   * made (a push, an upload, a restore) brings it back. A repository deleted already is NAME_UNKNOWN.
   */
  async deleteRepository(name: string): Promise<CommittedVersion> {
    return this.db.transaction().execute(async (trx) => {
      // under the repository's row lock (the one commitVersion takes): whether it is deleted already
      const locked = await lockRepository(trx, name);
      if (!locked) throw new BerthError('NAME_UNKNOWN', `repository ${name} does not exist`);
      const { deleted_version: deleted } = await trx
        .selectFrom('repositories')
        .select('deleted_version')
        .where('id', '=', locked.id)
        .executeTakeFirstOrThrow();
      if (deleted !== null) {
        throw new BerthError(
          'NAME_UNKNOWN',
          `repository ${name} was deleted in version ${deleted}; its history is kept (berth repo versions, berth version restore)`,
        );
      }
      return commitVersionIn(
        trx,
        name,
        { create: false, settings: this.settings },
        async ({ repositoryId, number }) => {
          const rows = await trx
            .selectFrom('repository_content')
            .select(['kind', 'key'])
            .where('repository_id', '=', repositoryId)
            .where('version_removed', 'is', null)
            .execute();
          // after commitVersionIn cleared it: this version is the deletion
          await trx
            .updateTable('repositories')
            .set({ deleted_version: number })
            .where('id', '=', repositoryId)
            .execute();
          return rows.map((r): ContentChange => ({ op: 'remove', kind: r.kind, key: r.key }));
        },
      );
    });
  }
}
