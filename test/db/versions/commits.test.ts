// Repository versions on every database backend: creating a repository, and what each commit adds, ends and counts.
import { describe, expect, it } from 'vitest';
import { backends, type Backend } from '../../helpers/backend.js';
import { blobDigest, manifestDigest, rejection, versionsFixture } from './fixture.js';

describe.each(backends())('repository versions on %s', (backend: Backend) => {
  const t = versionsFixture('versions_commits', backend);
  const { commit, repositoryRow, contentRows } = t;

  describe('creating a repository', () => {
    it('makes an empty version 0 and puts the first changes in version 1', async () => {
      const name = 'create/first';
      const v = await commit(name, [{ op: 'add', kind: 'blob', digest: blobDigest('c1') }], true);
      expect(v).toMatchObject({ number: 1, added: 1, removed: 0 });
      const versions = await t.history.versions(name);
      expect(versions.map((x) => [x.number, x.added, x.removed])).toEqual([
        [0, 0, 0],
        [1, 1, 0],
      ]);
      expect(await t.history.content(name, 0)).toEqual({ manifests: [], blobs: [], tags: [] });
      expect((await t.history.content(name, 1)).blobs.map((b) => b.digest)).toEqual([blobDigest('c1')]);
      expect((await t.repos.get(name)).info.latestVersion).toBe(1);
    });

    it('makes version 0 and an empty version 1 when created with no changes', async () => {
      const name = 'create/empty';
      const v = await commit(name, [], true);
      expect(v).toMatchObject({ number: 1, added: 0, removed: 0 });
      expect((await t.history.versions(name)).map((x) => x.number)).toEqual([0, 1]);
      expect(await t.history.content(name, 0)).toEqual({ manifests: [], blobs: [], tags: [] });
      expect(await t.history.content(name, 1)).toEqual({ manifests: [], blobs: [], tags: [] });
    });

    it('with create:true on an existing repository, just adds a version', async () => {
      const name = 'create/again';
      await commit(name, [], true);
      const v = await commit(name, [{ op: 'add', kind: 'blob', digest: blobDigest('again') }], true);
      expect(v.number).toBe(2);
      expect((await t.history.versions(name)).map((x) => x.number)).toEqual([0, 1, 2]);
    });

    it('without create, refuses an unknown repository with NAME_UNKNOWN and creates nothing', async () => {
      const e = await rejection(
        commit('create/missing', [{ op: 'add', kind: 'blob', digest: blobDigest('m') }]),
      );
      expect(e.code).toBe('NAME_UNKNOWN');
      expect(e.message).toContain('create/missing');
      expect(await repositoryRow('create/missing')).toBeUndefined();
    });
  });

  describe('commits', () => {
    it('each commit makes exactly version N+1 with the added and removed counts', async () => {
      const name = 'commits/counts';
      await commit(name, [], true);
      const a = blobDigest('a');
      const b = blobDigest('b');
      const c = blobDigest('c');
      const v2 = await commit(name, [
        { op: 'add', kind: 'blob', digest: a },
        { op: 'add', kind: 'blob', digest: b },
        { op: 'add', kind: 'blob', digest: c },
      ]);
      expect(v2).toMatchObject({ number: 2, added: 3, removed: 0 });
      const v3 = await commit(name, [
        { op: 'remove', kind: 'blob', key: a },
        { op: 'remove', kind: 'blob', key: b },
        { op: 'add', kind: 'manifest', digest: manifestDigest('m') },
      ]);
      expect(v3).toMatchObject({ number: 3, added: 1, removed: 2 });
      const versions = await t.history.versions(name);
      expect(versions.map((x) => ({ number: x.number, added: x.added, removed: x.removed }))).toEqual([
        { number: 0, added: 0, removed: 0 },
        { number: 1, added: 0, removed: 0 },
        { number: 2, added: 3, removed: 0 },
        { number: 3, added: 1, removed: 2 },
      ]);
      expect((await t.repos.get(name)).info.latestVersion).toBe(3);
      for (const v of versions) expect(new Date(v.createdAt).getTime()).not.toBeNaN();
    });

    it('adding a unit already present adds no row but still makes a new version', async () => {
      const name = 'commits/noop';
      const d = blobDigest('present');
      await commit(name, [{ op: 'add', kind: 'blob', digest: d }], true);
      const again = await commit(name, [{ op: 'add', kind: 'blob', digest: d }]);
      expect(again).toMatchObject({ number: 2, added: 0, removed: 0 });
      const rows = await contentRows(name);
      expect(rows).toHaveLength(1);
      expect(rows[0]).toMatchObject({ kind: 'blob', key: d, version_added: 1, version_removed: null });
      expect(await t.history.content(name, 2)).toEqual(await t.history.content(name, 1));
      expect((await t.history.versions(name)).map((x) => x.number)).toEqual([0, 1, 2]);
    });

    it('retagging a tag to the digest it already names is a no-op in content', async () => {
      const name = 'commits/retag';
      const m = manifestDigest('same');
      await commit(name, [{ op: 'add', kind: 'tag', tag: 'latest', digest: m }], true);
      const v = await commit(name, [{ op: 'add', kind: 'tag', tag: 'latest', digest: m }]);
      expect(v).toMatchObject({ number: 2, added: 0, removed: 0 });
      expect(await contentRows(name)).toHaveLength(1);
    });

    it('the same unit twice in one commit is one row; the later change to a unit wins', async () => {
      const name = 'commits/twice';
      const d = blobDigest('twice');
      const v1 = await commit(
        name,
        [
          { op: 'add', kind: 'blob', digest: d },
          { op: 'add', kind: 'blob', digest: d },
          { op: 'add', kind: 'tag', tag: 't', digest: manifestDigest('first') },
          { op: 'add', kind: 'tag', tag: 't', digest: manifestDigest('second') },
        ],
        true,
      );
      expect(v1).toMatchObject({ added: 2, removed: 0 });
      const c1 = await t.history.content(name, 1);
      expect(c1.blobs.map((b) => b.digest)).toEqual([d]);
      expect(c1.tags).toEqual([{ name: 't', digest: manifestDigest('second') }]);
      const v2 = await commit(name, [
        { op: 'remove', kind: 'blob', key: d },
        { op: 'add', kind: 'blob', digest: d },
      ]);
      expect(v2).toMatchObject({ added: 0, removed: 0 });
      expect(await contentRows(name)).toHaveLength(2);
    });

    it('moving a tag ends the old row and adds a new one', async () => {
      const name = 'commits/move';
      const m1 = manifestDigest('one');
      const m2 = manifestDigest('two');
      await commit(name, [{ op: 'add', kind: 'tag', tag: 'latest', digest: m1 }], true);
      const v2 = await commit(name, [{ op: 'add', kind: 'tag', tag: 'latest', digest: m2 }]);
      expect(v2).toMatchObject({ number: 2, added: 1, removed: 1 });
      const rows = await contentRows(name);
      expect(rows).toHaveLength(2);
      expect(rows[0]).toMatchObject({
        kind: 'tag',
        key: 'latest',
        value: m1,
        version_added: 1,
        version_removed: 2,
      });
      expect(rows[1]).toMatchObject({
        kind: 'tag',
        key: 'latest',
        value: m2,
        version_added: 2,
        version_removed: null,
      });
      expect((await t.history.content(name, 1)).tags).toEqual([{ name: 'latest', digest: m1 }]);
      expect((await t.history.content(name, 2)).tags).toEqual([{ name: 'latest', digest: m2 }]);
    });

    it('removing ends the unit at the new version; removing what is absent removes nothing', async () => {
      const name = 'commits/remove';
      const d = blobDigest('gone');
      await commit(
        name,
        [
          { op: 'add', kind: 'blob', digest: d },
          { op: 'add', kind: 'tag', tag: 'x', digest: manifestDigest('x') },
        ],
        true,
      );
      const v2 = await commit(name, [
        { op: 'remove', kind: 'blob', key: d },
        { op: 'remove', kind: 'tag', key: 'x' },
      ]);
      expect(v2).toMatchObject({ number: 2, added: 0, removed: 2 });
      const rows = await contentRows(name);
      expect(rows.every((r) => r.version_removed === 2)).toBe(true);
      expect(await t.history.content(name, 2)).toEqual({ manifests: [], blobs: [], tags: [] });
      const v3 = await commit(name, [
        { op: 'remove', kind: 'blob', key: d },
        { op: 'remove', kind: 'manifest', key: manifestDigest('never') },
      ]);
      expect(v3).toMatchObject({ number: 3, added: 0, removed: 0 });
      expect(await contentRows(name)).toHaveLength(2);
    });

    it('a removed unit added again gets a new row and is in the versions of both ranges only', async () => {
      const name = 'commits/readd';
      const d = blobDigest('back');
      await commit(name, [{ op: 'add', kind: 'blob', digest: d }], true); // 1
      await commit(name, [{ op: 'remove', kind: 'blob', key: d }]); // 2
      await commit(name, [{ op: 'add', kind: 'blob', digest: d }]); // 3
      const rows = await contentRows(name);
      expect(rows.map((r) => [r.version_added, r.version_removed])).toEqual([
        [1, 2],
        [3, null],
      ]);
      const has = async (v: number) => (await t.history.content(name, v)).blobs.some((b) => b.digest === d);
      expect([await has(0), await has(1), await has(2), await has(3)]).toEqual([false, true, false, true]);
    });
  });
});
