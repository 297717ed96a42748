// Repository versions on every database backend: the content of every version, diffs between them, and listings.
import { describe, expect, it } from 'vitest';
import type { Digest } from '../../../src/core/digest.js';
import { MediaTypes } from '../../../src/core/media-types.js';
import type { ContentKind } from '../../../src/db/schema.js';
import { recordBlobs } from '../../../src/repo/catalogue.js';
import type { VersionContent } from '../../../src/repo/history.js';
import type { ContentChange } from '../../../src/repo/versions.js';
import { backends, type Backend } from '../../helpers/backend.js';
import { blobDigest, manifestDigest, rejection, versionsFixture } from './fixture.js';

// ---------------------------------------------------------------------------------------------------------------
// A model of repository content: what every version must hold, computed independently of the database

type Unit = { kind: ContentKind; key: string; value: string | null };
type State = Map<string, Unit>; // kind\0key → unit

const identity = (u: Unit): string => `${u.kind}\u0000${u.key}\u0000${u.value ?? ''}`;

function applyToModel(state: State, changes: ContentChange[]): State {
  const next = new Map(state);
  for (const c of changes) {
    if (c.op === 'remove') next.delete(`${c.kind}\u0000${c.key}`);
    else if (c.kind === 'tag') next.set(`tag\u0000${c.tag}`, { kind: 'tag', key: c.tag, value: c.digest });
    else next.set(`${c.kind}\u0000${c.digest}`, { kind: c.kind, key: c.digest, value: null });
  }
  return next;
}

/** Units in `b` and not in `a`, by identity (a moved tag is a different unit). */
function minus(b: State, a: State): Unit[] {
  const ids = new Set([...a.values()].map(identity));
  return [...b.values()].filter((u) => !ids.has(identity(u)));
}

function asContent(
  units: Iterable<Unit>,
  sizes: Map<string, number>,
  types: Map<string, string>,
): VersionContent {
  const out: VersionContent = { manifests: [], blobs: [], tags: [] };
  for (const u of units) {
    if (u.kind === 'blob') out.blobs.push({ digest: u.key, size: sizes.get(u.key)! });
    else if (u.kind === 'manifest') out.manifests.push({ digest: u.key, mediaType: types.get(u.key)! });
    else out.tags.push({ name: u.key, digest: u.value! });
  }
  return sorted(out);
}

/** Sorts a VersionContent in code-unit order, so that two can be compared whatever order they came in. */
function sorted(c: VersionContent): VersionContent {
  const by =
    <T>(f: (x: T) => string) =>
    (x: T, y: T) =>
      f(x) < f(y) ? -1 : f(x) > f(y) ? 1 : 0;
  return {
    manifests: [...c.manifests].sort(by((m) => m.digest)),
    blobs: [...c.blobs].sort(by((b) => b.digest)),
    tags: [...c.tags].sort(by((t) => t.name)),
  };
}

describe.each(backends())('repository versions on %s', (backend: Backend) => {
  const t = versionsFixture('versions_history', backend);
  const { commit, contentRows } = t;

  describe('history', () => {
    it('content(name, v) of every version and diff(a, b) of every pair match a model of the changes', async () => {
      const name = 'history/model';
      const b = (i: number) => blobDigest(`h${i}`);
      const m = (i: number) => manifestDigest(`h${i}`);
      const sizes = new Map<string, number>();
      const types = new Map<string, string>();
      for (let i = 1; i <= 6; i++) sizes.set(b(i), 100 * i + 7);
      for (let i = 1; i <= 3; i++) types.set(m(i), i === 3 ? MediaTypes.ociIndex : MediaTypes.ociManifest);
      const add = (kind: 'blob' | 'manifest', digest: string): ContentChange => ({ op: 'add', kind, digest });
      const tag = (t: string, digest: string): ContentChange => ({ op: 'add', kind: 'tag', tag: t, digest });
      const remove = (kind: ContentKind, key: string): ContentChange => ({ op: 'remove', kind, key });
      const script: ContentChange[][] = [
        /* 1 */ [add('blob', b(1)), add('blob', b(2)), add('manifest', m(1)), tag('latest', m(1))],
        /* 2 */ [add('blob', b(3)), tag('v1', m(1))],
        /* 3 */ [remove('blob', b(1)), add('manifest', m(2)), tag('latest', m(2))],
        /* 4 */ [add('blob', b(1)), remove('tag', 'v1'), add('blob', b(4))],
        /* 5 */ [add('blob', b(2)), tag('v1', m(2)), tag('latest', m(2))],
        /* 6 */ [
          remove('manifest', m(1)),
          remove('blob', b(2)),
          remove('blob', b(3)),
          add('manifest', m(3)),
          tag('latest', m(3)),
        ],
        /* 7 */ [],
        /* 8 */ [
          remove('blob', b(1)),
          remove('blob', b(4)),
          remove('manifest', m(2)),
          remove('manifest', m(3)),
          remove('tag', 'latest'),
          remove('tag', 'v1'),
        ],
        /* 9 */ [add('blob', b(1)), add('blob', b(5)), add('blob', b(6)), tag('latest', m(1))],
        /* 10 */ [remove('blob', b(6)), tag('latest', m(2)), add('blob', b(6))],
      ];
      const states: State[] = [new Map()];
      await commit(name, [], true); // version 1: empty
      states.push(new Map());
      let expectedRows = 0;
      for (const [i, changes] of script.entries()) {
        const before = states[states.length - 1]!;
        const after = applyToModel(before, changes);
        const v = await commit(name, async ({ trx }) => {
          await recordBlobs(
            trx,
            changes
              .filter(
                (c): c is ContentChange & { op: 'add'; kind: 'blob' } => c.op === 'add' && c.kind === 'blob',
              )
              .map((c) => ({ digest: c.digest as Digest, size: sizes.get(c.digest)! })),
          );
          for (const c of changes) {
            if (c.op !== 'add' || c.kind !== 'manifest') continue;
            await trx
              .insertInto('manifests')
              .values({
                digest: c.digest,
                media_type: types.get(c.digest)!,
                size: 1,
                artifact_type: null,
                subject: null,
                config_digest: null,
                created_at: Date.now(),
              })
              .onConflict((oc) => oc.column('digest').doNothing())
              .execute();
          }
          return changes;
        });
        const added = minus(after, before).length;
        const removed = minus(before, after).length;
        expect(v, `version ${i + 2}`).toMatchObject({ number: i + 2, added, removed });
        expectedRows += added;
        states.push(after);
      }
      // no duplicate rows: one row per unit that entered the repository, and at most one current row per unit
      const rows = await contentRows(name);
      expect(rows).toHaveLength(expectedRows);
      const current = rows.filter((r) => r.version_removed === null).map((r) => `${r.kind}\u0000${r.key}`);
      expect(new Set(current).size).toBe(current.length);

      const latest = states.length - 1;
      expect((await t.repos.get(name)).info.latestVersion).toBe(latest);
      const versions = await t.history.versions(name);
      expect(versions.map((x) => x.number)).toEqual(states.map((_, i) => i));
      for (let v = 0; v <= latest; v++) {
        expect(sorted(await t.history.content(name, v)), `content of version ${v}`).toEqual(
          asContent(states[v]!.values(), sizes, types),
        );
        if (v > 0) {
          expect(versions[v]!.added, `added in ${v}`).toBe(minus(states[v]!, states[v - 1]!).length);
          expect(versions[v]!.removed, `removed in ${v}`).toBe(minus(states[v - 1]!, states[v]!).length);
        }
      }
      for (let from = 0; from <= latest; from++) {
        for (let to = 0; to <= latest; to++) {
          const d = await t.history.diff(name, from, to);
          const what = `diff ${from} → ${to}`;
          expect(sorted(d.added), what).toEqual(asContent(minus(states[to]!, states[from]!), sizes, types));
          expect(sorted(d.removed), what).toEqual(asContent(minus(states[from]!, states[to]!), sizes, types));
        }
      }
    });

    it('diff in both directions swaps added and removed', async () => {
      const name = 'history/diff';
      const keep = blobDigest('keep');
      const drop = blobDigest('drop');
      const fresh = blobDigest('fresh');
      await commit(
        name,
        [
          { op: 'add', kind: 'blob', digest: keep },
          { op: 'add', kind: 'blob', digest: drop },
          { op: 'add', kind: 'tag', tag: 't', digest: manifestDigest('old') },
        ],
        true,
      );
      await commit(name, [
        { op: 'remove', kind: 'blob', key: drop },
        { op: 'add', kind: 'blob', digest: fresh },
        { op: 'add', kind: 'tag', tag: 't', digest: manifestDigest('new') },
      ]);
      const forward = await t.history.diff(name, 1, 2);
      expect(forward.added.blobs.map((x) => x.digest)).toEqual([fresh]);
      expect(forward.removed.blobs.map((x) => x.digest)).toEqual([drop]);
      expect(forward.added.tags).toEqual([{ name: 't', digest: manifestDigest('new') }]);
      expect(forward.removed.tags).toEqual([{ name: 't', digest: manifestDigest('old') }]);
      const backward = await t.history.diff(name, 2, 1);
      expect(backward.added).toEqual(forward.removed);
      expect(backward.removed).toEqual(forward.added);
      const same = await t.history.diff(name, 2, 2);
      expect(same).toEqual({
        added: { manifests: [], blobs: [], tags: [] },
        removed: { manifests: [], blobs: [], tags: [] },
      });
    });

    it('refuses an unknown version or repository', async () => {
      const name = 'history/unknown';
      await commit(name, [], true);
      const e = await rejection(t.history.content(name, 2));
      expect(e.code).toBe('VERSION_UNKNOWN');
      expect(e.message).toContain('2');
      expect((await rejection(t.history.diff(name, 0, 5))).code).toBe('VERSION_UNKNOWN');
      expect((await rejection(t.history.diff(name, 5, 0))).code).toBe('VERSION_UNKNOWN');
      expect((await rejection(t.history.versions('history/none'))).code).toBe('NAME_UNKNOWN');
      expect((await rejection(t.history.version('history/none', 0))).code).toBe('NAME_UNKNOWN');
      expect(await t.repos.find('history/none')).toBeUndefined();
    });

    it('lists repositories in name order, after `last`, at most `n`', async () => {
      for (const n of ['list/c', 'list/a', 'list/b']) await commit(n, [], true);
      const all = (await t.repos.list()).map((r) => r.name).filter((n) => n.startsWith('list/'));
      expect(all).toEqual(['list/a', 'list/b', 'list/c']);
      expect((await t.repos.list({ last: 'list/a', n: 2 })).map((r) => r.name)).toEqual(['list/b', 'list/c']);
      expect((await t.repos.list({ last: 'list/c', n: 1 })).map((r) => r.name)).not.toContain('list/c');
      const info = (await t.repos.get('list/b')).info;
      expect(info).toMatchObject({ name: 'list/b', latestVersion: 1 });
      expect(new Date(info.createdAt).getTime()).not.toBeNaN();
    });
  });
});
