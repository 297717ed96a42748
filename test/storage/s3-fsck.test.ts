// fsck and cleanup on the S3 store (a real Ceph RGW): strays, missing and wrong-size objects from the listing, --verify
// catching bytes changed in the bucket, more keys than a listing page, repair, batch deletes; `berth fsck --store s3://`.
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { DeleteObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, afterEach, beforeAll, beforeEach, expect, it } from 'vitest';
import { openBerth, type Berth } from '../../src/app.js';
import { sha256, type Digest } from '../../src/core/digest.js';
import type { BerthError } from '../../src/core/errors.js';
import { MediaTypes } from '../../src/core/media-types.js';
import { Cleanup } from '../../src/gc/cleanup.js';
import { Fsck, type FsckOptions, type FsckReport } from '../../src/gc/fsck/index.js';
import { Keys } from '../../src/storage/cas.js';
import { S3BlobStore, type S3StoreOptions } from '../../src/storage/s3-blob-store.js';
import type { S3Location } from '../../src/storage/s3-config.js';
import { describeUnless, removeTestDatabase, testDatabaseUrl } from '../helpers/backend.js';
import { BIN } from '../helpers/real-server.js';
import { toContentAddress } from '../helpers/blob-layout.js';
import {
  breakBatchDeletes,
  countRequests,
  createTestBucket,
  removeTestBucket,
  S3_ENDPOINT,
  S3_ENV,
  S3_MISSING,
  s3Available,
  testLocation,
} from '../helpers/s3.js';
import { readObject, writeObject } from './blob-store.contract.js';

const available = await s3Available();
const HOUR = 3600_000;
const kinds = (r: FsckReport): string[] => r.problems.map((p) => p.kind).sort();

describeUnless(available, S3_MISSING)('fsck and cleanup on the S3 store (RGW)', () => {
  let bucket = '';
  let location: S3Location;
  let data: string;
  let database: string;
  let berth: Berth;
  let image: { config: Digest; layer: Digest; layerBytes: Buffer; manifest: Digest };

  /** A store of its own (own client, so its requests can be counted) on the instance's bucket and prefix. */
  const storeOf = (opts: S3StoreOptions = {}) => {
    const store = new S3BlobStore(location, opts);
    return { store, requests: countRequests(store.client) };
  };
  const fsck = (opts: FsckOptions = {}, store = berth.store): Promise<FsckReport> =>
    new Fsck(berth.db.kysely, store).run(opts);
  /** Writes an object straight into the bucket, as an operator or a broken disk would. */
  const putObject = (key: string, body: Buffer) =>
    (berth.store as S3BlobStore).client.send(
      new PutObjectCommand({ Bucket: bucket, Key: location.prefix + key, Body: body }),
    );
  const deleteObject = (key: string) =>
    (berth.store as S3BlobStore).client.send(
      new DeleteObjectCommand({ Bucket: bucket, Key: location.prefix + key }),
    );
  const keysUnder = async (prefix: string): Promise<string[]> => {
    const keys: string[] = [];
    for await (const k of berth.store.list(prefix)) keys.push(k);
    return keys.sort();
  };
  async function pushBlob(bytes: Buffer): Promise<Digest> {
    const digest = sha256(bytes);
    await berth.uploads.monolithic('app', digest, Readable.from([bytes]));
    return digest;
  }
  async function errorOf(p: Promise<unknown>): Promise<BerthError> {
    try {
      await p;
    } catch (e) {
      return e as BerthError;
    }
    throw new Error('expected an error');
  }
  /** `n` blob rows and their objects written straight (rows unreferenced, touched long ago): digests in order. */
  async function manyBlobs(n: number, label: string): Promise<{ digest: Digest; bytes: Buffer }[]> {
    const blobs = Array.from({ length: n }, (_, i) => {
      const bytes = Buffer.from(`${label} ${i}`);
      return { digest: sha256(bytes), bytes };
    });
    for (let i = 0; i < blobs.length; i += 500) {
      await berth.db.kysely
        .insertInto('blobs')
        .values(
          blobs
            .slice(i, i + 500)
            .map((b) => ({ digest: b.digest, size: b.bytes.length, created_at: 0, touched_at: 0 })),
        )
        .execute();
    }
    const todo = [...blobs];
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        for (let b = todo.pop(); b; b = todo.pop())
          await writeObject(berth.store, Keys.blob(b.digest), b.bytes);
      }),
    );
    return blobs.sort((a, b) => (a.digest < b.digest ? -1 : 1));
  }

  beforeAll(async () => {
    bucket = await createTestBucket('fsck');
  });
  afterAll(async () => {
    if (bucket) await removeTestBucket(bucket);
  });

  beforeEach(async () => {
    location = testLocation(bucket, `t-${randomUUID().slice(0, 8)}/`);
    data = mkdtempSync(join(tmpdir(), 's3-fsck-'));
    database = await testDatabaseUrl('s3-fsck');
    berth = await openBerth({ data, database, s3: location });
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
    // at their content addresses, as a store from before migration 0015 keeps them (uploads' objects, mapped by
    // their rows, are covered on S3 by no-copy.test.ts)
    for (const d of [config, layer]) await toContentAddress(berth.db.kysely, berth.store, d);
  });

  afterEach(async () => {
    await berth.close();
    await removeTestDatabase(database);
    rmSync(data, { recursive: true, force: true });
  });

  it('a consistent bucket: no problem, with or without verify, and no HEAD per row (sizes from the listing)', async () => {
    const { store, requests } = storeOf();
    const plain = await fsck({ protectionMs: 0 }, store);
    expect(plain.problems).toEqual([]);
    expect(plain.clean).toBe(true);
    expect(plain.checked).toMatchObject({ blobs: 3, files: 3, references: 2 });
    expect(requests.get('HeadObjectCommand') ?? 0).toBe(0);
    expect(requests.get('ListObjectsV2Command')).toBeGreaterThan(0);
    expect((await fsck({ verify: true, protectionMs: 0 }, store)).clean).toBe(true);
    expect(requests.get('GetObjectCommand')).toBe(3); // verify reads each object once
  });

  it('a missing object: found, marked missing on repair (BLOB_UNKNOWN), present again when pushed again', async () => {
    await deleteObject(Keys.blob(image.layer));
    const found = await fsck();
    expect(found.problems).toMatchObject([
      { kind: 'blob-file-missing', digest: image.layer, repaired: false },
    ]);
    const repaired = await fsck({ repair: true });
    expect(repaired.problems).toMatchObject([{ kind: 'blob-file-missing', repaired: true }]);
    expect(repaired.missingBlobs).toBe(1);
    expect((await errorOf(berth.blobs.stat('app', image.layer))).code).toBe('BLOB_UNKNOWN');
    expect(kinds(await fsck())).toEqual(['blob-marked-missing']);
    await pushBlob(image.layerBytes);
    expect((await fsck({ verify: true })).clean).toBe(true);
  });

  it('an object of the wrong size: found from the listing, marked missing on repair', async () => {
    await putObject(Keys.blob(image.layer), image.layerBytes.subarray(0, 10));
    const found = await fsck();
    expect(found.problems).toMatchObject([{ kind: 'blob-size-wrong', digest: image.layer }]);
    expect(found.problems[0]!.detail).toContain(`has 10 bytes, its row says ${image.layerBytes.length}`);
    expect((await fsck({ repair: true })).problems[0]!.repaired).toBe(true);
    expect(kinds(await fsck())).toEqual(['blob-marked-missing']);
  });

  it('other bytes of the same size put in the bucket: found only with --verify, marked missing on repair, restored by a verified repair', async () => {
    const bad = Buffer.from(image.layerBytes);
    bad[100] = bad[100]! ^ 0xff;
    await putObject(Keys.blob(image.layer), bad);
    expect((await fsck()).problems).toEqual([]);
    const verified = await fsck({ verify: true });
    expect(verified.problems).toMatchObject([{ kind: 'blob-digest-wrong', digest: image.layer }]);
    expect(verified.problems[0]!.detail).toContain(`hashes to ${sha256(bad)}`);
    expect((await fsck({ verify: true, repair: true })).problems[0]!.repaired).toBe(true);
    expect(kinds(await fsck({ verify: true }))).toEqual(['blob-marked-missing']);
    await putObject(Keys.blob(image.layer), image.layerBytes); // restored from a backup
    expect((await fsck({ verify: true, repair: true })).problems).toEqual([]);
    expect((await fsck({ verify: true })).clean).toBe(true);
  });

  it('strays: old unnamed objects found and removed on repair; claimed and fresh ones are not strays', async () => {
    const old = sha256('old stray');
    const claimed = sha256('claimed');
    await putObject(Keys.blob(old), Buffer.from('old stray'));
    await putObject(Keys.blob(claimed), Buffer.from('claimed'));
    await putObject('blobs/sha256/zz-temp', Buffer.from('junk'));
    await berth.db.kysely
      .insertInto('blob_claims')
      .values({ id: 'op', digest: claimed, expires_at: Date.now() + 4 * HOUR })
      .execute();
    // objects just written are within the protection time (S3 sets their time: fsck looks from later instead)
    expect((await fsck()).problems).toEqual([]);
    const later = Date.now() + 2 * HOUR;
    const found = await fsck({ now: later });
    expect(found.problems.map((p) => [p.kind, p.key]).sort()).toEqual([
      ['stray-file', Keys.blob(old)],
      ['stray-file', 'blobs/sha256/zz-temp'],
    ]);
    const repaired = await fsck({ now: later, repair: true });
    expect(repaired.problems.every((p) => p.repaired)).toBe(true);
    expect(repaired.clean).toBe(true);
    expect(await keysUnder('blobs/')).toEqual(
      [image.config, image.layer, image.manifest, claimed].map((d) => Keys.blob(d)).sort(),
    );
    expect(await keysUnder('trash/')).toEqual([]);
    expect((await fsck({ now: later })).problems).toEqual([]);
  });

  it('more objects than a listing page (1 000): strays, missing and wrong sizes among them found, and repaired', async () => {
    const blobs = await manyBlobs(1100, 'many');
    const missing = [blobs[0]!, blobs[600]!, blobs[1099]!];
    const resized = [blobs[1]!, blobs[1050]!];
    for (const b of missing) await deleteObject(Keys.blob(b.digest));
    for (const b of resized) await putObject(Keys.blob(b.digest), Buffer.from('other size'));
    const strays = ['stray a', 'stray b', 'stray c'].map((t) => sha256(t));
    for (const [i, d] of strays.entries()) await putObject(Keys.blob(d), Buffer.from(`stray ${'abc'[i]}`));

    const { store, requests } = storeOf();
    const found = await fsck({ protectionMs: 0 }, store);
    expect(found.checked).toMatchObject({ blobs: 1103, files: 1103 });
    expect(requests.get('ListObjectsV2Command')).toBeGreaterThanOrEqual(2); // more than one page
    expect(requests.get('HeadObjectCommand')).toBe(missing.length); // one look for each row the listing lacked
    const by = (kind: string) =>
      found.problems
        .filter((p) => p.kind === kind)
        .map((p) => p.digest)
        .sort();
    expect(by('blob-file-missing')).toEqual(missing.map((b) => b.digest).sort());
    expect(by('blob-size-wrong')).toEqual(resized.map((b) => b.digest).sort());
    expect(by('stray-file')).toEqual([...strays].sort());
    expect(found.problems).toHaveLength(8);

    const repaired = await fsck({ protectionMs: 0, repair: true });
    expect(repaired.problems.every((p) => p.repaired)).toBe(true);
    expect(repaired.missingBlobs).toBe(5);
    for (const d of strays) expect(await berth.store.stat(Keys.blob(d))).toBeNull();
    expect(kinds(await fsck({ protectionMs: 0 }))).toEqual(Array(5).fill('blob-marked-missing'));
  });

  it('cleanup: rows first, then the objects, deleted in batches; the image stays whole and fsck is clean', async () => {
    const blobs = await manyBlobs(150, 'unreferenced');
    const { store, requests } = storeOf({ deleteBatch: 60 });
    const report = await new Cleanup(berth.db.kysely, store).run({ protectionSeconds: 0 });
    expect(report.removed.blobs).toBe(150);
    expect(report.removed.bytes).toBe(blobs.reduce((n, b) => n + b.bytes.length, 0));
    expect(await keysUnder('blobs/')).toEqual(
      [image.config, image.layer, image.manifest].map((d) => Keys.blob(d)).sort(),
    );
    expect(await keysUnder('trash/')).toEqual([]);
    // each blob is moved into trash/ (a copy and a delete inside S3), then trash/ goes in batches of 60
    expect(requests.get('DeleteObjectsCommand')).toBe(3);
    expect(requests.get('DeleteObjectCommand')).toBeLessThanOrEqual(150 + 3);
    expect((await readObject(berth.store, Keys.blob(image.layer))).equals(image.layerBytes)).toBe(true);
    expect((await fsck({ verify: true, protectionMs: 0 })).clean).toBe(true);
  });

  it('cleanup on a server that refuses batch deletes, or fails some keys of a batch: every object still goes', async () => {
    for (const how of ['refused', 'per-key'] as const) {
      await manyBlobs(60, `unreferenced ${how}`);
      const { store } = storeOf({ deleteBatch: 25 });
      breakBatchDeletes(store.client, how);
      const report = await new Cleanup(berth.db.kysely, store).run({ protectionSeconds: 0 });
      expect(report.removed.blobs, how).toBe(60);
      expect(await keysUnder('blobs/'), how).toHaveLength(3);
      expect(await keysUnder('trash/'), how).toEqual([]);
    }
    expect((await fsck({ protectionMs: 0 })).clean).toBe(true);
  });

  it('berth fsck --store s3://… finds a stray and a missing object (exit 1), repairs them, then is clean (exit 0)', async () => {
    const stray = sha256('cli stray');
    await putObject(Keys.blob(stray), Buffer.from('cli stray'));
    await deleteObject(Keys.blob(image.config));
    await berth.close();
    const cli = (...args: string[]) =>
      spawnSync(
        process.execPath,
        [
          BIN,
          'fsck',
          '--data',
          data,
          '--database',
          database,
          '--store',
          `s3://${bucket}/${location.prefix}`,
          '--s3-endpoint',
          S3_ENDPOINT,
          '--protection',
          '0',
          ...args,
        ],
        { encoding: 'utf8', env: { ...process.env, ...S3_ENV }, timeout: 60_000 },
      );
    const found = cli();
    expect(found.status, found.stderr).toBe(1);
    expect(found.stdout).toContain(`problem   stray-file  ${Keys.blob(stray)}`);
    expect(found.stdout).toContain(`problem   blob-file-missing  ${Keys.blob(image.config)}`);
    expect(found.stdout).toContain('checked 3 blob rows, 3 blob files');
    expect(found.stderr).toContain('fsck: 2 problems left');
    const repaired = cli('--repair');
    expect(repaired.stdout).toContain('2 problems found, 2 repaired');
    expect(repaired.stdout).toContain('1 blob marked missing');
    berth = await openBerth({ data, database, s3: location });
    await pushBlob(Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: {} })));
    await berth.close();
    const clean = cli('--verify');
    expect(clean.status, clean.stdout + clean.stderr).toBe(0);
    expect(clean.stdout).toContain('no problems found');
    berth = await openBerth({ data, database, s3: location });
  });
});
