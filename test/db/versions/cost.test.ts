// Repository versions on every database backend: a new version costs the rows of its change, not of the repository.
import type {
  KyselyPlugin,
  PluginTransformQueryArgs,
  PluginTransformResultArgs,
  QueryResult,
  RootOperationNode,
  UnknownRow,
} from 'kysely';
import { describe, expect, it } from 'vitest';
import { commitVersion, type ContentChange } from '../../../src/repo/versions.js';
import { backends, type Backend } from '../../helpers/backend.js';
import { blobDigest, manifestDigest, versionsFixture } from './fixture.js';

// ---------------------------------------------------------------------------------------------------------------
// Counting the SQL statements a piece of work runs

class StatementCounter implements KyselyPlugin {
  count = 0;
  transformQuery(args: PluginTransformQueryArgs): RootOperationNode {
    this.count++;
    return args.node;
  }
  async transformResult(args: PluginTransformResultArgs): Promise<QueryResult<UnknownRow>> {
    return args.result;
  }
}

describe.each(backends())('repository versions on %s', (backend: Backend) => {
  const t = versionsFixture('versions_cost', backend);
  const { commit, repositoryRow, contentRows } = t;

  describe('cost', () => {
    it('a new version touches only the rows of its change, not the rows of the repository', async () => {
      const big = 'cost/big';
      const small = 'cost/small';
      const UNITS = 20_000;
      await commit(big, [], true);
      const bulk = await commit(
        big,
        Array.from({ length: UNITS }, (_, i): ContentChange => ({
          op: 'add',
          kind: 'blob',
          digest: blobDigest(`bulk ${i}`),
        })),
      );
      expect(bulk).toMatchObject({ number: 2, added: UNITS });
      await commit(small, [], true);
      await commit(small, [{ op: 'add', kind: 'blob', digest: blobDigest('small 0') }]);

      const repoId = (await repositoryRow(big))!.id;
      const rowsWith = async (column: 'version_added' | 'version_removed', v: number) =>
        Number(
          (
            await t.db.kysely
              .selectFrom('repository_content')
              .select((eb) => eb.fn.countAll<number>().as('n'))
              .where('repository_id', '=', repoId)
              .where(column, '=', v)
              .executeTakeFirstOrThrow()
          ).n,
        );
      const totalRows = async () => (await contentRows(big)).length;

      // the same single-unit commit, counted in SQL statements, on the big and on the small repository
      const onBig = new StatementCounter();
      const onSmall = new StatementCounter();
      const one = (n: string, counter: StatementCounter, change: ContentChange) =>
        commitVersion(t.db.kysely.withPlugin(counter), n, { create: false }, async () => [change]);

      const added = await one(big, onBig, { op: 'add', kind: 'blob', digest: blobDigest('one more') });
      await one(small, onSmall, { op: 'add', kind: 'blob', digest: blobDigest('one more') });
      expect(added).toMatchObject({ number: 3, added: 1, removed: 0 });
      expect(await rowsWith('version_added', 3)).toBe(1);
      expect(await rowsWith('version_removed', 3)).toBe(0);
      expect(await totalRows()).toBe(UNITS + 1);
      expect(onBig.count).toBeGreaterThan(0);
      expect(onBig.count).toBe(onSmall.count);

      const removedOne = await commit(big, [{ op: 'remove', kind: 'blob', key: blobDigest('bulk 7') }]);
      expect(removedOne).toMatchObject({ number: 4, added: 0, removed: 1 });
      expect(await rowsWith('version_added', 4)).toBe(0);
      expect(await rowsWith('version_removed', 4)).toBe(1);
      expect(await totalRows()).toBe(UNITS + 1);

      const moved = await commit(big, [
        { op: 'add', kind: 'tag', tag: 'latest', digest: manifestDigest('cost') },
      ]);
      expect(moved.number).toBe(5);
      expect(await rowsWith('version_added', 5)).toBe(1);
      expect(await totalRows()).toBe(UNITS + 2);

      // and every version still reads as it was
      expect((await t.history.content(big, 2)).blobs).toHaveLength(UNITS);
      expect((await t.history.content(big, 3)).blobs).toHaveLength(UNITS + 1);
      expect((await t.history.content(big, 4)).blobs).toHaveLength(UNITS);
      const d = await t.history.diff(big, 2, 4);
      expect(d.added.blobs.map((b) => b.digest)).toEqual([blobDigest('one more')]);
      expect(d.removed.blobs.map((b) => b.digest)).toEqual([blobDigest('bulk 7')]);
    });
  });
});
