// Shared by the repository-version tests of this folder: images built in code, and a database and store per file.
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { sql } from 'kysely';
import { afterAll, beforeAll, expect } from 'vitest';
import { sha256, type Digest } from '../../../src/core/digest.js';
import { BerthError } from '../../../src/core/errors.js';
import {
  configDiffIds,
  parseManifest,
  requiredBlobs,
  type ParsedManifest,
} from '../../../src/core/manifests.js';
import { MediaTypes } from '../../../src/core/media-types.js';
import { openDatabase, type Db } from '../../../src/db/connect.js';
import { Blobs } from '../../../src/repo/blobs.js';
import { recordBlobs, recordManifest } from '../../../src/repo/catalogue.js';
import { History } from '../../../src/repo/history.js';
import { Manifests } from '../../../src/repo/manifests.js';
import { Repositories } from '../../../src/repo/repositories.js';
import { Tags } from '../../../src/repo/tags.js';
import {
  commitVersion,
  type CommittedVersion,
  type ContentChange,
  type VersionContext,
} from '../../../src/repo/versions.js';
import { Keys, promote, receive } from '../../../src/storage/cas.js';
import { FsBlobStore } from '../../../src/storage/fs-blob-store.js';
import { removeTestDatabase, testDatabaseUrl, type Backend } from '../../helpers/backend.js';

// ---------------------------------------------------------------------------------------------------------------
// Content built in code

export const blobDigest = (label: string): Digest => sha256(`blob ${label}`);
export const manifestDigest = (label: string): Digest => sha256(`manifest ${label}`);

export interface Image {
  config: Buffer;
  layers: Buffer[];
  manifest: Buffer;
  digest: Digest;
  parsed: ParsedManifest;
  diffIds: Digest[];
}

/** An OCI image: config, gzip layers (and optionally a foreign one), and its manifest, all as bytes. */
export function makeImage(seed: string, opts: { foreign?: boolean } = {}): Image {
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
// A database and a store for one test file, and helpers bound to them

export const POOL_SIZE = 25;

export interface VersionsFixture {
  url: string;
  /** the PostgreSQL application_name of this file's pool, to find its connections in pg_stat_activity */
  appName: string;
  db: Db;
  store: FsBlobStore;
  repos: Repositories;
  blobs: Blobs;
  manifests: Manifests;
  tags: Tags;
  history: History;
  commit(
    name: string,
    changes: ContentChange[] | ((ctx: VersionContext) => Promise<ContentChange[]>),
    create?: boolean,
  ): Promise<CommittedVersion>;
  repositoryRow(name: string): ReturnType<typeof repositoryRowOf>;
  contentRows(name: string): ReturnType<typeof contentRowsOf>;
  count(
    table: 'blobs' | 'manifests' | 'layer_diff_ids' | 'manifest_references',
    column: 'digest' | 'blob_digest' | 'manifest_digest',
    value: string,
  ): Promise<number>;
  /** Stores an image's bytes and commits it (records and content units) as one new version. */
  pushImage(name: string, img: Image, tags: string[], create?: boolean): Promise<CommittedVersion>;
}

function repositoryRowOf(db: Db, name: string) {
  return db.kysely.selectFrom('repositories').selectAll().where('name', '=', name).executeTakeFirst();
}

function contentRowsOf(db: Db, name: string) {
  return db.kysely
    .selectFrom('repository_content as c')
    .innerJoin('repositories as r', 'r.id', 'c.repository_id')
    .select(['c.kind', 'c.key', 'c.value', 'c.version_added', 'c.version_removed'])
    .where('r.name', '=', name)
    .orderBy('c.version_added')
    .execute();
}

/**
 * Opens a fresh database of `backend` and a store before the file's tests (closed after them); the fields are set
 * once its beforeAll has run.
 */
export function versionsFixture(label: string, backend: Backend): VersionsFixture {
  let storeRoot: string | undefined;
  const t = {} as VersionsFixture;

  beforeAll(async () => {
    t.url = await testDatabaseUrl(`${label}_${backend}`, backend);
    t.appName = `berth_versions_${randomUUID().slice(0, 8)}`;
    const openUrl = backend === 'postgres' ? `${t.url}&application_name=${t.appName}` : t.url;
    t.db = await openDatabase(openUrl, { poolSize: POOL_SIZE });
    storeRoot = await mkdtemp(join(tmpdir(), 'berth-versions-store-'));
    t.store = new FsBlobStore(storeRoot);
    t.repos = new Repositories(t.db.kysely);
    t.blobs = new Blobs(t.db.kysely, t.store);
    t.manifests = new Manifests(t.db.kysely, t.store);
    t.tags = new Tags(t.db.kysely);
    t.history = new History(t.db.kysely);
  });

  afterAll(async () => {
    await t.db?.close();
    if (t.url) await removeTestDatabase(t.url);
    if (storeRoot) await rm(storeRoot, { recursive: true, force: true });
  });

  t.commit = (name, changes, create = false) =>
    commitVersion(
      t.db.kysely,
      name,
      { create },
      typeof changes === 'function' ? changes : async () => changes,
    );
  t.repositoryRow = (name) => repositoryRowOf(t.db, name);
  t.contentRows = (name) => contentRowsOf(t.db, name);
  t.count = async (table, column, value) => {
    const r = await sql<{
      n: number | string;
    }>`select count(*) as n from ${sql.table(table)} where ${sql.ref(column)} = ${value}`.execute(
      t.db.kysely,
    );
    return Number(r.rows[0]!.n);
  };

  async function storeBytes(bytes: Buffer): Promise<Digest> {
    const key = Keys.staging(randomUUID(), 0);
    const got = await receive(t.store, key, [bytes]);
    await promote(t.store, key, got.digest);
    return got.digest;
  }

  t.pushImage = async (name, img, tags, create = true) => {
    for (const b of [img.config, ...img.layers, img.manifest]) await storeBytes(b);
    return t.commit(
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
  };
  return t;
}

export async function readAll(stream: Readable | undefined): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream!) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** The BerthError `p` rejects with. */
export async function rejection(p: Promise<unknown>): Promise<BerthError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(BerthError);
    return e as BerthError;
  }
  throw new Error('expected a BerthError');
}
