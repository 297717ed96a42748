// Retention of cache repositories by last pull, on every backend: what was not pulled leaves, what was (by tag or digest) stays.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openBerth, type Berth } from '../app.js';
import { sha256 } from '../core/digest.js';
import { MediaTypes } from '../core/media-types.js';
import { backends, removeTestDatabase, testDatabaseUrl } from '../../test/helpers/backend.js';
import { FakeClock } from '../../test/helpers/fake-clock.js';
import { commitContent, emptyContent, fetchedManifest, type FetchedManifest } from './content.js';
import { applyCacheRetention } from './cache-retention.js';

const DAY = 86_400_000;
const REPO = 'cache/hub/library/app';

function image(seed: string): FetchedManifest {
  const config = Buffer.from(JSON.stringify({ seed }));
  const d = { mediaType: MediaTypes.ociConfig, digest: sha256(config), size: config.length };
  const bytes = Buffer.from(
    JSON.stringify({ schemaVersion: 2, mediaType: MediaTypes.ociManifest, config: d, layers: [] }),
  );
  return fetchedManifest({ digest: sha256(bytes), mediaType: MediaTypes.ociManifest, bytes });
}

function index(children: FetchedManifest[]): FetchedManifest {
  const bytes = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaTypes.ociIndex,
      manifests: children.map((c) => ({
        mediaType: MediaTypes.ociManifest,
        digest: c.digest,
        size: c.bytes.length,
        platform: { os: 'linux', architecture: 'amd64' },
      })),
    }),
  );
  return fetchedManifest({ digest: sha256(bytes), mediaType: MediaTypes.ociIndex, bytes });
}

describe.each(backends())('cache retention on %s', (backend) => {
  let data: string;
  let database: string;
  let berth: Berth;
  const clock = new FakeClock(Date.UTC(2026, 0, 1));
  const db = () => berth.db.kysely;
  const settings = () => ({ clock, newRepositories: { versions: null, days: null } });

  beforeEach(async () => {
    data = mkdtempSync(join(tmpdir(), 'cache-retention-'));
    database = await testDatabaseUrl(`cache-retention-${backend}`, backend);
    berth = await openBerth({ data, database, clock });
    const now = clock.now();
    await db()
      .insertInto('remotes')
      .values({ name: 'hub', url: 'http://127.0.0.1:1', created_at: now, updated_at: now })
      .execute();
    await berth.caches.add({ name: 'hub', remote: 'hub', prefix: 'cache/hub', retainDays: 7 });
  });
  afterEach(async () => {
    await berth.close();
    await removeTestDatabase(database);
    rmSync(data, { recursive: true, force: true });
  });

  /** Commits manifests with tags into the cache repository, as pulls would, and their cache_tags rows. */
  async function pulled(manifests: FetchedManifest[], refs: [string, FetchedManifest, number][]) {
    const content = emptyContent();
    content.manifests.push(...manifests);
    content.remote = manifests.flatMap((m) =>
      m.parsed.config ? [{ digest: m.parsed.config.digest, size: m.parsed.config.size }] : [],
    );
    content.onDemand = { remote: 'hub', upstream: 'library/app' };
    for (const [ref, m] of refs)
      if (!ref.startsWith('sha256:')) content.tags.push({ tag: ref, digest: m.digest });
    await commitContent(db(), berth.store, REPO, content, {
      message: 'test',
      create: true,
      settings: settings(),
    });
    await db().updateTable('repositories').set({ cache: 'hub' }).where('name', '=', REPO).execute();
    for (const [reference, m, pulledAt] of refs) {
      await db()
        .insertInto('cache_tags')
        .values({ repository: REPO, reference, digest: m.digest, checked_at: pulledAt, pulled_at: pulledAt })
        .execute();
    }
  }

  const latest = async () => {
    const rows = await db()
      .selectFrom('repository_content as c')
      .innerJoin('repositories as r', 'r.id', 'c.repository_id')
      .select(['c.kind', 'c.key'])
      .where('r.name', '=', REPO)
      .where('c.version_removed', 'is', null)
      .where('c.kind', 'in', ['tag', 'manifest'])
      .orderBy('c.kind')
      .orderBy('c.key')
      .execute();
    return rows.map((r) => `${r.kind} ${r.key}`);
  };

  it('removes tags and manifests not pulled for retain_days in one version; keeps recent tags, pinned digests and index children', async () => {
    const old = image('old');
    const fresh = image('fresh');
    const pinned = image('pinned');
    const child = image('child');
    const idx = index([child]);
    const now = clock.now();
    await pulled(
      [old, fresh, pinned, child, idx],
      [
        ['old', old, now - 8 * DAY],
        ['fresh', fresh, now - 6 * DAY],
        [pinned.digest, pinned, now - 1 * DAY],
        ['multi', idx, now - 2 * DAY],
      ],
    );
    const before = (await berth.repositories.get(REPO)).info.latestVersion;

    const dry = await applyCacheRetention(db(), { dryRun: true, settings: settings() });
    expect(dry).toEqual([{ repository: REPO, version: null, tags: ['old'], manifests: [old.digest] }]);
    expect((await berth.repositories.get(REPO)).info.latestVersion).toBe(before);

    const done = await applyCacheRetention(db(), { dryRun: false, settings: settings() });
    expect(done).toEqual([{ repository: REPO, version: before + 1, tags: ['old'], manifests: [old.digest] }]);
    expect(await latest()).toEqual(
      [
        `manifest ${fresh.digest}`,
        `manifest ${pinned.digest}`,
        `manifest ${child.digest}`,
        `manifest ${idx.digest}`,
        `tag fresh`,
        `tag multi`,
      ].sort(),
    );
    const rows = await db().selectFrom('cache_tags').select('reference').orderBy('reference').execute();
    expect(rows.map((r) => r.reference)).toEqual([pinned.digest, 'fresh', 'multi'].sort());
    // nothing more to take: no version
    expect(await applyCacheRetention(db(), { dryRun: false, settings: settings() })).toEqual([]);
    expect((await berth.repositories.get(REPO)).info.latestVersion).toBe(before + 1);
  });

  it('cleanup runs it: a cache repository not pulled for retain_days is emptied', async () => {
    const a = image('a');
    await pulled([a], [['v1', a, clock.now()]]);
    clock.advanceTo(clock.now() + 8 * DAY);
    await berth.cleanup.run({ protectionSeconds: 0 });
    expect(await latest()).toEqual([]);
  });
});
