// Covers repository versions on every database backend: commitVersion, History (versions, content, diff), what a repository holds (Blobs, Manifests, Tags), concurrency and cost.
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import {
  sql,
  type KyselyPlugin,
  type PluginTransformQueryArgs,
  type PluginTransformResultArgs,
  type QueryResult,
  type RootOperationNode,
  type UnknownRow,
} from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256, type Digest } from '../../src/core/digest.js';
import { BerthError } from '../../src/core/errors.js';
import {
  configDiffIds,
  parseManifest,
  requiredBlobs,
  type ParsedManifest,
} from '../../src/core/manifests.js';
import { MediaTypes } from '../../src/core/media-types.js';
import { openDatabase, type Db } from '../../src/db/connect.js';
import type { ContentKind } from '../../src/db/schema.js';
import { promote, receive } from '../../src/repo/blobs.js';
import { Blobs } from '../../src/repo/blob-service.js';
import { recordBlobs, recordManifest } from '../../src/repo/catalogue.js';
import { blobSize } from '../../src/repo/held.js';
import { History, type VersionContent } from '../../src/repo/history.js';
import { Manifests } from '../../src/repo/manifests.js';
import { Repositories } from '../../src/repo/repositories.js';
import { Tags } from '../../src/repo/tags.js';
import {
  commitVersion,
  type CommittedVersion,
  type ContentChange,
  type VersionContext,
} from '../../src/repo/versions.js';
import { Keys } from '../../src/storage/blob-store.js';
import { FsBlobStore } from '../../src/storage/fs-blob-store.js';
import { backends, removeTestDatabase, testDatabaseUrl, type Backend } from '../helpers/backend.js';

// ---------------------------------------------------------------------------------------------------------------
// Content built in code

const blobDigest = (label: string): Digest => sha256(`blob ${label}`);
const manifestDigest = (label: string): Digest => sha256(`manifest ${label}`);

interface Image {
  config: Buffer;
  layers: Buffer[];
  manifest: Buffer;
  digest: Digest;
  parsed: ParsedManifest;
  diffIds: Digest[];
}

/** An OCI image: config, gzip layers (and optionally a foreign one), and its manifest, all as bytes. */
function makeImage(seed: string, opts: { foreign?: boolean } = {}): Image {
  const layers = [Buffer.from(`${seed} layer 0`), Buffer.from(`${seed} layer 1 ${'x'.repeat(1000)}`)];
  const foreign = Buffer.from(`${seed} foreign layer`);
  const diffIds = [...layers.map((l) => sha256(Buffer.concat([Buffer.from('uncompressed '), l])))];
  if (opts.foreign) diffIds.unshift(sha256(`${seed} foreign uncompressed`));
  const config = Buffer.from(
    JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: diffIds } }),
  );
  const descriptor = (mediaType: string, b: Buffer) => ({ mediaType, digest: sha256(b), size: b.length });
  const layerDescriptors = layers.map((l) => descriptor(MediaTypes.ociLayerGzip, l));
  if (opts.foreign) {
    layerDescriptors.unshift({
      ...descriptor(MediaTypes.dockerForeignLayer, foreign),
      urls: ['https://example.com/foreign'],
    } as ReturnType<typeof descriptor>);
  }
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaTypes.ociManifest,
      config: descriptor(MediaTypes.ociConfig, config),
      layers: layerDescriptors,
    }),
  );
  return {
    config,
    layers,
    manifest,
    digest: sha256(manifest),
    parsed: parseManifest(manifest, MediaTypes.ociManifest),
    diffIds: configDiffIds(config),
  };
}

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

const POOL_SIZE = 25;
const CONCURRENT = 20;

describe.each(backends())('repository versions on %s', (backend: Backend) => {
  let url: string;
  let appName: string;
  let db: Db;
  let storeRoot: string;
  let store: FsBlobStore;
  let repos: Repositories;
  let blobs: Blobs;
  let manifests: Manifests;
  let tags: Tags;
  let history: History;

  beforeAll(async () => {
    url = await testDatabaseUrl(`versions_${backend}`, backend);
    appName = `berth_versions_${randomUUID().slice(0, 8)}`;
    // application_name lets the concurrency test find this pool's connections in pg_stat_activity
    const openUrl = backend === 'postgres' ? `${url}&application_name=${appName}` : url;
    db = await openDatabase(openUrl, { poolSize: POOL_SIZE });
    storeRoot = await mkdtemp(join(tmpdir(), 'berth-versions-store-'));
    store = new FsBlobStore(storeRoot);
    repos = new Repositories(db.kysely);
    blobs = new Blobs(db.kysely, store);
    manifests = new Manifests(db.kysely, store);
    tags = new Tags(db.kysely);
    history = new History(db.kysely);
  });

  afterAll(async () => {
    await db?.close();
    if (url) await removeTestDatabase(url);
    if (storeRoot) await rm(storeRoot, { recursive: true, force: true });
  });

  // -------------------------------------------------------------------------------------------------------------
  // helpers bound to this backend

  const commit = (
    name: string,
    changes: ContentChange[] | ((ctx: VersionContext) => Promise<ContentChange[]>),
    create = false,
  ): Promise<CommittedVersion> =>
    commitVersion(db.kysely, name, { create }, typeof changes === 'function' ? changes : async () => changes);

  async function repositoryRow(name: string) {
    return db.kysely.selectFrom('repositories').selectAll().where('name', '=', name).executeTakeFirst();
  }

  async function contentRows(name: string) {
    return db.kysely
      .selectFrom('repository_content as c')
      .innerJoin('repositories as r', 'r.id', 'c.repository_id')
      .select(['c.kind', 'c.key', 'c.value', 'c.version_added', 'c.version_removed'])
      .where('r.name', '=', name)
      .orderBy('c.version_added')
      .execute();
  }

  async function count(
    table: 'blobs' | 'manifests' | 'layer_diff_ids' | 'manifest_references',
    column: 'digest' | 'blob_digest' | 'manifest_digest',
    value: string,
  ): Promise<number> {
    const r = await sql<{
      n: number | string;
    }>`select count(*) as n from ${sql.table(table)} where ${sql.ref(column)} = ${value}`.execute(db.kysely);
    return Number(r.rows[0]!.n);
  }

  async function storeBytes(bytes: Buffer): Promise<Digest> {
    const key = Keys.upload(randomUUID());
    const got = await receive(store, key, [bytes]);
    await promote(store, key, got.digest);
    return got.digest;
  }

  /** Stores an image's bytes and commits it (records and content units) as one new version. */
  async function pushImage(
    name: string,
    img: Image,
    tags: string[],
    create = true,
  ): Promise<CommittedVersion> {
    for (const b of [img.config, ...img.layers, img.manifest]) await storeBytes(b);
    return commit(
      name,
      async ({ trx }) => {
        await recordBlobs(
          trx,
          [img.config, ...img.layers].map((b) => ({ digest: sha256(b), size: b.length })),
        );
        await recordManifest(trx, {
          digest: img.digest,
          size: img.manifest.length,
          parsed: img.parsed,
          diffIds: img.diffIds,
        });
        return [
          ...requiredBlobs(img.parsed).map((d): ContentChange => ({
            op: 'add',
            kind: 'blob',
            digest: d.digest,
          })),
          { op: 'add', kind: 'manifest', digest: img.digest },
          ...tags.map((tag): ContentChange => ({ op: 'add', kind: 'tag', tag, digest: img.digest })),
        ];
      },
      create,
    );
  }

  async function readAll(stream: Readable | undefined): Promise<Buffer> {
    const chunks: Buffer[] = [];
    for await (const c of stream!) chunks.push(c as Buffer);
    return Buffer.concat(chunks);
  }

  async function rejection(p: Promise<unknown>): Promise<BerthError> {
    try {
      await p;
    } catch (e) {
      expect(e).toBeInstanceOf(BerthError);
      return e as BerthError;
    }
    throw new Error('expected a BerthError');
  }

  // -------------------------------------------------------------------------------------------------------------

  describe('creating a repository', () => {
    it('makes an empty version 0 and puts the first changes in version 1', async () => {
      const name = 'create/first';
      const v = await commit(name, [{ op: 'add', kind: 'blob', digest: blobDigest('c1') }], true);
      expect(v).toMatchObject({ number: 1, added: 1, removed: 0 });
      const versions = await history.versions(name);
      expect(versions.map((x) => [x.number, x.added, x.removed])).toEqual([
        [0, 0, 0],
        [1, 1, 0],
      ]);
      expect(await history.content(name, 0)).toEqual({ manifests: [], blobs: [], tags: [] });
      expect((await history.content(name, 1)).blobs.map((b) => b.digest)).toEqual([blobDigest('c1')]);
      expect((await repos.get(name)).info.latestVersion).toBe(1);
    });

    it('makes version 0 and an empty version 1 when created with no changes', async () => {
      const name = 'create/empty';
      const v = await commit(name, [], true);
      expect(v).toMatchObject({ number: 1, added: 0, removed: 0 });
      expect((await history.versions(name)).map((x) => x.number)).toEqual([0, 1]);
      expect(await history.content(name, 0)).toEqual({ manifests: [], blobs: [], tags: [] });
      expect(await history.content(name, 1)).toEqual({ manifests: [], blobs: [], tags: [] });
    });

    it('with create:true on an existing repository, just adds a version', async () => {
      const name = 'create/again';
      await commit(name, [], true);
      const v = await commit(name, [{ op: 'add', kind: 'blob', digest: blobDigest('again') }], true);
      expect(v.number).toBe(2);
      expect((await history.versions(name)).map((x) => x.number)).toEqual([0, 1, 2]);
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
      const versions = await history.versions(name);
      expect(versions.map((x) => ({ number: x.number, added: x.added, removed: x.removed }))).toEqual([
        { number: 0, added: 0, removed: 0 },
        { number: 1, added: 0, removed: 0 },
        { number: 2, added: 3, removed: 0 },
        { number: 3, added: 1, removed: 2 },
      ]);
      expect((await repos.get(name)).info.latestVersion).toBe(3);
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
      expect(await history.content(name, 2)).toEqual(await history.content(name, 1));
      expect((await history.versions(name)).map((x) => x.number)).toEqual([0, 1, 2]);
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
      const c1 = await history.content(name, 1);
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
      expect((await history.content(name, 1)).tags).toEqual([{ name: 'latest', digest: m1 }]);
      expect((await history.content(name, 2)).tags).toEqual([{ name: 'latest', digest: m2 }]);
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
      expect(await history.content(name, 2)).toEqual({ manifests: [], blobs: [], tags: [] });
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
      const has = async (v: number) => (await history.content(name, v)).blobs.some((b) => b.digest === d);
      expect([await has(0), await has(1), await has(2), await has(3)]).toEqual([false, true, false, true]);
    });
  });

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
      expect((await repos.get(name)).info.latestVersion).toBe(latest);
      const versions = await history.versions(name);
      expect(versions.map((x) => x.number)).toEqual(states.map((_, i) => i));
      for (let v = 0; v <= latest; v++) {
        expect(sorted(await history.content(name, v)), `content of version ${v}`).toEqual(
          asContent(states[v]!.values(), sizes, types),
        );
        if (v > 0) {
          expect(versions[v]!.added, `added in ${v}`).toBe(minus(states[v]!, states[v - 1]!).length);
          expect(versions[v]!.removed, `removed in ${v}`).toBe(minus(states[v - 1]!, states[v]!).length);
        }
      }
      for (let from = 0; from <= latest; from++) {
        for (let to = 0; to <= latest; to++) {
          const d = await history.diff(name, from, to);
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
      const forward = await history.diff(name, 1, 2);
      expect(forward.added.blobs.map((x) => x.digest)).toEqual([fresh]);
      expect(forward.removed.blobs.map((x) => x.digest)).toEqual([drop]);
      expect(forward.added.tags).toEqual([{ name: 't', digest: manifestDigest('new') }]);
      expect(forward.removed.tags).toEqual([{ name: 't', digest: manifestDigest('old') }]);
      const backward = await history.diff(name, 2, 1);
      expect(backward.added).toEqual(forward.removed);
      expect(backward.removed).toEqual(forward.added);
      const same = await history.diff(name, 2, 2);
      expect(same).toEqual({
        added: { manifests: [], blobs: [], tags: [] },
        removed: { manifests: [], blobs: [], tags: [] },
      });
    });

    it('refuses an unknown version or repository', async () => {
      const name = 'history/unknown';
      await commit(name, [], true);
      const e = await rejection(history.content(name, 2));
      expect(e.code).toBe('VERSION_UNKNOWN');
      expect(e.message).toContain('2');
      expect((await rejection(history.diff(name, 0, 5))).code).toBe('VERSION_UNKNOWN');
      expect((await rejection(history.diff(name, 5, 0))).code).toBe('VERSION_UNKNOWN');
      expect((await rejection(history.versions('history/none'))).code).toBe('NAME_UNKNOWN');
      expect((await rejection(history.version('history/none', 0))).code).toBe('NAME_UNKNOWN');
      expect(await repos.find('history/none')).toBeUndefined();
    });

    it('lists repositories in name order, after `last`, at most `n`', async () => {
      for (const n of ['list/c', 'list/a', 'list/b']) await commit(n, [], true);
      const all = (await repos.list()).map((r) => r.name).filter((n) => n.startsWith('list/'));
      expect(all).toEqual(['list/a', 'list/b', 'list/c']);
      expect((await repos.list({ last: 'list/a', n: 2 })).map((r) => r.name)).toEqual(['list/b', 'list/c']);
      expect((await repos.list({ last: 'list/c', n: 1 })).map((r) => r.name)).not.toContain('list/c');
      const info = (await repos.get('list/b')).info;
      expect(info).toMatchObject({ name: 'list/b', latestVersion: 1 });
      expect(new Date(info.createdAt).getTime()).not.toBeNaN();
    });
  });

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
      expect((await history.versions(name)).map((v) => v.number)).toEqual([0, 1]);
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
      expect(await repos.find(name)).toBeUndefined();
      expect(await count('blobs', 'digest', blobDigest('rollback-new'))).toBe(0);
      const orphanVersions = await db.kysely
        .selectFrom('repository_versions')
        .leftJoin('repositories', 'repositories.id', 'repository_versions.repository_id')
        .select('repository_versions.number')
        .where('repositories.id', 'is', null)
        .execute();
      expect(orphanVersions).toEqual([]);
      // and the name can be created afterwards, starting at 0 and 1
      await commit(name, [], true);
      expect((await history.versions(name)).map((v) => v.number)).toEqual([0, 1]);
    });
  });

  describe('what a repository holds: blobs, manifests, tags', () => {
    it('presentBlobs finds blobs by digest and layers by diff ID, in the latest version only', async () => {
      const name = 'present/a';
      const img = makeImage('present', { foreign: true });
      await pushImage(name, img, ['1.0']);
      const [foreignDiffId, diff0, diff1] = img.diffIds;
      const layer0 = sha256(img.layers[0]!);
      const configDigest = sha256(img.config);
      const unknown = sha256('not stored anywhere');
      const foreignDigest = img.parsed.layers[0]!.digest;

      // recordManifest wrote one diff-ID row per stored layer and none for the foreign layer
      expect(await count('layer_diff_ids', 'blob_digest', layer0)).toBe(1);
      expect(await count('layer_diff_ids', 'blob_digest', foreignDigest)).toBe(0);

      const asked = [unknown, diff1!, layer0, configDigest, foreignDigest, foreignDiffId!, diff0!];
      expect(await blobs.present(name, asked)).toEqual([diff1, layer0, configDigest, diff0]);

      // another repository holds none of it, though the diff-ID rows are global
      await commit('present/other', [], true);
      expect(await blobs.present('present/other', asked)).toEqual([]);

      // once the layer is removed, neither its digest nor its diff ID is present
      await commit(name, [{ op: 'remove', kind: 'blob', key: layer0 }]);
      expect(await blobs.present(name, asked)).toEqual([diff1, configDigest]);
      expect(await blobs.present(name, [])).toEqual([]);
    });

    it('presentBlobs answers for more digests than one query batch', async () => {
      const name = 'present/many';
      const digests = Array.from({ length: 1200 }, (_, i) => blobDigest(`many ${i}`));
      const held = digests.filter((_, i) => i % 3 === 0);
      await commit(
        name,
        held.map((digest): ContentChange => ({ op: 'add', kind: 'blob', digest })),
        true,
      );
      expect(await blobs.present(name, digests)).toEqual(held);
    });

    it('records a manifest naming more layers than one statement takes bound parameters for', async () => {
      // 20 000 layers: 80 000 parameters for the diff-ID rows, past SQLite's 32 766 and PostgreSQL's 65 535
      const n = 20_000;
      const layers = Array.from({ length: n }, (_, i) => blobDigest(`wide ${i}`));
      const diffIds = layers.map((_, i) => sha256(`wide uncompressed ${i}`));
      const config = Buffer.from(JSON.stringify({ rootfs: { type: 'layers', diff_ids: diffIds } }));
      const manifest = Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: MediaTypes.ociManifest,
          config: { mediaType: MediaTypes.ociConfig, digest: sha256(config), size: config.length },
          layers: layers.map((digest) => ({ mediaType: MediaTypes.ociLayerGzip, digest, size: 1 })),
        }),
      );
      const digest = sha256(manifest);
      const parsed = parseManifest(manifest, MediaTypes.ociManifest);
      await commit(
        'records/wide',
        async ({ trx }) => {
          await recordManifest(trx, { digest, size: manifest.length, parsed, diffIds });
          return [{ op: 'add', kind: 'manifest', digest }];
        },
        true,
      );
      expect(await count('manifest_references', 'manifest_digest', digest)).toBe(n + 1);
      const r = await db.kysely
        .selectFrom('layer_diff_ids')
        .select((eb) => eb.fn.countAll<number | string>().as('n'))
        .where('blob_digest', 'in', [layers[0]!, layers[n - 1]!])
        .executeTakeFirstOrThrow();
      expect(Number(r.n)).toBe(2);
      expect(await blobs.present('records/wide', [diffIds[0]!])).toEqual([]);
    });

    it('opens a blob of the latest version, whole, as a range, or for HEAD', async () => {
      const name = 'content/blobs';
      const img = makeImage('content-blobs');
      await pushImage(name, img, ['v1']);
      const layer = img.layers[1]!;
      const digest = sha256(layer);
      expect(await blobSize(db.kysely, name, digest)).toBe(layer.length);
      const blob = await blobs.stat(name, digest);
      expect(blob).toEqual({ digest, size: layer.length });
      expect((await readAll(await blobs.open(blob))).equals(layer)).toBe(true);
      const part = await blobs.open(blob, { start: layer.length - 10, end: layer.length - 1 });
      expect((await readAll(part)).equals(layer.subarray(layer.length - 10))).toBe(true);
      // a manifest's bytes are a blob of the repository too
      expect(await blobSize(db.kysely, name, img.digest)).toBe(img.manifest.length);
    });

    it('does not serve a blob another repository holds, nor one removed from the latest version', async () => {
      const img = makeImage('content-isolation');
      await pushImage('content/owner', img, ['v1']);
      await commit('content/stranger', [], true);
      const digest = sha256(img.layers[0]!);
      const e = await rejection(blobs.stat('content/stranger', digest));
      expect(e.code).toBe('BLOB_UNKNOWN');
      expect(e.message).toContain(digest);
      expect((await rejection(blobs.stat('content/nobody', digest))).code).toBe('NAME_UNKNOWN');
      await commit('content/owner', [{ op: 'remove', kind: 'blob', key: digest }]);
      expect((await rejection(blobs.stat('content/owner', digest))).code).toBe('BLOB_UNKNOWN');
      expect(await blobSize(db.kysely, 'content/owner', digest)).toBeUndefined();
    });

    it('reads manifests by tag and by digest with their exact bytes, and lists tags', async () => {
      const name = 'content/manifests';
      const one = makeImage('manifests-one');
      const two = makeImage('manifests-two');
      await pushImage(name, one, ['a', 'c']);
      await pushImage(name, two, ['b', 'd', 'c']);
      const byTag = await manifests.get(name, { kind: 'tag', tag: 'c' });
      expect(byTag).toMatchObject({
        digest: two.digest,
        mediaType: MediaTypes.ociManifest,
        size: two.manifest.length,
      });
      expect(byTag.bytes!.equals(two.manifest)).toBe(true);
      const byDigest = await manifests.get(name, { kind: 'digest', digest: one.digest });
      expect(byDigest.bytes!.equals(one.manifest)).toBe(true);
      const head = await manifests.get(name, { kind: 'tag', tag: 'a' }, { head: true });
      expect(head).toEqual({
        digest: one.digest,
        mediaType: MediaTypes.ociManifest,
        size: one.manifest.length,
      });
      expect(await tags.list(name)).toEqual(['a', 'b', 'c', 'd']);
      expect(await tags.list(name, { last: 'a', n: 2 })).toEqual(['b', 'c']);
      expect(await tags.list(name, { last: 'd' })).toEqual([]);
      const e = await rejection(manifests.get(name, { kind: 'tag', tag: 'zzz' }));
      expect(e.code).toBe('MANIFEST_UNKNOWN');
      expect(e.message).toContain('zzz');
      expect((await rejection(manifests.get('content/none', { kind: 'tag', tag: 'a' }))).code).toBe(
        'NAME_UNKNOWN',
      );
      expect(await repos.find(name)).toBeDefined();
      expect(await repos.find('content/none')).toBeUndefined();
    });
  });

  describe('concurrency', () => {
    it(`${CONCURRENT} commits started at once to a new repository all succeed, as versions 1..${CONCURRENT}`, async () => {
      const name = 'concurrent/new';
      const seenBefore = new Map<number, number>();
      let maxWaiting = 0;
      let polling = backend === 'postgres';
      // On PostgreSQL: watch this pool's connections queue on the repository row lock, proving real parallelism.
      const poller = polling
        ? (async () => {
            const watcher = new pg.Client({ connectionString: url.replace(/\?.*$/, '') });
            await watcher.connect();
            try {
              while (polling) {
                const r = await watcher.query<{ n: string }>(
                  `select count(*) as n from pg_stat_activity where application_name = $1 and wait_event_type = 'Lock'`,
                  [appName],
                );
                maxWaiting = Math.max(maxWaiting, Number(r.rows[0]!.n));
                await new Promise((res) => setTimeout(res, 5));
              }
            } finally {
              await watcher.end();
            }
          })()
        : Promise.resolve();
      const results = await Promise.all(
        Array.from({ length: CONCURRENT }, (_, i) =>
          commit(
            name,
            async ({ trx, repositoryId, number }) => {
              // the latest committed version, as this transaction sees it under the lock
              const r = await trx
                .selectFrom('repository_content')
                .select((eb) => eb.fn.countAll<number>().as('n'))
                .where('repository_id', '=', repositoryId)
                .where('version_removed', 'is', null)
                .executeTakeFirstOrThrow();
              seenBefore.set(number, Number(r.n));
              await new Promise((res) => setTimeout(res, 15)); // hold the lock a while
              return [
                { op: 'add', kind: 'tag', tag: `t${i}`, digest: manifestDigest(`concurrent ${i}`) },
                { op: 'add', kind: 'manifest', digest: manifestDigest(`concurrent ${i}`) },
              ];
            },
            true,
          ),
        ),
      ).finally(() => {
        polling = false;
      });
      await poller;
      expect(results.map((r) => r.number).sort((a, b) => a - b)).toEqual(
        Array.from({ length: CONCURRENT }, (_, i) => i + 1),
      );
      for (const r of results) expect(r).toMatchObject({ added: 2, removed: 0 });
      // each saw exactly the content of the version before it
      for (let v = 1; v <= CONCURRENT; v++) expect(seenBefore.get(v), `version ${v}`).toBe(2 * (v - 1));
      const latest = await history.content(name, CONCURRENT);
      expect(latest.tags.map((t) => t.name).sort()).toEqual(
        Array.from({ length: CONCURRENT }, (_, i) => `t${i}`).sort(),
      );
      for (const t of latest.tags) expect(t.digest).toBe(manifestDigest(`concurrent ${t.name.slice(1)}`));
      for (let v = 1; v <= CONCURRENT; v++) expect((await history.content(name, v)).tags).toHaveLength(v);
      expect((await history.versions(name)).map((v) => v.number)).toEqual(
        Array.from({ length: CONCURRENT + 1 }, (_, i) => i),
      );
      expect((await repositoryRow(name))?.latest_version).toBe(CONCURRENT);
      if (backend === 'postgres') expect(maxWaiting).toBeGreaterThanOrEqual(1);
    });

    it(`${CONCURRENT} commits started at once to an existing repository each make one version`, async () => {
      const name = 'concurrent/existing';
      await commit(name, [{ op: 'add', kind: 'blob', digest: blobDigest('base') }], true);
      const results = await Promise.all(
        Array.from({ length: CONCURRENT }, (_, i) =>
          commit(name, [
            { op: 'add', kind: 'tag', tag: `e${i}`, digest: manifestDigest(`existing ${i}`) },
            { op: 'add', kind: 'tag', tag: 'shared', digest: manifestDigest(`existing ${i}`) },
          ]),
        ),
      );
      expect(results.map((r) => r.number).sort((a, b) => a - b)).toEqual(
        Array.from({ length: CONCURRENT }, (_, i) => i + 2),
      );
      const latest = await history.content(name, CONCURRENT + 1);
      expect(latest.tags).toHaveLength(CONCURRENT + 1);
      // "shared" names what the commit that made the last version gave it
      const last = results.find((r) => r.number === CONCURRENT + 1)!;
      const lastIndex = results.indexOf(last);
      expect(latest.tags.find((t) => t.name === 'shared')?.digest).toBe(
        manifestDigest(`existing ${lastIndex}`),
      );
      // exactly one current "shared" row, and one ended row for every move
      const shared = (await contentRows(name)).filter((r) => r.kind === 'tag' && r.key === 'shared');
      expect(shared.filter((r) => r.version_removed === null)).toHaveLength(1);
      expect(shared).toHaveLength(CONCURRENT);
    });
  });

  describe('concurrency across repositories', () => {
    it('commits to different repositories that record the same blobs in opposite orders all succeed', async () => {
      // Rows of the global tables are claimed in the order they are inserted: two transactions inserting the
      // same digests in opposite orders would each wait for the other (a deadlock on PostgreSQL).
      const ROUNDS = 8;
      const failures: string[] = [];
      for (let round = 0; round < ROUNDS; round++) {
        const img = makeImage(`order ${round}`);
        const blobs = Array.from({ length: 1500 }, (_, i) => ({
          digest: blobDigest(`order ${round} ${i}`),
          size: i,
        }));
        const results = await Promise.allSettled(
          [0, 1, 2, 3].map((k) =>
            commit(
              `order/r${round}k${k}`,
              async ({ trx }) => {
                const mine = k % 2 === 0 ? blobs : [...blobs].reverse();
                await recordBlobs(trx, mine);
                const parsed = {
                  ...img.parsed,
                  layers: k % 2 === 0 ? img.parsed.layers : [...img.parsed.layers].reverse(),
                };
                const diffIds = k % 2 === 0 ? img.diffIds : [...img.diffIds].reverse();
                await recordManifest(trx, { digest: img.digest, size: img.manifest.length, parsed, diffIds });
                return mine
                  .slice(0, 3)
                  .map((b): ContentChange => ({ op: 'add', kind: 'blob', digest: b.digest }));
              },
              true,
            ),
          ),
        );
        for (const r of results) if (r.status === 'rejected') failures.push(String(r.reason));
      }
      expect(failures).toEqual([]);
      const recorded = await db.kysely
        .selectFrom('blobs')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .where('digest', 'in', [
          blobDigest('order 0 0'),
          blobDigest('order 0 1499'),
          blobDigest(`order ${ROUNDS - 1} 700`),
        ])
        .executeTakeFirstOrThrow();
      expect(Number(recorded.n)).toBe(3);
    });
  });

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
            await db.kysely
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
        commitVersion(db.kysely.withPlugin(counter), n, { create: false }, async () => [change]);

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
      expect((await history.content(big, 2)).blobs).toHaveLength(UNITS);
      expect((await history.content(big, 3)).blobs).toHaveLength(UNITS + 1);
      expect((await history.content(big, 4)).blobs).toHaveLength(UNITS);
      const d = await history.diff(big, 2, 4);
      expect(d.added.blobs.map((b) => b.digest)).toEqual([blobDigest('one more')]);
      expect(d.removed.blobs.map((b) => b.digest)).toEqual([blobDigest('bulk 7')]);
    });
  });
});
