// `berth migrate-store` on a real Ceph RGW: a filesystem store with pushed images copied into a bucket (only what the
// database records), served from S3 with the same bytes; idempotent, resumable, --verify; bad input refused.
import { randomBytes } from 'node:crypto';
import {
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  truncateSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { CreateMultipartUploadCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { openBerth, type Berth } from '../../src/app.js';
import { buildServer } from '../../src/server.js';
import { Keys } from '../../src/storage/cas.js';
import { sha256, type Digest } from '../../src/core/digest.js';
import { S3BlobStore } from '../../src/storage/s3-blob-store.js';
import { describeUnless, hasCommand, removeTestDatabase, testDatabaseUrl } from '../helpers/backend.js';
import { runBerthOffline } from '../helpers/cli.js';
import { ADMIN, http } from '../helpers/in-process.js';
import { dirImage, tarOf, type DirImage } from '../helpers/images.js';
import { skopeo, startRealServer } from '../helpers/real-server.js';
import {
  createTestBucket,
  openUploads,
  removeTestBucket,
  S3_ENDPOINT,
  S3_ENV,
  S3_MISSING,
  s3Available,
  testLocation,
} from '../helpers/s3.js';

const available = await s3Available();
const MiB = 1024 * 1024;

describeUnless(available, S3_MISSING)('berth migrate-store into S3 (RGW)', () => {
  let data = '';
  let database = '';
  let bucket = '';
  let berth: Berth | undefined;
  let close: (() => Promise<void>) | undefined;
  let images: Array<{ repo: string; tag: string; image: DirImage }> = [];
  let rows: Array<{ digest: Digest; size: number }> = [];
  const to = (prefix: string) => ['--to', `s3://${bucket}/${prefix}`, '--s3-endpoint', S3_ENDPOINT];
  const migrate = (...args: string[]) =>
    runBerthOffline(['migrate-store', '--data', data, '--database', database, ...args]);
  const store = (prefix: string) => new S3BlobStore(testLocation(bucket, `${prefix}/`));
  const keysOf = async (prefix: string): Promise<string[]> => {
    const keys: string[] = [];
    for await (const k of store(prefix).list('')) keys.push(k);
    return keys.sort();
  };
  const file = (digest: Digest) => join(data, 'store', ...Keys.blob(digest).split('/'));

  beforeAll(async () => {
    bucket = await createTestBucket('migrate');
    data = mkdtempSync(join(tmpdir(), 'migrate-'));
    database = await testDatabaseUrl('migrate');
    // the source: a server on the filesystem store, whatever BERTH_TEST_STORE says
    berth = await openBerth({ data, database });
    await berth.auth.users.ensureAdmin(ADMIN.password);
    const app = buildServer(berth, { logLevel: 'silent' });
    await app.listen({ host: '127.0.0.1', port: 0 });
    const url = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
    close = async () => {
      await app.close();
      close = undefined;
    };
    const a = dirImage({ n: 2 });
    // 12 MiB: more than one part of a multipart upload; shares a layer with a
    const b = dirImage({ layers: [randomBytes(12 * MiB + 3), a.layers[0]!] });
    const c = dirImage({ n: 1 });
    images = [
      { repo: 'team/a', tag: '1', image: a },
      { repo: 'team/b', tag: 'big', image: b },
      { repo: 'other/c', tag: 'x', image: c },
    ];
    for (const { repo, tag, image } of images) {
      const r = await http(
        'POST',
        `${url}/api/v1/repositories/${repo}/-/archives?tag=${tag}`,
        await tarOf(image.entries),
        { 'content-type': 'application/x-tar' },
      );
      expect(r.status, r.body.toString()).toBe(201);
    }
    rows = (await berth.db.kysely.selectFrom('blobs').select(['digest', 'size']).execute()) as typeof rows;
    // what the database does not record: never copied
    const leftovers = ['uploads/u1/data', 'staging/s1/0', `trash/t1/${'ab'.repeat(32)}`];
    leftovers.push(Keys.blob(sha256('a stray file no row names')));
    for (const k of leftovers) {
      const p = join(data, 'store', ...k.split('/'));
      mkdirSync(dirname(p), { recursive: true });
      writeFileSync(p, 'leftover');
    }
  });

  afterAll(async () => {
    await close?.();
    await berth?.close();
    if (data) rmSync(data, { recursive: true, force: true });
    if (database) await removeTestDatabase(database);
    if (bucket) await removeTestBucket(bucket);
  });

  it('copies every blob the database records, and only those, while the source serves', async () => {
    expect(rows.length).toBe(2 + 1 + 1 + 3 + 3); // layers: a 2, b 1 new, c 1; 3 configs, 3 manifests
    const r = await migrate(...to('reg'));
    expect(r.err).not.toContain('berth:');
    expect(r.code, r.err).toBe(0);
    const bytes = rows.reduce((n, x) => n + x.size, 0);
    expect(r.out).toContain(`copied ${rows.length} blobs`);
    expect(r.out).toContain('already there: 0 blobs');
    expect(r.err).toMatch(new RegExp(`migrate-store: ${rows.length}/${rows.length} blobs, .*, done`));
    expect(await keysOf('reg')).toEqual(rows.map((x) => Keys.blob(x.digest)).sort());
    for (const x of rows) expect((await store('reg').stat(Keys.blob(x.digest)))?.size).toBe(x.size);
    expect(bytes).toBeGreaterThan(12 * MiB);
  });

  it('a second run copies nothing and leaves the objects as they are', async () => {
    const before = await Promise.all(rows.map((x) => store('reg').stat(Keys.blob(x.digest))));
    const r = await migrate(...to('reg'), '--json');
    expect(r.code, r.err).toBe(0);
    const report = JSON.parse(r.out);
    expect(report.copied).toEqual({ count: 0, bytes: 0 });
    expect(report.present.count).toBe(rows.length);
    expect(report.failed).toEqual([]);
    const after = await Promise.all(rows.map((x) => store('reg').stat(Keys.blob(x.digest))));
    expect(after.map((s) => s?.modifiedAt.getTime())).toEqual(before.map((s) => s?.modifiedAt.getTime()));
  });

  it('takes the store of --from DIR, the data folder berth serve uses', async () => {
    const r = await runBerthOffline(['migrate-store', '--from', data, '--database', database, ...to('reg')]);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toContain(`copying blobs from ${join(data, 'store')} to s3://${bucket}/reg/`);
    expect(r.out).toContain(`already there: ${rows.length} blobs`);
  });

  it('resumes: copies what is missing at the destination and aborts an interrupted run’s unfinished upload', async () => {
    const gone = rows[0]!;
    await store('reg').delete(Keys.blob(gone.digest));
    const s3 = store('reg');
    const half = `reg/${Keys.blob(rows[1]!.digest)}`;
    await s3.client.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: half }));
    expect(await openUploads(s3.client, bucket, 'reg/blobs/')).toEqual([half]);
    const r = await migrate(...to('reg'));
    expect(r.code, r.err).toBe(0);
    expect(r.out).toContain('copied 1 blob (');
    expect(r.out).toContain(`already there: ${rows.length - 1} blobs`);
    expect(r.out).toContain('aborted 1 unfinished upload under blobs/');
    expect(await openUploads(s3.client, bucket, 'reg/blobs/')).toEqual([]);
    expect((await s3.stat(Keys.blob(gone.digest)))?.size).toBe(gone.size);
  });

  it('--verify finds and replaces an object of the right size with the wrong bytes; without it, size is all', async () => {
    const victim = rows.find((x) => x.size > 100)!;
    const s3 = store('reg');
    await s3.client.send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: `reg/${Keys.blob(victim.digest)}`,
        Body: randomBytes(victim.size),
      }),
    );
    const plain = await migrate(...to('reg'));
    expect(plain.out).toContain('copied 0 blobs');
    const r = await migrate(...to('reg'), '--verify');
    expect(r.code, r.err).toBe(0);
    expect(r.out).toContain('copied 1 blob (');
    expect(r.out).toContain('of which 1 replaced an object of the wrong size or bytes');
    expect(r.out).toContain(`already there: ${rows.length - 1} blobs`);
    const back = Buffer.concat(await (await s3.reader(Keys.blob(victim.digest))).toArray());
    expect(sha256(back)).toBe(victim.digest);
  });

  it('copies from one S3 store into another', async () => {
    const r = await migrate('--from', `s3://${bucket}/reg`, '--from-s3-endpoint', S3_ENDPOINT, ...to('copy'));
    expect(r.code, r.err).toBe(0);
    expect(r.out).toContain(`copied ${rows.length} blobs`);
    expect(await keysOf('copy')).toEqual(rows.map((x) => Keys.blob(x.digest)).sort());
  });

  it('berth serve --store s3:// then serves every image with the same bytes, with an empty data folder', async () => {
    await close?.();
    const s = await startRealServer('migrated', {
      database,
      args: ['--store', `s3://${bucket}/reg`, '--s3-endpoint', S3_ENDPOINT],
      env: S3_ENV,
    });
    try {
      for (const { repo, tag, image } of images) {
        const m = await http('GET', `${s.url}/v2/${repo}/manifests/${tag}`, undefined, {
          accept: 'application/vnd.oci.image.manifest.v1+json',
        });
        expect(m.status).toBe(200);
        expect(m.body.equals(image.manifestBytes)).toBe(true);
        const blobs: Array<[string, Buffer]> = [
          [sha256(image.config), image.config],
          ...image.layers.map((l, i): [string, Buffer] => [image.layerDigests[i]!, l]),
        ];
        for (const [digest, bytes] of blobs) {
          const g = await http('GET', `${s.url}/v2/${repo}/blobs/${digest}`);
          expect(g.status).toBe(200);
          expect(g.body.equals(bytes)).toBe(true);
        }
      }
      // and a real client pulls the image with the 12 MiB layer
      if (hasCommand('skopeo')) {
        const out = mkdtempSync(join(tmpdir(), 'migrate-pull-'));
        try {
          await skopeo(
            'copy',
            '--quiet',
            '--src-tls-verify=false',
            `docker://${s.hostPort}/team/b:big`,
            `dir:${out}`,
          );
          const b = images[1]!.image;
          for (const [i, l] of b.layers.entries()) {
            expect(readFileSync(join(out, b.layerDigests[i]!.slice(7))).equals(l)).toBe(true);
          }
        } finally {
          rmSync(out, { recursive: true, force: true });
        }
      }
    } finally {
      await s.stop();
    }
  });

  it('refuses bad arguments, naming the problem, and writes nothing', async () => {
    const same = await migrate('--from', `s3://${bucket}/reg`, ...to('reg'));
    expect(same.code).toBe(2);
    expect(same.err).toContain(`--from and --to name the same store (s3://${bucket}/reg/)`);
    const notS3 = await migrate('--to', join(data, 'elsewhere'));
    expect(notS3.code).toBe(2);
    expect(notS3.err).toContain('is not an S3 store: give s3://BUCKET[/PREFIX]');
    const fromOpts = await migrate('--from-s3-endpoint', S3_ENDPOINT, ...to('none'));
    expect(fromOpts.code).toBe(2);
    expect(fromOpts.err).toContain(
      '--from-s3-endpoint and --from-s3-region go with --from s3://BUCKET[/PREFIX]',
    );
    const parallel = await migrate('--parallel', '0', ...to('none'));
    expect(parallel.code).toBe(2);
    expect(parallel.err).toContain('"0" is not a number of copies at once: give 1 to 64');
    const noTo = await migrate();
    expect(noTo.code).toBe(2);
    expect(noTo.err).toContain("required option '--to <s3://BUCKET[/PREFIX]>' not specified");
    const noBucket = await migrate('--to', 's3://berth-no-such-bucket-1', '--s3-endpoint', S3_ENDPOINT);
    expect(noBucket.code).toBe(1);
    expect(noBucket.err).toContain(
      `the S3 bucket "berth-no-such-bucket-1" at ${S3_ENDPOINT} cannot be used: NoSuchBucket`,
    );
    const unreachable = await migrate('--to', `s3://${bucket}/none`, '--s3-endpoint', 'http://127.0.0.1:9');
    expect(unreachable.code).toBe(1);
    expect(unreachable.err).toContain(`the S3 bucket "${bucket}" at http://127.0.0.1:9 cannot be used`);
    const noDb = await runBerthOffline(['migrate-store', '--data', join(data, 'nowhere'), ...to('none')]);
    expect(noDb.code).toBe(2);
    expect(noDb.err).toContain(`there is no berth database at ${join(data, 'nowhere', 'berth.db')}`);
    expect(await keysOf('none')).toEqual([]);
  });

  it('reports blobs missing or short in the source (exit 1), copies the rest, and leaves no half object', async () => {
    const big = rows.find((x) => x.size > 12 * MiB)!;
    const small = rows.find((x) => x.size < MiB)!;
    const bigBytes = readFileSync(file(big.digest));
    truncateSync(file(big.digest), 10 * MiB); // short: fails after a first 8 MiB part went up
    unlinkSync(file(small.digest));
    try {
      const r = await migrate(...to('broken'));
      expect(r.code).toBe(1);
      expect(r.out).toContain(`copied ${rows.length - 2} blobs`);
      expect(r.out).toContain(
        `not copied: ${small.digest} (missing): no object at ${Keys.blob(small.digest)} in the source`,
      );
      expect(r.out).toContain(
        `not copied: ${big.digest} (size): ${Keys.blob(big.digest)} holds ${10 * MiB} bytes, its row says ${big.size}`,
      );
      expect(r.err).toContain('berth: migrate-store: 2 blobs not copied');
      const keys = await keysOf('broken');
      expect(keys).not.toContain(Keys.blob(big.digest));
      expect(keys).not.toContain(Keys.blob(small.digest));
      expect(keys.length).toBe(rows.length - 2);
      expect(await openUploads(store('broken').client, bucket, 'broken/')).toEqual([]);
    } finally {
      writeFileSync(file(big.digest), bigBytes);
    }
  });
});
