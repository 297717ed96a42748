// Cleanup takes unreferenced blobs and (by policy) untagged manifests out of each repository's latest version, as one
// version per repository, then their bytes once no kept version needs them; a manifest push racing it (both backends).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openBerth, type Berth, type BerthConfig } from '../../src/app.js';
import type { Digest } from '../../src/core/digest.js';
import { BerthError } from '../../src/core/errors.js';
import { Manifests } from '../../src/repo/manifests.js';
import type { BlobStore } from '../../src/storage/blob-store.js';
import { Keys } from '../../src/storage/cas.js';
import { backends, removeTestDatabase, testDatabaseUrl, type Backend } from '../helpers/backend.js';
import { sha } from '../helpers/images.js';
import { storesBytes } from '../helpers/blob-layout.js';
import { descriptorOf, indexOf, ociImage, type Image } from './oci.js';

const HOUR = 3600_000;

/**
 * The store, except that the first look at a content address (promote's, before it moves a file into place) waits
 * until `release()`; `reached` settles when it started waiting.
 */
function gatedStore(store: BlobStore) {
  let release!: () => void;
  let reachedNow!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const reached = new Promise<void>((r) => (reachedNow = r));
  let first = true;
  const gated = new Proxy(store, {
    get(target, prop, receiver) {
      // promote (storage/cas.ts) asks whether the content address holds the blob, then moves or deletes
      if (prop === 'stat')
        return async (key: string) => {
          if (first && key.startsWith(Keys.blobsRoot)) {
            first = false;
            reachedNow();
            await gate;
          }
          return target.stat(key);
        };
      const v = Reflect.get(target, prop, receiver);
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
  return { store: gated, reached, release };
}

describe.each(backends())('cleanup of what latest versions no longer need (%s)', (backend: Backend) => {
  let data: string;
  let database: string;
  let berth: Berth;
  const open: Berth[] = [];

  const openAnother = async (extra: Partial<BerthConfig> = {}): Promise<Berth> => {
    const b = await openBerth({ data, database, ...extra });
    open.push(b);
    return b;
  };

  beforeEach(async () => {
    data = mkdtempSync(join(tmpdir(), 'cleanup-unref-'));
    database = await testDatabaseUrl(`cleanup-unref-${backend}`, backend);
    berth = await openAnother();
  });
  afterEach(async () => {
    for (const b of open.splice(0)) await b.close();
    await removeTestDatabase(database);
    rmSync(data, { recursive: true, force: true });
  });

  const pushBlobs = async (b: Berth, repo: string, blobs: Buffer[]) => {
    for (const bytes of blobs) await b.uploads.monolithic(repo, sha(bytes) as Digest, Readable.from([bytes]));
  };
  const push = async (repo: string, img: Image, tag?: string, b: Berth = berth) => {
    await pushBlobs(b, repo, img.blobs);
    return b.manifests.put(
      repo,
      tag ? { kind: 'tag', tag } : { kind: 'digest', digest: img.digest as Digest },
      img.bytes,
      img.mediaType,
    );
  };
  const latest = async (repo: string) => {
    const versions = await berth.history.versions(repo);
    const v = versions.at(-1)!;
    return { ...v, content: await berth.history.content(repo, v.number) };
  };
  const fileExists = (d: string) => storesBytes(berth.store, d as Digest);
  const rowExists = async (d: string) =>
    (await berth.db.kysely
      .selectFrom('blobs')
      .select('digest')
      .where('digest', '=', d)
      .executeTakeFirst()) !== undefined;
  const setUntagged = (repo: string, policy: 'keep' | 'remove' | null, hours: number | null = null) =>
    berth.db.kysely
      .updateTable('repositories')
      .set({ untagged_policy: policy, untagged_after_hours: hours })
      .where('name', '=', repo)
      .execute();
  /** Moves every version of the repository `ms` into the past, as if its pushes were that long ago. */
  const age = async (repo: string, ms: number) => {
    const r = await berth.repositories.get(repo);
    await berth.db.kysely
      .updateTable('repository_versions')
      .set((eb) => ({ created_at: eb('created_at', '-', ms) }))
      .where('repository_id', '=', r.id)
      .execute();
  };

  it('a deleted image’s blobs leave the latest version in one version saying so; retention 1 lets their bytes go', async () => {
    const shared = Buffer.from(`shared ${Math.random()}`);
    const kept = ociImage({ layers: [shared] });
    const gone = ociImage({ layers: [shared, Buffer.from(`own ${Math.random()}`)] });
    await push('unref/app', kept, 'kept');
    await push('unref/app', gone, 'gone');
    await berth.history.setRetention('unref/app', { versions: 1, days: null });
    await berth.manifests.delete('unref/app', { kind: 'digest', digest: gone.digest as Digest });
    const before = await latest('unref/app');
    // nothing pushed longer ago than the protection time: nothing leaves
    const young = await berth.cleanup.run({ protectionSeconds: 3600 });
    expect(young.repositories).toEqual([]);
    expect((await latest('unref/app')).number).toBe(before.number);

    const r = await berth.cleanup.run({ protectionSeconds: 0 });
    const own = [sha(gone.config!), sha(gone.layers[1]!)].sort();
    const bytes = gone.config!.length + gone.layers[1]!.length;
    expect(r.repositories).toEqual([
      { repository: 'unref/app', version: before.number + 1, blobs: 2, bytes, manifests: 0 },
    ]);
    const after = await latest('unref/app');
    expect(after.number).toBe(before.number + 1);
    expect(after.message).toBe('cleanup: removed 2 unreferenced blobs');
    expect(after.content.blobs.map((b) => b.digest).sort()).toEqual([sha(kept.config!), sha(shared)].sort());
    expect(after.content.manifests.map((m) => m.digest)).toEqual([kept.digest]);
    // the same run let their bytes go (and the deleted manifest's), and nothing of the kept image
    for (const d of [...own, gone.digest]) {
      expect(r.digests).toContain(d);
      expect(await fileExists(d)).toBe(false);
      expect(await rowExists(d)).toBe(false);
    }
    for (const d of [kept.digest, sha(kept.config!), sha(shared)]) expect(await fileExists(d)).toBe(true);
    // a second run finds nothing more: no version
    const again = await berth.cleanup.run({ protectionSeconds: 0 });
    expect(again.repositories).toEqual([]);
    expect((await latest('unref/app')).number).toBe(after.number);
  });

  it('blobs pushed long ago stay while their manifest left the version within the protection time', async () => {
    const img = ociImage({ n: 1 });
    await push('unref/recent', img, 'v1');
    await age('unref/recent', 2 * HOUR);
    await berth.db.kysely
      .updateTable('blobs')
      .set((eb) => ({ touched_at: eb('touched_at', '-', 2 * HOUR) }))
      .where(
        'digest',
        'in',
        img.blobs.map((b) => sha(b)),
      )
      .execute();
    await berth.manifests.delete('unref/recent', { kind: 'tag', tag: 'v1' });
    await berth.manifests.delete('unref/recent', { kind: 'digest', digest: img.digest as Digest });
    // deleted just now: a client pushing the image again at once still finds its blobs
    expect((await berth.cleanup.run({ protectionSeconds: 3600 })).repositories).toEqual([]);
    await age('unref/recent', 2 * HOUR);
    const r = await berth.cleanup.run({ protectionSeconds: 3600 });
    expect(r.repositories).toEqual([expect.objectContaining({ repository: 'unref/recent', blobs: 2 })]);
  });

  it('without retention the bytes stay while an older version refers to them; a dry run changes nothing', async () => {
    const img = ociImage({ n: 2 });
    await push('unref/history', img, 'v1');
    await berth.manifests.delete('unref/history', { kind: 'tag', tag: 'v1' });
    await berth.manifests.delete('unref/history', { kind: 'digest', digest: img.digest as Digest });
    const before = await latest('unref/history');
    const dry = await berth.cleanup.run({ protectionSeconds: 0, dryRun: true });
    expect(dry.repositories).toEqual([
      expect.objectContaining({ repository: 'unref/history', version: null, blobs: 3 }),
    ]);
    expect((await latest('unref/history')).number).toBe(before.number);
    const r = await berth.cleanup.run({ protectionSeconds: 0 });
    expect(r.repositories.map((p) => p.blobs)).toEqual([3]);
    expect((await latest('unref/history')).content.blobs).toEqual([]);
    for (const b of img.blobs) expect(await fileExists(sha(b))).toBe(true);
    // restoring the version before the delete brings the image back whole
    await berth.history.restore('unref/history', before.number - 2);
    const m = await berth.manifests.get('unref/history', { kind: 'tag', tag: 'v1' });
    expect(m.digest).toBe(img.digest);
  });

  it('a blob pushed again for a manifest to come (pending) stays in the latest version', async () => {
    const img = ociImage({ n: 1 });
    await push('unref/pending', img, 'v1');
    await berth.manifests.delete('unref/pending', { kind: 'digest', digest: img.digest as Digest });
    await pushBlobs(berth, 'unref/pending', [img.layers[0]!]); // a client re-sends the layer
    const r = await berth.cleanup.run({ protectionSeconds: 0 });
    expect(r.repositories).toEqual([
      expect.objectContaining({ repository: 'unref/pending', blobs: 1 }), // the config only
    ]);
    expect((await latest('unref/pending')).content.blobs.map((b) => b.digest)).toEqual([sha(img.layers[0]!)]);
    // and the manifest can come back
    const again = await berth.manifests
      .put('unref/pending', { kind: 'tag', tag: 'v1' }, img.bytes, img.mediaType)
      .then(
        () => 'pushed',
        (e: BerthError) => (e instanceof BerthError ? e.code : String(e)),
      );
    // the config left the repository: the client must push it again (as the OCI flow does after a HEAD 404)
    expect(again).toBe('MANIFEST_BLOB_UNKNOWN');
    await pushBlobs(berth, 'unref/pending', [img.config!]);
    await berth.manifests.put('unref/pending', { kind: 'tag', tag: 'v1' }, img.bytes, img.mediaType);
  });

  it('untagged manifests go by policy, after their grace; tagged indexes’ children and kept manifests’ referrers stay', async () => {
    const a = ociImage({ n: 1 });
    const b = ociImage({ n: 1 });
    const index = indexOf([a, b]);
    const signature = ociImage({ n: 1, subject: descriptorOf(a), artifactType: 'application/example.sig' });
    const loose = ociImage({ n: 1 }); // untagged, nothing needs it
    const looseSig = ociImage({
      n: 1,
      subject: descriptorOf(loose),
      artifactType: 'application/example.sig',
    });
    for (const img of [a, b, signature, loose, looseSig]) await push('unref/untagged', img);
    await push('unref/untagged', index, 'multi');
    // default: untagged manifests are kept
    expect((await berth.cleanup.run({ protectionSeconds: 0 })).repositories).toEqual([]);
    // remove after 24 hours: all were pushed just now
    await setUntagged('unref/untagged', 'remove', 24);
    expect((await berth.cleanup.run({ protectionSeconds: 0 })).repositories).toEqual([]);
    await age('unref/untagged', 25 * HOUR);
    await berth.history.setRetention('unref/untagged', { versions: 1, days: null }); // so that their bytes go in the same run
    const r = await berth.cleanup.run({ protectionSeconds: 0 });
    expect(r.repositories).toEqual([
      expect.objectContaining({ repository: 'unref/untagged', manifests: 2, blobs: 4 }),
    ]);
    const after = await latest('unref/untagged');
    expect(after.message).toBe('cleanup: removed 4 unreferenced blobs and 2 untagged manifests');
    expect(after.content.manifests.map((m) => m.digest).sort()).toEqual(
      [a.digest, b.digest, index.digest, signature.digest].sort(),
    );
    expect(r.digests).toEqual(expect.arrayContaining([loose.digest, looseSig.digest]));
    for (const img of [a, b, signature])
      for (const x of img.blobs) expect(await fileExists(sha(x))).toBe(true);
  });

  it('a manifest that lost its tag within the grace stays; the server default applies where a repository sets none', async () => {
    const old = ociImage({ n: 1 });
    const next = ociImage({ n: 1 });
    await push('unref/moved', old, 'latest');
    await age('unref/moved', 48 * HOUR);
    await push('unref/moved', next, 'latest'); // `latest` moves: old is untagged from now on
    await push('unref/keep', ociImage({ n: 1 })); // untagged, in a repository that keeps them
    await setUntagged('unref/keep', 'keep');
    const withDefault = await openAnother({ cleanup: { untaggedAfterHours: 1 } });
    expect((await withDefault.cleanup.run({ protectionSeconds: 0 })).repositories).toEqual([]);
    await age('unref/moved', 2 * HOUR);
    await age('unref/keep', 2 * HOUR);
    const r = await withDefault.cleanup.run({ protectionSeconds: 0 });
    expect(r.repositories.map((p) => [p.repository, p.manifests])).toEqual([['unref/moved', 1]]);
    expect((await latest('unref/moved')).content.manifests.map((m) => m.digest)).toEqual([next.digest]);
  });

  /** An image pushed, then its manifest deleted: its blobs are in the latest version, referenced by nothing. */
  const orphaned = async (repo: string) => {
    const img = ociImage({ n: 2 });
    await push(repo, img, 'v1');
    await berth.history.setRetention(repo, { versions: 1, days: null });
    await berth.manifests.delete(repo, { kind: 'digest', digest: img.digest as Digest });
    return img;
  };
  const attempt = (p: Promise<unknown>) =>
    p.then(
      () => 'pushed',
      (e: BerthError) => (e instanceof BerthError ? e.code : String(e)),
    );

  it('a manifest push that checked its blobs before cleanup took them is refused under the lock', async () => {
    const img = await orphaned('unref/before');
    const gated = gatedStore(berth.store);
    // the push checks its blobs (held), claims its manifest and stops while moving the manifest's bytes into place
    const put = attempt(
      new Manifests(berth.db.kysely, gated.store).put(
        'unref/before',
        { kind: 'tag', tag: 'v1' },
        img.bytes,
        img.mediaType,
      ),
    );
    await gated.reached;
    const r = await berth.cleanup.run({ protectionSeconds: 0 });
    expect(r.repositories.map((p) => p.blobs)).toEqual([3]);
    gated.release();
    expect(await put).toBe('MANIFEST_BLOB_UNKNOWN');
    expect((await latest('unref/before')).content.manifests).toEqual([]);
    for (const b of img.blobs) expect(await rowExists(sha(b))).toBe(false);
  });

  it('a manifest push that commits after cleanup’s first look keeps its blobs: the lock’s answer decides', async () => {
    const img = await orphaned('unref/after');
    const r = await berth.cleanup.run({
      protectionSeconds: 0,
      // cleanup has found the blobs unreferenced; the push commits before it takes the lock
      beforePruneLock: async () => {
        await berth.manifests.put('unref/after', { kind: 'tag', tag: 'v1' }, img.bytes, img.mediaType);
      },
    });
    expect(r.repositories).toEqual([]);
    const content = (await latest('unref/after')).content;
    expect(content.manifests.map((m) => m.digest)).toEqual([img.digest]);
    for (const b of img.blobs) {
      expect(content.blobs.map((x) => x.digest)).toContain(sha(b));
      expect(await fileExists(sha(b))).toBe(true);
    }
  });

  it('a manifest push racing cleanup either commits blobs that stay, or is refused: never a removed blob', async () => {
    const other = await openAnother();
    let pushed = 0;
    let refused = 0;
    for (let i = 0; i < 12; i++) {
      const repo = `unref/race${i}`;
      const img = ociImage({ n: 2 });
      await push(repo, img, 'v1');
      await berth.history.setRetention(repo, { versions: 1, days: null });
      await berth.manifests.delete(repo, { kind: 'digest', digest: img.digest as Digest });
      // the client pushes the manifest again (its blobs are in the latest version, unreferenced) while cleanup runs
      const [outcome] = await Promise.all([
        other.manifests.put(repo, { kind: 'tag', tag: 'v1' }, img.bytes, img.mediaType).then(
          () => 'pushed',
          (e: BerthError) => (e instanceof BerthError ? e.code : String(e)),
        ),
        berth.cleanup.run({ protectionSeconds: 0 }),
      ]);
      const content = await latest(repo);
      if (outcome === 'pushed') {
        pushed++;
        expect(content.content.manifests.map((m) => m.digest)).toEqual([img.digest]);
        for (const b of img.blobs) {
          expect(content.content.blobs.map((x) => x.digest)).toContain(sha(b));
          expect(await rowExists(sha(b))).toBe(true);
          expect(await fileExists(sha(b))).toBe(true);
        }
        // and a later cleanup leaves it whole
        await berth.cleanup.run({ protectionSeconds: 0 });
        for (const b of img.blobs) expect(await fileExists(sha(b))).toBe(true);
      } else {
        refused++;
        expect(outcome).toBe('MANIFEST_BLOB_UNKNOWN');
        expect(content.content.manifests).toEqual([]);
      }
    }
    console.log(`race of manifest push and cleanup (${backend}): ${pushed} pushed, ${refused} refused`);
    expect(pushed + refused).toBe(12);
  });
});
