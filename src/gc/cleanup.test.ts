// Cleanup and files, on every backend: unmovable files fail the run with rows put back; old strays go, claimed ones stay.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openBerth, type Berth } from '../app.js';
import { sha256, type Digest } from '../core/digest.js';
import { MediaTypes } from '../core/media-types.js';
import type { BlobStore } from '../storage/blob-store.js';
import { Keys } from '../storage/cas.js';
import { Cleanup } from './cleanup.js';
import { Fsck } from './fsck/index.js';
import { withClaims } from './claims.js';
import { backends, removeTestDatabase, testDatabaseUrl } from '../../test/helpers/backend.js';
import { storeFiles } from '../../test/helpers/store-files.js';
import { blobKey, toContentAddress } from '../../test/helpers/blob-layout.js';

const HOUR = 3600_000;

/** The store, except that moving or deleting the file at one key fails as a disk would (EIO). */
function failingMoves(store: BlobStore, failing: Set<string>): BlobStore {
  return new Proxy(store, {
    get(target, prop, receiver) {
      if (prop === 'move')
        return async (from: string, to: string) => {
          if (failing.has(from))
            throw Object.assign(new Error(`EIO: i/o error, rename '${from}'`), { code: 'EIO' });
          return target.move(from, to);
        };
      if (prop === 'delete')
        return async (key: string) => {
          if (failing.has(key))
            throw Object.assign(new Error(`EIO: i/o error, unlink '${key}'`), { code: 'EIO' });
          return target.delete(key);
        };
      const v = Reflect.get(target, prop, receiver);
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
}

describe.each(backends())('cleanup of files on %s', (backend) => {
  let data: string;
  let database: string;
  let berth: Berth;

  const { put, age } = storeFiles(() => data);
  const rowOf = (d: string) =>
    berth.db.kysely.selectFrom('blobs').selectAll().where('digest', '=', d).executeTakeFirst();
  const fsck = (protectionMs?: number) => new Fsck(berth.db.kysely, berth.store).run({ protectionMs });

  /** A blob pushed and abandoned: a row and a file, in no version, pending for no one. */
  async function orphan(text: string): Promise<Digest> {
    const bytes = Buffer.from(text);
    const digest = sha256(bytes);
    await berth.uploads.monolithic('gc/app', digest, Readable.from([bytes]));
    await berth.db.kysely.deleteFrom('pending_blobs').where('digest', '=', digest).execute();
    return digest;
  }

  beforeEach(async () => {
    data = mkdtempSync(join(tmpdir(), 'gc-cleanup-'));
    database = await testDatabaseUrl(`gc-cleanup-${backend}`, backend);
    berth = await openBerth({ data, database });
  });

  afterEach(async () => {
    await berth.close();
    await removeTestDatabase(database);
    rmSync(data, { recursive: true, force: true });
  });

  it('a file that cannot be moved (EIO) fails the run, and its rows come back; the others go', async () => {
    const bad = await orphan(`unmovable ${Math.random()}`);
    const good = await orphan(`movable ${Math.random()}`);
    // a manifest no version holds any more (with its references), whose file cannot be moved either
    const configBytes = Buffer.from(`{"config": ${Math.random()}}`);
    const config = sha256(configBytes);
    await berth.uploads.monolithic('gc/app', config, Readable.from([configBytes]));
    const manifestBytes = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MediaTypes.ociManifest,
        config: { mediaType: 'application/vnd.example+json', digest: config, size: configBytes.length },
        layers: [],
      }),
    );
    const { digest: manifest } = await berth.manifests.put(
      'gc/app',
      { kind: 'tag', tag: 'v1' },
      manifestBytes,
      MediaTypes.ociManifest,
    );
    await berth.db.kysely.deleteFrom('repository_content').execute(); // no version holds anything
    const references = await berth.db.kysely
      .selectFrom('manifest_references')
      .selectAll()
      .where('manifest_digest', '=', manifest)
      .execute();
    expect(references.length).toBeGreaterThan(0);
    const before = { bad: await rowOf(bad), manifest: await rowOf(manifest) };
    const goodKey = await blobKey(berth.db.kysely, good);
    expect(goodKey).toMatch(/^objects\//);

    const cleanup = new Cleanup(
      berth.db.kysely,
      // `bad` at its upload's object (deleted at once), the manifest at its content address (through trash/)
      failingMoves(berth.store, new Set([await blobKey(berth.db.kysely, bad), Keys.blob(manifest)])),
    );
    const error = await cleanup.run({ protectionSeconds: 0 }).then(
      () => undefined,
      (e: unknown) => e as Error & { cause?: { code?: string } },
    );
    expect(error?.message).toMatch(/could not remove the files of 2 blob/);
    expect(error?.cause?.code).toBe('EIO');
    // the database still names the files that stayed: rows as they were, the manifest's rows too
    expect(await rowOf(bad)).toEqual(before.bad);
    expect(await rowOf(manifest)).toEqual(before.manifest);
    expect(
      await berth.db.kysely.selectFrom('manifests').select('digest').where('digest', '=', manifest).execute(),
    ).toHaveLength(1);
    expect(
      await berth.db.kysely
        .selectFrom('manifest_references')
        .selectAll()
        .where('manifest_digest', '=', manifest)
        .execute(),
    ).toEqual(references);
    expect(await berth.store.stat(before.bad!.object_key!)).not.toBeNull();
    // what could be let go of was
    expect(await rowOf(good)).toBeUndefined();
    expect(await berth.store.stat(goodKey)).toBeNull();
    expect((await fsck(0)).clean).toBe(true);
    // once the disk is well again, a cleanup takes them
    const report = await berth.cleanup.run({ protectionSeconds: 0 });
    expect(report.digests).toEqual(expect.arrayContaining([bad, manifest]));
    expect((await fsck(0)).clean).toBe(true);
  });

  it('a stray file (left by a failed commit) stays within the protection time, goes after it; fsck clean', async () => {
    const stray = sha256('left by a failed commit');
    put(Keys.blob(stray), 'left by a failed commit');
    // young: protected
    const young = await berth.cleanup.run({ protectionSeconds: 3600 });
    expect(await berth.store.stat(Keys.blob(stray))).not.toBeNull();
    expect((await fsck()).clean).toBe(true);
    // older than the protection time: a dry run reports it and leaves it, a run removes it
    age(Keys.blob(stray), 2 * HOUR);
    const dry = await berth.cleanup.run({ protectionSeconds: 3600, dryRun: true });
    expect(await berth.store.stat(Keys.blob(stray))).not.toBeNull();
    const real = await berth.cleanup.run({ protectionSeconds: 3600 });
    expect(await berth.store.stat(Keys.blob(stray))).toBeNull();
    expect((await fsck(0)).clean).toBe(true);
    expect(young.removed.strayFiles).toBe(0);
    expect(dry.removed).toMatchObject({ strayFiles: 1, strayBytes: 23 });
    expect(real.removed).toMatchObject({ blobs: 0, strayFiles: 1, strayBytes: 23 });
    for await (const key of berth.store.list('trash/')) expect.fail(`${key} left in trash`);
  });

  it("a stray file at the address of a sparse index's absent child goes like any other; fsck agrees", async () => {
    const childText = 'a child manifest this repository never held';
    const child = sha256(childText);
    const index = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MediaTypes.ociIndex,
        manifests: [{ mediaType: MediaTypes.ociManifest, digest: child, size: childText.length }],
      }),
    );
    await berth.manifests.put('gc/sparse', { kind: 'tag', tag: 'v1' }, index, MediaTypes.ociIndex);
    put(Keys.blob(child), childText, 2 * HOUR); // left by a failed commit elsewhere: no row names it
    const report = await berth.cleanup.run({ protectionSeconds: 3600 });
    expect(report.removed).toMatchObject({ blobs: 0, strayFiles: 1 });
    expect(await berth.store.stat(Keys.blob(child))).toBeNull();
    expect((await fsck(0)).problems).toEqual([]);
  });

  it('never sweeps a stray file that is claimed, or that a writer claims while it is being let go of', async () => {
    const claimed = sha256('claimed by an upload in flight');
    const raced = sha256('claimed during the sweep');
    put(Keys.blob(claimed), 'claimed by an upload in flight', 2 * HOUR);
    put(Keys.blob(raced), 'claimed during the sweep', 2 * HOUR);
    let release!: () => void;
    const writerDone = new Promise<void>((resolve) => (release = resolve));
    let writer: Promise<void> | undefined;
    await withClaims(berth.db.kysely, [claimed], async () => {
      const report = await berth.cleanup.run({
        protectionSeconds: 0,
        afterDecision: async (digests) => {
          if (!digests.includes(raced)) return;
          expect(digests).not.toContain(claimed);
          // decided, not yet let go of: a writer claims the blob now (and commits after the cleanup)
          let claimedNow!: () => void;
          const done = new Promise<void>((resolve) => (claimedNow = resolve));
          writer = withClaims(berth.db.kysely, [raced], async () => {
            claimedNow();
            await writerDone;
          });
          await done;
        },
      });
      expect(report.removed.strayFiles).toBe(0);
      expect(report.keptForWriters).toBe(1);
    });
    expect(await berth.store.stat(Keys.blob(claimed))).not.toBeNull();
    expect(await berth.store.stat(Keys.blob(raced))).not.toBeNull();
    release();
    await writer;
  });

  it('never sweeps a file that a kept version or a manifest still names, even with its row gone', async () => {
    const d = await orphan(`named ${Math.random()}`);
    // at its content address: a file there can be named again by its digest (an upload's object cannot)
    await toContentAddress(berth.db.kysely, berth.store, d);
    await berth.db.kysely
      .insertInto('pending_blobs')
      .values({ repository: 'gc/app', digest: d, created_at: Date.now() })
      .execute();
    await berth.db.kysely.deleteFrom('blobs').where('digest', '=', d).execute();
    age(Keys.blob(d), 2 * HOUR);
    expect((await berth.cleanup.run({ protectionSeconds: 0 })).removed.strayFiles).toBe(0);
    expect(await berth.store.stat(Keys.blob(d))).not.toBeNull();
  });
});
