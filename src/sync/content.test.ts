// Content brought in from upstream becomes one version (none when nothing changes): manifests byte for byte, blobs present or on demand.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openBerth, type Berth } from '../app.js';
import { sha256, type Digest } from '../core/digest.js';
import { MediaTypes } from '../core/media-types.js';
import { Keys, receive } from '../storage/cas.js';
import { locateIn } from '../gc/blob-objects.js';
import { backends, removeTestDatabase, testDatabaseUrl } from '../../test/helpers/backend.js';
import {
  chosenChildren,
  commitContent,
  emptyContent,
  fetchedManifest,
  keepDownloaded,
  platformChosen,
  type FetchedManifest,
} from './content.js';

const desc = (mediaType: string, bytes: Buffer, extra: object = {}) => ({
  mediaType,
  digest: sha256(bytes),
  size: bytes.length,
  ...extra,
});

/** An image manifest over a config and one layer, with deliberately odd spacing (bytes must be kept as they are). */
function image(seed: string) {
  const config = Buffer.from(JSON.stringify({ rootfs: { type: 'layers', diff_ids: [sha256(seed)] }, seed }));
  const layer = Buffer.from(`layer ${seed} ${Math.random()}`);
  const bytes = Buffer.from(
    `{ "schemaVersion": 2, "mediaType": "${MediaTypes.ociManifest}",\n  "config": ${JSON.stringify(desc(MediaTypes.ociConfig, config))},\n  "layers": [${JSON.stringify(desc(MediaTypes.ociLayerGzip, layer))}] }`,
  );
  const m = fetchedManifest({ digest: sha256(bytes), mediaType: MediaTypes.ociManifest, bytes });
  return { m, config, layer };
}

describe.each(backends())('sync content on %s', (backend) => {
  let data: string;
  let database: string;
  let berth: Berth;
  const db = () => berth.db.kysely;

  beforeEach(async () => {
    data = mkdtempSync(join(tmpdir(), 'sync-content-'));
    database = await testDatabaseUrl(`sync-content-${backend}`, backend);
    berth = await openBerth({ data, database });
    // the remote on-demand rows name (locked while they are written)
    await berth.remotes.add({ name: 'hub', url: 'https://registry-1.docker.io' });
  });
  afterEach(async () => {
    await berth.close();
    await removeTestDatabase(database);
    rmSync(data, { recursive: true, force: true });
  });

  /** Puts bytes at a temp key, as a verified download would, and keeps them. */
  async function download(bytes: Buffer): Promise<'stored' | 'known'> {
    const key = `${Keys.uploadDir(`dl-${Math.random()}`)}data`;
    await receive(berth.store, key, [bytes]);
    return keepDownloaded(berth.store, locateIn(berth.db.kysely), key, sha256(bytes));
  }

  const tagsOf = async (name: string) =>
    Object.fromEntries((await berth.tags.list(name)).map((t) => [t, true]));

  it('downloaded content makes one version; the manifest is stored byte for byte; the same again makes none', async () => {
    const { m, config, layer } = image('a');
    expect(await download(config)).toBe('stored');
    expect(await download(layer)).toBe('stored');
    const content = {
      ...emptyContent(),
      manifests: [m],
      downloaded: [config, layer].map((b) => ({ digest: sha256(b), size: b.length })),
      tags: [{ tag: 'v1', digest: m.digest }],
    };
    const v = await commitContent(db(), berth.store, 'sync/a', content, {
      message: 'sync run x from hub',
      create: true,
    });
    expect(v?.number).toBe(1);
    const got = await berth.manifests.get('sync/a', { kind: 'tag', tag: 'v1' });
    expect(got.bytes!.equals(m.bytes)).toBe(true);
    expect(await buffer(await berth.store.reader(Keys.blob(sha256(layer))))).toEqual(layer);
    const row = await db()
      .selectFrom('repository_versions')
      .select('message')
      .where('number', '=', 1)
      .executeTakeFirstOrThrow();
    expect(row.message).toBe('sync run x from hub');
    // nothing new: no version
    expect(
      await commitContent(db(), berth.store, 'sync/a', content, { message: 'again', create: true }),
    ).toBeUndefined();
    const repo = await db()
      .selectFrom('repositories')
      .select('latest_version')
      .where('name', '=', 'sync/a')
      .executeTakeFirstOrThrow();
    expect(repo.latest_version).toBe(1);
  });

  it('a download of bytes berth already stores is discarded (stored once)', async () => {
    const bytes = Buffer.from(`shared ${Math.random()}`);
    await berth.uploads.monolithic('other/repo', sha256(bytes), Readable.from([bytes]));
    expect(await download(bytes)).toBe('known');
    const left = [];
    for await (const k of berth.store.list('uploads/')) left.push(k);
    expect(left).toEqual([]);
  });

  it('on-demand blobs get rows in state remote and on_demand_blobs rows, and no bytes', async () => {
    const { m, config, layer } = image('od');
    const blobs = [config, layer].map((b) => ({ digest: sha256(b), size: b.length }));
    const v = await commitContent(
      db(),
      berth.store,
      'sync/od',
      {
        ...emptyContent(),
        manifests: [m],
        remote: blobs,
        onDemand: { remote: 'hub', upstream: 'library/od' },
        tags: [{ tag: 'latest', digest: m.digest }],
      },
      { message: 'od', create: true },
    );
    expect(v?.number).toBe(1);
    const rows = await db()
      .selectFrom('blobs')
      .select(['digest', 'state'])
      .where(
        'digest',
        'in',
        blobs.map((b) => b.digest),
      )
      .execute();
    expect(rows.map((r) => r.state)).toEqual(['remote', 'remote']);
    const od = await db()
      .selectFrom('on_demand_blobs')
      .selectAll()
      .where('repository', '=', 'sync/od')
      .orderBy('digest')
      .execute();
    expect(od.map((r) => [r.digest, r.size, r.remote, r.upstream])).toEqual(
      [...blobs]
        .sort((a, b) => (a.digest < b.digest ? -1 : 1))
        .map((b) => [b.digest, b.size, 'hub', 'library/od']),
    );
    expect(await berth.store.stat(Keys.blob(sha256(layer)))).toBeNull();
    expect(await tagsOf('sync/od')).toEqual({ latest: true });
  });

  it('on-demand rows naming a remote that is gone fail with REMOTE_UNKNOWN and change nothing', async () => {
    const { m, config, layer } = image('od-gone');
    await berth.remotes.add({ name: 'brief', url: 'http://127.0.0.1:9' });
    await berth.remotes.remove('brief');
    const commit = commitContent(
      db(),
      berth.store,
      'sync/od-gone',
      {
        ...emptyContent(),
        manifests: [m],
        remote: [config, layer].map((b) => ({ digest: sha256(b), size: b.length })),
        onDemand: { remote: 'brief', upstream: 'x' },
        tags: [{ tag: 'latest', digest: m.digest }],
      },
      { message: 'od', create: true },
    );
    await expect(commit).rejects.toMatchObject({ code: 'REMOTE_UNKNOWN' });
    expect(await db().selectFrom('on_demand_blobs').selectAll().execute()).toEqual([]);
    expect(
      await db().selectFrom('repositories').select('name').where('name', '=', 'sync/od-gone').execute(),
    ).toEqual([]);
  });

  it('an on-demand blob berth stores for another repository keeps its present row, and the repository still fetches it', async () => {
    const { m, config, layer } = image('shared');
    await berth.uploads.monolithic('other/repo', sha256(layer), Readable.from([layer]));
    const blobs = [config, layer].map((b) => ({ digest: sha256(b), size: b.length }));
    await commitContent(
      db(),
      berth.store,
      'sync/od2',
      { ...emptyContent(), manifests: [m], remote: blobs, onDemand: { remote: 'hub', upstream: 'x' } },
      { message: 'od', create: true },
    );
    const row = await db()
      .selectFrom('blobs')
      .select('state')
      .where('digest', '=', sha256(layer))
      .executeTakeFirstOrThrow();
    expect(row.state).toBe('present');
    const od = await db()
      .selectFrom('on_demand_blobs')
      .select('digest')
      .where('repository', '=', 'sync/od2')
      .execute();
    expect(od.map((r) => r.digest)).toContain(sha256(layer));
  });

  it('tags removed (mirror) make a version; a blob relied on as held but gone fails the commit and changes nothing', async () => {
    const { m, config, layer } = image('mirror');
    await download(config);
    await download(layer);
    const downloaded = [config, layer].map((b) => ({ digest: sha256(b), size: b.length }));
    await commitContent(
      db(),
      berth.store,
      'sync/m',
      {
        ...emptyContent(),
        manifests: [m],
        downloaded,
        tags: [
          { tag: 'a', digest: m.digest },
          { tag: 'b', digest: m.digest },
        ],
      },
      { message: 'one', create: true },
    );
    const v2 = await commitContent(
      db(),
      berth.store,
      'sync/m',
      { ...emptyContent(), removeTags: ['b'] },
      { message: 'two', create: false },
    );
    expect(v2?.number).toBe(2);
    expect(await tagsOf('sync/m')).toEqual({ a: true });
    const other = image('other');
    const failing = {
      ...emptyContent(),
      manifests: [other.m],
      held: [sha256(other.config), sha256(other.layer)],
      tags: [{ tag: 'c', digest: other.m.digest }],
    };
    await expect(
      commitContent(db(), berth.store, 'sync/m', failing, { message: 'three', create: false }),
    ).rejects.toMatchObject({ code: 'MANIFEST_BLOB_UNKNOWN' });
    const repo = await db()
      .selectFrom('repositories')
      .select('latest_version')
      .where('name', '=', 'sync/m')
      .executeTakeFirstOrThrow();
    expect(repo.latest_version).toBe(2);
    expect(
      await db()
        .selectFrom('manifests')
        .select('digest')
        .where('digest', '=', other.m.digest)
        .executeTakeFirst(),
    ).toBeUndefined();
  });

  it('an index is kept as published while only the chosen platforms are fetched (a sparse index)', async () => {
    const amd = image('amd64');
    const arm = image('arm64');
    const child = (x: FetchedManifest, architecture: string, variant?: string) => ({
      mediaType: MediaTypes.ociManifest,
      digest: x.digest,
      size: x.bytes.length,
      platform: { os: 'linux', architecture, ...(variant ? { variant } : {}) },
    });
    const bytes = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MediaTypes.ociIndex,
        manifests: [child(amd.m, 'amd64'), child(arm.m, 'arm64', 'v8')],
      }),
    );
    const index = fetchedManifest({ digest: sha256(bytes), mediaType: MediaTypes.ociIndex, bytes });
    expect(chosenChildren(index, ['linux/amd64']).map((c) => c.digest)).toEqual([amd.m.digest]);
    expect(chosenChildren(index, ['linux/arm64']).map((c) => c.digest)).toEqual([arm.m.digest]);
    expect(chosenChildren(index, ['linux/arm64/v7'])).toEqual([]);
    expect(chosenChildren(index, []).length).toBe(2);
    expect(platformChosen({ mediaType: 'x', digest: amd.m.digest, size: 1 }, ['linux/amd64'])).toBe(false);
    await download(amd.config);
    await download(amd.layer);
    const downloaded = [amd.config, amd.layer].map((b) => ({ digest: sha256(b), size: b.length }));
    await commitContent(
      db(),
      berth.store,
      'sync/idx',
      {
        ...emptyContent(),
        manifests: [index, amd.m],
        downloaded,
        tags: [{ tag: 'multi', digest: index.digest as Digest }],
      },
      { message: 'idx', create: true },
    );
    const got = await berth.manifests.get('sync/idx', { kind: 'tag', tag: 'multi' });
    expect(got.bytes!.equals(bytes)).toBe(true);
    await expect(
      berth.manifests.get('sync/idx', { kind: 'digest', digest: arm.m.digest }),
    ).rejects.toMatchObject({ code: 'MANIFEST_UNKNOWN' });
  });
});
