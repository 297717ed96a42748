// Deleting versions, retention and restore on every database backend, checked against an in-memory model of the history.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BerthError } from '../../src/core/errors.js';
import { openDatabase, type Db } from '../../src/db/connect.js';
import { Repositories } from '../../src/repo/repositories.js';
import { History, type VersionContent } from '../../src/repo/history.js';
import { commitVersion, type ContentChange } from '../../src/repo/versions.js';
import { backends, removeTestDatabase, testDatabaseUrl } from '../helpers/backend.js';

/** A version's content in the model: unit key ("blob\0digest", "tag\0name") → value (a tag's digest, else ''). */
type Units = Map<string, string>;

interface Model {
  versions: Map<number, Units>;
  latest: number;
  retain: number | null;
}

/** The rule of today's `berth repo retain NAME N`: the latest N versions, no age rule (null: keep all). */
const keepLatest = (versions: number | null) => ({ versions, days: null });
const BLOBS = ['sha256:b0', 'sha256:b1', 'sha256:b2', 'sha256:b3', 'sha256:b4'];
const MANIFESTS = ['sha256:m0', 'sha256:m1', 'sha256:m2'];
const TAGS = ['t0', 't1', 't2'];

/** A small deterministic PRNG, so a failing sequence can be replayed from its seed. */
function prng(seed: number): (n: number) => number {
  let s = seed >>> 0;
  return (n) => {
    s = (Math.imul(s ^ (s >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0;
    s = (s ^ (s >>> 13)) >>> 0;
    return s % n;
  };
}

function randomChanges(r: (n: number) => number): ContentChange[] {
  const changes: ContentChange[] = [];
  for (let i = 0, n = 1 + r(4); i < n; i++) {
    const pick = r(6);
    if (pick === 0) changes.push({ op: 'add', kind: 'blob', digest: BLOBS[r(BLOBS.length)]! });
    else if (pick === 1)
      changes.push({ op: 'add', kind: 'manifest', digest: MANIFESTS[r(MANIFESTS.length)]! });
    else if (pick === 2)
      changes.push({
        op: 'add',
        kind: 'tag',
        tag: TAGS[r(TAGS.length)]!,
        digest: MANIFESTS[r(MANIFESTS.length)]!,
      });
    else if (pick === 3) changes.push({ op: 'remove', kind: 'blob', key: BLOBS[r(BLOBS.length)]! });
    else if (pick === 4)
      changes.push({ op: 'remove', kind: 'manifest', key: MANIFESTS[r(MANIFESTS.length)]! });
    else changes.push({ op: 'remove', kind: 'tag', key: TAGS[r(TAGS.length)]! });
  }
  return changes;
}

/** What applying `changes` to `units` gives: later changes to the same unit win, as in commitVersion. */
function applyModel(units: Units, changes: ContentChange[]): Units {
  const out = new Map(units);
  for (const c of changes) {
    if (c.op === 'remove') out.delete(`${c.kind}\u0000${c.key}`);
    else if (c.kind === 'tag') out.set(`tag\u0000${c.tag}`, c.digest);
    else out.set(`${c.kind}\u0000${c.digest}`, '');
  }
  return out;
}

function retainModel(m: Model): void {
  if (m.retain === null) return;
  const numbers = [...m.versions.keys()].sort((a, b) => b - a);
  for (const n of numbers.slice(m.retain)) m.versions.delete(n);
}

const asContent = (units: Units): VersionContent => {
  const out: VersionContent = { manifests: [], blobs: [], tags: [] };
  for (const [k, value] of [...units].sort(([a], [b]) => a.localeCompare(b))) {
    const [kind, key] = k.split('\u0000') as [string, string];
    if (kind === 'manifest') out.manifests.push({ digest: key, mediaType: 'unknown' });
    else if (kind === 'blob') out.blobs.push({ digest: key, size: 0 });
    else out.tags.push({ name: key, digest: value });
  }
  return out;
};

/** Units of `a` not in `b` (a tag pointing elsewhere is a different unit). */
const minus = (a: Units, b: Units): Units => new Map([...a].filter(([k, v]) => b.get(k) !== v));

/** Every unit as a run of consecutive existing versions holding it with one value: the rows there should be. */
function expectedRows(m: Model): number {
  const numbers = [...m.versions.keys()].sort((a, b) => a - b);
  let rows = 0;
  numbers.forEach((n, i) => {
    const prev = i > 0 ? m.versions.get(numbers[i - 1]!)! : new Map<string, string>();
    rows += minus(m.versions.get(n)!, prev).size;
  });
  return rows;
}

async function errorOf(p: Promise<unknown>): Promise<BerthError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof BerthError) return e;
    throw e;
  }
  throw new Error('expected a BerthError');
}

describe.each(backends())('version history on %s', (backend) => {
  let url: string;
  let db: Db;
  let repos: Repositories;
  let history: History;

  beforeAll(async () => {
    url = await testDatabaseUrl('version-history', backend);
    db = await openDatabase(url, { poolSize: 12 });
    repos = new Repositories(db.kysely);
    history = new History(db.kysely);
  });
  afterAll(async () => {
    await db?.close();
    if (url) await removeTestDatabase(url);
  });

  const commit = (name: string, changes: ContentChange[], create = false) =>
    commitVersion(db.kysely, name, { create }, async () => changes);

  async function newRepository(name: string): Promise<Model> {
    await commit(name, [], true); // version 0 (empty) and version 1 (no changes)
    return {
      versions: new Map([
        [0, new Map()],
        [1, new Map()],
      ]),
      latest: 1,
      retain: null,
    };
  }

  async function rowCount(name: string): Promise<number> {
    const { id } = await repos.get(name);
    const r = await db.kysely
      .selectFrom('repository_content')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('repository_id', '=', id)
      .executeTakeFirstOrThrow();
    return Number(r.n);
  }

  /** Every remaining version's list entry, counts, content, and diffs against the model; the rows are the runs. */
  async function check(name: string, m: Model, label: string): Promise<void> {
    const numbers = [...m.versions.keys()].sort((a, b) => a - b);
    const listed = await history.versions(name);
    expect(
      listed.map((v) => v.number),
      label,
    ).toEqual(numbers);
    expect((await repos.get(name)).info.latestVersion, label).toBe(m.latest);
    for (const [i, n] of numbers.entries()) {
      const units = m.versions.get(n)!;
      const prev = i > 0 ? m.versions.get(numbers[i - 1]!)! : new Map<string, string>();
      expect(await history.content(name, n), `${label}: content of ${n}`).toEqual(asContent(units));
      expect(listed[i], `${label}: counts of ${n}`).toMatchObject({
        added: minus(units, prev).size,
        removed: minus(prev, units).size,
      });
      expect(await history.previousVersion(name, n), label).toBe(i > 0 ? numbers[i - 1] : undefined);
    }
    for (const a of numbers) {
      for (const b of numbers) {
        const d = await history.diff(name, a, b);
        const ua = m.versions.get(a)!;
        const ub = m.versions.get(b)!;
        expect(d, `${label}: diff ${a}→${b}`).toEqual({
          added: asContent(minus(ub, ua)),
          removed: asContent(minus(ua, ub)),
        });
      }
    }
    expect(await rowCount(name), `${label}: rows`).toBe(expectedRows(m));
  }

  it.each([1, 2, 3, 4])(
    'random commits, deletes, retention changes and restores keep every version right (seed %i)',
    async (seed) => {
      const r = prng(seed * 7919);
      const name = `random/s${seed}`;
      const m = await newRepository(name);
      await check(name, m, 'start');
      for (let step = 0; step < 30; step++) {
        const op = r(10);
        const existing = [...m.versions.keys()].sort((a, b) => a - b);
        const label = `seed ${seed} step ${step}`;
        if (op < 4) {
          const changes = randomChanges(r);
          const v = await commit(name, changes);
          m.latest += 1;
          expect(v.number).toBe(m.latest);
          m.versions.set(
            m.latest,
            applyModel(m.versions.get(m.latest - 1) ?? m.versions.get(existing.at(-1)!)!, changes),
          );
          retainModel(m);
          await check(name, m, `${label}: commit`);
        } else if (op < 7) {
          const k = existing[r(existing.length)]!;
          if (k === m.latest) {
            const e = await errorOf(history.deleteVersion(name, k));
            expect(e.code).toBe('PARAMETER_INVALID');
            expect(e.message).toMatch(/latest/);
          } else {
            await history.deleteVersion(name, k);
            m.versions.delete(k);
          }
          await check(name, m, `${label}: delete ${k}`);
        } else if (op < 8) {
          m.retain = r(3) === 0 ? null : 1 + r(4);
          await history.setRetention(name, keepLatest(m.retain));
          retainModel(m);
          expect((await repos.get(name)).info.retainVersions).toBe(m.retain);
          await check(name, m, `${label}: retain ${m.retain}`);
        } else {
          const n = existing[r(existing.length)]!;
          const v = await history.restore(name, n);
          m.latest += 1;
          expect(v.number).toBe(m.latest);
          m.versions.set(m.latest, new Map(m.versions.get(n)!));
          retainModel(m);
          expect(await history.content(name, m.latest)).toEqual(
            await history.content(name, n).catch(() => asContent(m.versions.get(m.latest)!)),
          );
          await check(name, m, `${label}: restore ${n}`);
        }
      }
    },
    120_000,
  );

  it('refuses to delete the latest version, an unknown version, or a version of an unknown repository', async () => {
    const m = await newRepository('refuse/app');
    await commit('refuse/app', [{ op: 'add', kind: 'blob', digest: BLOBS[0]! }]);
    m.latest = 2;
    m.versions.set(2, new Map([[`blob\u0000${BLOBS[0]}`, '']]));
    const latest = await errorOf(history.deleteVersion('refuse/app', 2));
    expect(latest.code).toBe('PARAMETER_INVALID');
    expect(latest.status).toBe(400);
    expect(latest.message).toContain('version 2 is the latest version of refuse/app');
    expect((await errorOf(history.deleteVersion('refuse/app', 9))).code).toBe('VERSION_UNKNOWN');
    expect((await errorOf(history.deleteVersion('no/such', 0))).code).toBe('NAME_UNKNOWN');
    expect((await errorOf(history.restore('refuse/app', 9))).code).toBe('VERSION_UNKNOWN');
    expect((await errorOf(history.setRetention('no/such', keepLatest(2)))).code).toBe('NAME_UNKNOWN');
    expect((await errorOf(history.setRetention('refuse/app', keepLatest(0)))).code).toBe('PARAMETER_INVALID');
    await check('refuse/app', m, 'after refusals'); // nothing changed, and no version was made
  });

  it('deletes version 0 like any other older version', async () => {
    const m = await newRepository('zero/app');
    await commit('zero/app', [{ op: 'add', kind: 'blob', digest: BLOBS[1]! }]);
    m.latest = 2;
    m.versions.set(2, new Map([[`blob\u0000${BLOBS[1]}`, '']]));
    await history.deleteVersion('zero/app', 0);
    m.versions.delete(0);
    await check('zero/app', m, 'without 0');
    expect((await errorOf(history.content('zero/app', 0))).code).toBe('VERSION_UNKNOWN');
  });

  it('retention keeps exactly the latest N, deletes the rows no kept version needs, and applies to new commits', async () => {
    const name = 'retain/app';
    const m = await newRepository(name);
    // versions 2..7: each adds a blob of its own and removes the previous one, so every old row dies with its version
    for (let i = 0; i < 6; i++) {
      const changes: ContentChange[] = [
        { op: 'add', kind: 'blob', digest: `sha256:own${i}` },
        ...(i > 0 ? [{ op: 'remove' as const, kind: 'blob' as const, key: `sha256:own${i - 1}` }] : []),
        { op: 'add', kind: 'tag', tag: 'latest', digest: `sha256:m${i}` },
      ];
      await commit(name, changes);
      m.latest += 1;
      m.versions.set(m.latest, applyModel(m.versions.get(m.latest - 1)!, changes));
    }
    expect(await rowCount(name)).toBe(12); // own0..own5 and latest→m0..m5
    await history.setRetention(name, keepLatest(2));
    m.retain = 2;
    retainModel(m);
    expect([...m.versions.keys()]).toEqual([6, 7]);
    await check(name, m, 'retain 2');
    expect(await rowCount(name)).toBe(4); // own4, own5, latest→m4, latest→m5
    await commit(name, [{ op: 'remove', kind: 'blob', key: 'sha256:own5' }]);
    m.latest = 8;
    m.versions.set(8, applyModel(m.versions.get(7)!, [{ op: 'remove', kind: 'blob', key: 'sha256:own5' }]));
    retainModel(m);
    expect((await history.versions(name)).map((v) => v.number)).toEqual([7, 8]);
    await check(name, m, 'commit under retain 2');
    expect(await rowCount(name)).toBe(2); // own5 (in 7), latest→m5
    expect((await history.versions(name))[0]).toMatchObject({ number: 7, added: 2, removed: 0 });
    await history.setRetention(name, keepLatest(null));
    await commit(name, []);
    expect((await history.versions(name)).map((v) => v.number)).toEqual([7, 8, 9]);
  });

  it("restore makes a new version with exactly the old version's content", async () => {
    const name = 'restore/app';
    await commit(name, [], true);
    await commit(name, [
      { op: 'add', kind: 'blob', digest: BLOBS[0]! },
      { op: 'add', kind: 'manifest', digest: MANIFESTS[0]! },
      { op: 'add', kind: 'tag', tag: 'v1', digest: MANIFESTS[0]! },
    ]); // 2
    await commit(name, [
      { op: 'remove', kind: 'blob', key: BLOBS[0]! },
      { op: 'add', kind: 'blob', digest: BLOBS[1]! },
      { op: 'add', kind: 'manifest', digest: MANIFESTS[1]! },
      { op: 'add', kind: 'tag', tag: 'v1', digest: MANIFESTS[1]! },
      { op: 'add', kind: 'tag', tag: 'v2', digest: MANIFESTS[1]! },
    ]); // 3
    const v = await history.restore(name, 2);
    expect(v).toMatchObject({ number: 4, added: 2, removed: 4 }); // +b0 +v1→m0; -b1 -m1 -v1→m1 -v2
    expect(await history.content(name, 4)).toEqual(await history.content(name, 2));
    expect((await history.diff(name, 2, 4)).added).toEqual({ manifests: [], blobs: [], tags: [] });
  });

  it('restores, deletes and retention changes concurrent with commits keep every invariant', async () => {
    const name = 'concurrent/app';
    await commit(name, [], true);
    /** content of a version as read while it existed: a version's content never changes */
    const seen = new Map<number, VersionContent>([[0, asContent(new Map())]]);
    const remember = async (n: number) => {
      const c = await history.content(name, n).catch((e: unknown) => {
        if (e instanceof BerthError && e.code === 'VERSION_UNKNOWN') return undefined;
        throw e;
      });
      if (c) seen.set(n, c);
    };
    await remember(1);
    const restored: { from: number; made: number }[] = [];
    const tolerated = new Set(['VERSION_UNKNOWN', 'PARAMETER_INVALID']);
    const worker = async (seed: number) => {
      const r = prng(seed);
      for (let i = 0; i < 15; i++) {
        const op = r(10);
        try {
          if (op < 5) {
            const v = await commit(name, randomChanges(r));
            await remember(v.number);
          } else if (op < 7) {
            const list = await history.versions(name);
            await history.deleteVersion(name, list[r(list.length)]!.number);
          } else if (op < 8) {
            await history.setRetention(name, keepLatest(r(2) === 0 ? null : 3 + r(4)));
          } else {
            const list = await history.versions(name);
            const from = list[r(list.length)]!.number;
            const v = await history.restore(name, from);
            restored.push({ from, made: v.number });
            await remember(v.number);
          }
        } catch (e) {
          if (!(e instanceof BerthError && tolerated.has(e.code))) throw e;
        }
      }
    };
    await Promise.all([1, 2, 3, 4, 5, 6].map((s) => worker(s * 104729)));

    const list = await history.versions(name);
    const numbers = list.map((v) => v.number);
    expect(numbers.at(-1)).toBe((await repos.get(name)).info.latestVersion);
    const contents = new Map<number, VersionContent>();
    for (const n of numbers) contents.set(n, await history.content(name, n));
    // every version still holds what it held when it was made
    for (const n of numbers) if (seen.has(n)) expect(contents.get(n), `version ${n}`).toEqual(seen.get(n));
    // a restore made exactly the content of the version it restored
    for (const { from, made } of restored) {
      if (seen.has(from) && contents.has(made))
        expect(contents.get(made), `restore ${from}→${made}`).toEqual(seen.get(from));
    }
    // the counts, the diffs and the rows agree with the contents
    const units = (c: VersionContent): Units =>
      new Map([
        ...c.blobs.map((b) => [`blob\u0000${b.digest}`, ''] as const),
        ...c.manifests.map((x) => [`manifest\u0000${x.digest}`, ''] as const),
        ...c.tags.map((t) => [`tag\u0000${t.name}`, t.digest] as const),
      ]);
    const m: Model = { versions: new Map(), latest: numbers.at(-1)!, retain: null };
    for (const n of numbers) m.versions.set(n, units(contents.get(n)!));
    await check(name, m, 'after the concurrent run');
  }, 120_000);
});
