// Repository versions on every database backend: a commit whose build throws leaves nothing behind.
import { describe, expect, it } from 'vitest';
import { sha256 } from '../../../src/core/digest.js';
import { BerthError } from '../../../src/core/errors.js';
import { recordBlobs, recordManifest } from '../../../src/repo/catalogue.js';
import { backends, type Backend } from '../../helpers/backend.js';
import { blobDigest, makeImage, versionsFixture } from './fixture.js';

describe.each(backends())('repository versions on %s', (backend: Backend) => {
  const t = versionsFixture('versions_rollback', backend);
  const { commit, repositoryRow, contentRows, count } = t;

  describe('rollback', () => {
    it('a build that throws leaves no version, no content, no records, and latest_version unchanged', async () => {
      const name = 'rollback/existing';
      await commit(name, [{ op: 'add', kind: 'blob', digest: blobDigest('before') }], true);
      const rowsBefore = await contentRows(name);
      const img = makeImage('rollback-existing');
      const failure = new Error('build failed on purpose');
      await expect(
        commit(name, async ({ trx, number, repositoryId }) => {
          expect(number).toBe(2);
          await recordBlobs(trx, [{ digest: sha256(img.config), size: img.config.length }]);
          await recordManifest(trx, {
            digest: img.digest,
            size: img.manifest.length,
            parsed: img.parsed,
            diffIds: img.diffIds,
          });
          // content rows written directly, as a build could
          await trx
            .insertInto('repository_content')
            .values({
              repository_id: repositoryId,
              kind: 'tag',
              key: 'partial',
              value: img.digest,
              version_added: number,
              version_removed: null,
            })
            .execute();
          throw failure;
        }),
      ).rejects.toBe(failure);
      expect((await repositoryRow(name))?.latest_version).toBe(1);
      expect((await t.history.versions(name)).map((v) => v.number)).toEqual([0, 1]);
      expect(await contentRows(name)).toEqual(rowsBefore);
      expect(await count('blobs', 'digest', sha256(img.config))).toBe(0);
      expect(await count('manifests', 'digest', img.digest)).toBe(0);
      expect(await count('manifest_references', 'manifest_digest', img.digest)).toBe(0);
      expect(await count('layer_diff_ids', 'blob_digest', sha256(img.layers[0]!))).toBe(0);
      // the number was not used up
      expect((await commit(name, [])).number).toBe(2);
    });

    it('a build that throws while creating leaves no repository at all', async () => {
      const name = 'rollback/new';
      const failure = new BerthError('BLOB_UNKNOWN', 'missing blobs');
      await expect(
        commit(
          name,
          async ({ trx }) => {
            await recordBlobs(trx, [{ digest: blobDigest('rollback-new'), size: 3 }]);
            throw failure;
          },
          true,
        ),
      ).rejects.toBe(failure);
      expect(await repositoryRow(name)).toBeUndefined();
      expect(await t.repos.find(name)).toBeUndefined();
      expect(await count('blobs', 'digest', blobDigest('rollback-new'))).toBe(0);
      const orphanVersions = await t.db.kysely
        .selectFrom('repository_versions')
        .leftJoin('repositories', 'repositories.id', 'repository_versions.repository_id')
        .select('repository_versions.number')
        .where('repositories.id', 'is', null)
        .execute();
      expect(orphanVersions).toEqual([]);
      // and the name can be created afterwards, starting at 0 and 1
      await commit(name, [], true);
      expect((await t.history.versions(name)).map((v) => v.number)).toEqual([0, 1]);
    });
  });
});
