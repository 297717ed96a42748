// Covers fsck on every database backend: each kind of problem made by hand is found, repaired, and then gone.
import { mkdtempSync, rmSync, truncateSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openBerth, type Berth } from '../../app.js';
import { sha256, type Digest } from '../../core/digest.js';
import { MediaTypes } from '../../core/media-types.js';
import { Fsck, type FsckOptions, type FsckReport } from './index.js';
import { removeStaleStaging } from '../leftovers.js';
import { Keys } from '../../storage/cas.js';
import { backends, removeTestDatabase, testDatabaseUrl } from '../../../test/helpers/backend.js';
import type { BerthError } from '../../core/errors.js';
import { storeFiles } from '../../../test/helpers/store-files.js';
import { toContentAddress } from '../../../test/helpers/blob-layout.js';

const HOUR = 3600_000;

async function errorOf(p: Promise<unknown>): Promise<BerthError> {
  try {
    await p;
  } catch (e) {
    return e as BerthError;
  }
  throw new Error('expected an error');
}

describe.each(backends())('fsck on %s', (backend) => {
  let data: string;
  let database: string;
  let berth: Berth;
  let fsck: Fsck;
  let image: { config: Digest; layer: Digest; layerBytes: Buffer; manifest: Digest };

  const { file, put, age } = storeFiles(() => data);
  const run = (opts: FsckOptions = {}): Promise<FsckReport> => fsck.run(opts);
  const kinds = (r: FsckReport): string[] => r.problems.map((p) => p.kind).sort();

  async function pushBlob(bytes: Buffer): Promise<Digest> {
    const digest = sha256(bytes);
    await berth.uploads.monolithic('app', digest, Readable.from([bytes]));
    return digest;
  }

  beforeEach(async () => {
    data = mkdtempSync(join(tmpdir(), 'fsck-'));
    database = await testDatabaseUrl(`fsck-${backend}`, backend);
    berth = await openBerth({ data, database });
    fsck = new Fsck(berth.db.kysely, berth.store);
    const configBytes = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: {} }));
    const layerBytes = Buffer.from(`layer ${'x'.repeat(5000)}`);
    const config = await pushBlob(configBytes);
    const layer = await pushBlob(layerBytes);
    const manifestBytes = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MediaTypes.ociManifest,
        config: { mediaType: MediaTypes.ociConfig, digest: config, size: configBytes.length },
        layers: [{ mediaType: MediaTypes.ociLayerGzip, digest: layer, size: layerBytes.length }],
      }),
    );
    const { digest } = await berth.manifests.put(
      'app',
      { kind: 'tag', tag: 'v1' },
      manifestBytes,
      MediaTypes.ociManifest,
    );
    image = { config, layer, layerBytes, manifest: digest };
    // these cases look at blobs at their content addresses, as a store from before migration 0015 keeps them;
    // those at an upload's object (no copy at commit) are in fsck-objects.test.ts
    for (const d of [config, layer]) await toContentAddress(berth.db.kysely, berth.store, d);
  });

  afterEach(async () => {
    await berth.close();
    await removeTestDatabase(database);
    rmSync(data, { recursive: true, force: true });
  });

  it('finds nothing wrong in a consistent instance, with or without verify', async () => {
    for (const verify of [false, true]) {
      const r = await run({ verify, protectionMs: 0 });
      expect(r.problems).toEqual([]);
      expect(r.clean).toBe(true);
      expect(r.checked).toMatchObject({ blobs: 3, files: 3, references: 2 });
    }
  });

  it('a missing blob file: found, marked missing on repair (404, not 500), present again when pushed again', async () => {
    unlinkSync(file(Keys.blob(image.layer)));
    const found = await run();
    expect(kinds(found)).toEqual(['blob-file-missing']);
    expect(found.problems[0]).toMatchObject({ digest: image.layer, repaired: false });
    expect(found.clean).toBe(false);

    const repaired = await run({ repair: true });
    expect(repaired.problems).toMatchObject([{ kind: 'blob-file-missing', repaired: true }]);
    expect(repaired.missingBlobs).toBe(1);
    expect((await errorOf(berth.blobs.stat('app', image.layer))).code).toBe('BLOB_UNKNOWN');

    // what is lost stays reported until it is pushed again
    const after = await run();
    expect(kinds(after)).toEqual(['blob-marked-missing']);
    expect(after.clean).toBe(false);
    await pushBlob(image.layerBytes);
    expect((await berth.blobs.stat('app', image.layer)).size).toBe(image.layerBytes.length);
    expect((await run({ verify: true })).clean).toBe(true);
  });

  it('a truncated blob file: wrong size, marked missing on repair', async () => {
    truncateSync(file(Keys.blob(image.layer)), 10);
    expect(kinds(await run())).toEqual(['blob-size-wrong']);
    expect((await run({ repair: true })).problems[0]!.repaired).toBe(true);
    expect(kinds(await run())).toEqual(['blob-marked-missing']);
  });

  it('a corrupt blob file of the right size: found only with verify, marked missing on repair', async () => {
    const bad = Buffer.from(image.layerBytes);
    bad[100] = bad[100]! ^ 0xff;
    writeFileSync(file(Keys.blob(image.layer)), bad);
    expect((await run()).problems).toEqual([]);
    expect(kinds(await run({ verify: true }))).toEqual(['blob-digest-wrong']);
    expect((await run({ verify: true, repair: true })).problems[0]!.repaired).toBe(true);
    expect(kinds(await run({ verify: true }))).toEqual(['blob-marked-missing']);
    // the right bytes back in place (a restore from backup): repair --verify marks it present again
    writeFileSync(file(Keys.blob(image.layer)), image.layerBytes);
    expect((await run({ verify: true, repair: true })).problems).toEqual([]);
    expect((await run({ verify: true })).clean).toBe(true);
  });

  it('stray files: old unnamed ones found and removed; claimed and fresh ones are not strays', async () => {
    const old = sha256('old stray');
    const fresh = sha256('fresh stray');
    const claimed = sha256('claimed');
    put(Keys.blob(old), 'old stray', 2 * HOUR);
    put(Keys.blob(fresh), 'fresh stray');
    put(Keys.blob(claimed), 'claimed', 2 * HOUR);
    put('blobs/sha256/zz-temp', 'junk', 2 * HOUR);
    await berth.db.kysely
      .insertInto('blob_claims')
      .values({ id: 'op', digest: claimed, expires_at: Date.now() + HOUR })
      .execute();
    const r = await run();
    expect(r.problems.map((p) => p.key).sort()).toEqual([Keys.blob(old), 'blobs/sha256/zz-temp']);
    expect(kinds(r)).toEqual(['stray-file', 'stray-file']);
    const repaired = await run({ repair: true });
    expect(repaired.problems.every((p) => p.repaired)).toBe(true);
    expect(repaired.clean).toBe(true);
    expect((await run()).problems).toEqual([]);
    expect(await berth.store.stat(Keys.blob(fresh))).not.toBeNull();
    expect(await berth.store.stat(Keys.blob(claimed))).not.toBeNull();
    // with no protection, the fresh one is a stray; the claimed one still is not
    expect((await run({ protectionMs: 0 })).problems.map((p) => p.key)).toEqual([Keys.blob(fresh)]);
  });

  it('repair never removes a stray from under a writer that claims it while fsck is letting go of it', async () => {
    const bytes = 'pushed again right now';
    const d = sha256(bytes);
    put(Keys.blob(d), bytes, 2 * HOUR);
    // the store, except that just before the stray's file is moved or deleted, a writer claims its blob (as an
    // upload of the same bytes does before it moves its copy into place, or relies on the one there)
    const claimFirst = async () => {
      await berth.db.kysely
        .insertInto('blob_claims')
        .values({ id: 'writer', digest: d, expires_at: Date.now() + HOUR })
        .onConflict((oc) => oc.columns(['id', 'digest']).doNothing())
        .execute();
    };
    const store = berth.store;
    const racing: typeof store = new Proxy(store, {
      get(target, prop) {
        if (prop === 'move' || prop === 'delete')
          return async (key: string, ...rest: string[]) => {
            if (key === Keys.blob(d)) await claimFirst();
            return (target[prop] as (...a: string[]) => Promise<void>).call(target, key, ...rest);
          };
        const v = Reflect.get(target, prop) as unknown;
        return typeof v === 'function' ? v.bind(target) : v;
      },
    });
    const r = await new Fsck(berth.db.kysely, racing).run({ repair: true });
    expect(await berth.store.stat(Keys.blob(d))).not.toBeNull();
    expect(r.problems).toMatchObject([{ kind: 'stray-file', key: Keys.blob(d), repaired: true }]);
    expect(r.problems[0]!.detail).toContain('kept, claimed by a writer meanwhile');
  });

  it('finds the same problems, and no false ones, when the listing does not come in the order of the rows', async () => {
    unlinkSync(file(Keys.blob(image.layer)));
    put(Keys.blob(sha256('a stray')), 'a stray', 2 * HOUR);
    const expected = (await run()).problems;
    expect(expected.map((p) => p.kind).sort()).toEqual(['blob-file-missing', 'stray-file']);
    // a store whose listing comes backwards: every row and object meet "late", and are looked at again
    const store = berth.store;
    const backwards: typeof store = new Proxy(store, {
      get(target, prop) {
        if (prop === 'entries')
          return async function* (prefix: string) {
            const all = [];
            for await (const e of target.entries(prefix)) all.push(e);
            yield* all.reverse();
          };
        const v = Reflect.get(target, prop) as unknown;
        return typeof v === 'function' ? v.bind(target) : v;
      },
    });
    const r = await new Fsck(berth.db.kysely, backwards).run();
    expect(r.problems).toEqual(expected);
    expect(r.checked).toMatchObject({ blobs: 3, files: 3 });
  });

  it('upload folders without a session: old ones found and removed; sessions and fresh folders kept', async () => {
    put('uploads/dead/data', 'half a blob', 2 * HOUR);
    put('uploads/young/data', 'a manifest being written');
    const { id } = await berth.uploads.start('app');
    age(Keys.upload(id), 2 * HOUR);
    expect((await run()).problems).toMatchObject([{ kind: 'expired-upload', key: 'uploads/dead/' }]);
    expect((await run({ repair: true })).clean).toBe(true);
    expect((await run()).problems).toEqual([]);
    expect(await berth.store.stat('uploads/dead/data')).toBeNull();
    expect(await berth.store.stat('uploads/young/data')).not.toBeNull();
    expect(await berth.store.stat(Keys.upload(id))).not.toBeNull();
  });

  it('an upload session whose file is gone: found, and the session removed on repair', async () => {
    const { id } = await berth.uploads.start('app');
    await berth.db.kysely
      .updateTable('upload_sessions')
      .set({ updated_at: Date.now() - 2 * HOUR })
      .where('id', '=', id)
      .execute();
    await berth.store.delete(Keys.upload(id));
    expect(kinds(await run())).toEqual(['upload-file-missing']);
    expect((await run({ repair: true })).clean).toBe(true);
    expect((await run()).problems).toEqual([]);
    expect((await errorOf(berth.uploads.status('app', id))).code).toBe('BLOB_UPLOAD_UNKNOWN');
  });

  it('staging folders: old ones found and removed (by fsck and at server start); fresh ones kept', async () => {
    put('staging/crashed/0', 'entry 0', 2 * HOUR);
    put('staging/crashed/1', 'entry 1', 2 * HOUR);
    put('staging/running/0', 'entry 0', 2 * HOUR);
    put('staging/running/1', 'entry being written');
    expect((await run()).problems).toMatchObject([{ kind: 'expired-staging', key: 'staging/crashed/' }]);
    expect(await removeStaleStaging(berth.store)).toEqual(['crashed']);
    expect(await berth.store.stat('staging/running/0')).not.toBeNull();
    put('staging/crashed2/0', 'entry 0', 2 * HOUR);
    expect((await run({ repair: true })).clean).toBe(true);
    expect((await run()).problems).toEqual([]);
    expect(await removeStaleStaging(berth.store, 0, Date.now() + 1000)).toEqual(['running']);
  });

  it('trash left by a cleanup that died: put back when a row names the blob, else removed', async () => {
    const unnamed = sha256('let go');
    await berth.store.move(Keys.blob(image.layer), Keys.trash('c1', image.layer));
    put(Keys.trash('c1', unnamed), 'let go');
    expect(kinds(await run())).toEqual(['blob-file-missing', 'trash-leftover', 'trash-leftover']);
    // the layer's row is marked missing in the same run, and its file put back: repair --verify restores it
    await run({ repair: true });
    expect(await berth.store.stat(Keys.trash('c1', unnamed))).toBeNull();
    expect(await berth.store.stat(Keys.blob(image.layer))).not.toBeNull();
    expect((await run({ repair: true, verify: true })).problems).toEqual([]);
    expect((await run()).clean).toBe(true);
  });

  /** Pushes an index of the image and of `absent` (a child never pushed): a sparse index. */
  async function pushSparseIndex(absent: Digest): Promise<Digest> {
    const manifestSize = (await berth.manifests.get('app', { kind: 'digest', digest: image.manifest })).size;
    const bytes = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MediaTypes.ociIndex,
        manifests: [
          { mediaType: MediaTypes.ociManifest, digest: image.manifest, size: manifestSize },
          { mediaType: MediaTypes.ociManifest, digest: absent, size: 1234 },
        ],
      }),
    );
    const { digest } = await berth.manifests.put(
      'app',
      { kind: 'tag', tag: 'idx' },
      bytes,
      MediaTypes.ociIndex,
    );
    return digest;
  }

  it('a sparse index (a child the repository never held): no problem, and repair adds no row for the child', async () => {
    const absent = sha256(Buffer.from('a manifest berth never saw'));
    await pushSparseIndex(absent);
    for (const repair of [false, true]) {
      const r = await run({ repair, verify: true, protectionMs: 0 });
      expect(r.problems).toEqual([]);
      expect(r.clean).toBe(true);
      expect(r.checked.references).toBe(4); // the image's config and layer, the index's two children
    }
    const rows = await berth.db.kysely
      .selectFrom('blobs')
      .select('digest')
      .where('digest', '=', absent)
      .execute();
    expect(rows).toEqual([]);
  });

  it('an index child that a version holds, whose row is gone: still found', async () => {
    await pushSparseIndex(sha256(Buffer.from('never pushed')));
    await berth.db.kysely.deleteFrom('blobs').where('digest', '=', image.manifest).execute();
    unlinkSync(file(Keys.blob(image.manifest)));
    const r = await run();
    expect(r.problems).toMatchObject([{ kind: 'reference-missing', digest: image.manifest }]);
  });

  it('a manifest whose referenced blob row is gone: found, recorded as missing, restored by a push', async () => {
    await berth.db.kysely.deleteFrom('blobs').where('digest', '=', image.layer).execute();
    unlinkSync(file(Keys.blob(image.layer)));
    const r = await run();
    expect(r.problems).toMatchObject([{ kind: 'reference-missing', digest: image.layer }]);
    expect((await run({ repair: true })).problems[0]!.repaired).toBe(true);
    const row = await berth.db.kysely
      .selectFrom('blobs')
      .select(['size', 'state'])
      .where('digest', '=', image.layer)
      .executeTakeFirstOrThrow();
    expect(row).toEqual({ size: image.layerBytes.length, state: 'missing' }); // size from the manifest
    expect(kinds(await run())).toEqual(['blob-marked-missing']);
    await pushBlob(image.layerBytes);
    expect((await run({ verify: true })).clean).toBe(true);
  });

  it('a reference whose file is still there: the row comes back as missing, and repair --verify restores it', async () => {
    await berth.db.kysely.deleteFrom('blobs').where('digest', '=', image.config).execute();
    expect(kinds(await run({ protectionMs: 0 }))).toEqual(['reference-missing', 'stray-file']);
    await run({ repair: true, protectionMs: 0 });
    expect(await berth.store.stat(Keys.blob(image.config))).not.toBeNull(); // not removed as a stray
    expect(kinds(await run())).toEqual(['blob-marked-missing']);
    await run({ repair: true, verify: true });
    expect((await run({ protectionMs: 0 })).clean).toBe(true);
  });
});
