// `berth serve --store s3://…` on a real Ceph RGW: pushes (chunked and whole), pulls with Range and skopeo land in
// the bucket under the prefix; a missing bucket, wrong keys and credentials in the URL stop it at start, named.
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { storesBytes } from '../helpers/blob-layout.js';
import type { Digest } from '../../src/core/digest.js';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect } from 'vitest';
import { describeUnless, hasCommand, skipUnless } from '../helpers/backend.js';
import { fixture, http } from '../helpers/in-process.js';
import { BIN, skopeo, startRealServer, type RealServer } from '../helpers/real-server.js';
import {
  createTestBucket,
  removeTestBucket,
  S3_ENDPOINT,
  S3_ENV,
  S3_MISSING,
  s3Available,
  testLocation,
} from '../helpers/s3.js';
import { S3BlobStore } from '../../src/storage/s3-blob-store.js';
import { it as plainIt } from 'vitest';

const available = await s3Available();
const itSkopeo = skipUnless(hasCommand('skopeo'), 'skopeo is not installed (apt-get install skopeo)');
const it = plainIt;
const exec = promisify(execFile);
const MiB = 1024 * 1024;

/** Runs `berth serve` expecting it to stop at start; resolves with its stderr. */
async function failedStart(args: string[], env: NodeJS.ProcessEnv = {}): Promise<string> {
  const data = mkdtempSync(join(tmpdir(), 's3-start-'));
  try {
    await exec(process.execPath, [BIN, 'serve', '--listen', '127.0.0.1:0', '--data', data, ...args], {
      env: { ...process.env, ...S3_ENV, AWS_EC2_METADATA_DISABLED: 'true', ...env },
      timeout: 60_000,
    });
  } catch (e) {
    const err = e as { code?: number; stderr?: string; stdout?: string };
    expect(err.code).not.toBe(0);
    return `${err.stderr ?? ''}${err.stdout ?? ''}`;
  } finally {
    rmSync(data, { recursive: true, force: true });
  }
  throw new Error('berth serve started, but should have refused to');
}

describeUnless(available, S3_MISSING)('berth serve --store s3:// on RGW', () => {
  let bucket = '';
  let s: RealServer | undefined;
  let store: S3BlobStore;

  beforeAll(async () => {
    bucket = await createTestBucket('serve');
    s = await startRealServer('s3-serve', {
      args: ['--store', `s3://${bucket}/reg`, '--s3-endpoint', S3_ENDPOINT],
      env: S3_ENV,
    });
    store = new S3BlobStore(testLocation(bucket, 'reg/'));
  });
  afterAll(async () => {
    await s?.stop();
    if (bucket) await removeTestBucket(bucket);
  });

  it('takes a chunked push of 12 MiB and a monolithic one into the bucket, and serves them whole and by Range', async () => {
    const bytes = randomBytes(12 * MiB + 7);
    const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
    const start = await http('POST', `${s!.url}/v2/s3/app/blobs/uploads/`);
    expect(start.status).toBe(202);
    let location = new URL(start.headers.location as string, s!.url).toString();
    for (const [from, to] of [
      [0, 6 * MiB],
      [6 * MiB, bytes.length],
    ] as const) {
      const r = await http('PATCH', location, bytes.subarray(from, to), {
        'content-type': 'application/octet-stream',
        'content-range': `${from}-${to - 1}`,
      });
      expect(r.status, r.body.toString()).toBe(202);
      location = new URL(r.headers.location as string, s!.url).toString();
    }
    const put = await http('PUT', `${location}${location.includes('?') ? '&' : '?'}digest=${digest}`);
    expect(put.status, put.body.toString()).toBe(201);

    const small = Buffer.from('a small blob, pushed whole');
    const smallDigest = `sha256:${createHash('sha256').update(small).digest('hex')}`;
    const mono = await http('POST', `${s!.url}/v2/s3/app/blobs/uploads/?digest=${smallDigest}`, small, {
      'content-type': 'application/octet-stream',
    });
    expect(mono.status, mono.body.toString()).toBe(201);

    const head = await http('HEAD', `${s!.url}/v2/s3/app/blobs/${digest}`);
    expect(head.status).toBe(200);
    expect(Number(head.headers['content-length'])).toBe(bytes.length);
    const whole = await http('GET', `${s!.url}/v2/s3/app/blobs/${digest}`);
    expect(createHash('sha256').update(whole.body).digest('hex')).toBe(digest.slice(7));
    const part = await http('GET', `${s!.url}/v2/s3/app/blobs/${digest}`, undefined, {
      range: `bytes=${6 * MiB - 5}-${6 * MiB + 4}`,
    });
    expect(part.status).toBe(206);
    expect(part.body.equals(bytes.subarray(6 * MiB - 5, 6 * MiB + 5))).toBe(true);
    expect((await http('GET', `${s!.url}/v2/s3/app/blobs/${smallDigest}`)).body.equals(small)).toBe(true);

    // the bytes are in the bucket under the prefix, where their uploads wrote them (no copy at commit); nothing in
    // the data folder's store, no uploads left
    const keys: string[] = [];
    for await (const k of store.list('')) keys.push(k);
    expect(await storesBytes(store, digest as Digest)).toBe(true);
    expect(await storesBytes(store, smallDigest as Digest)).toBe(true);
    expect(keys.filter((k) => k.startsWith('objects/'))).toHaveLength(2);
    expect(keys.filter((k) => k.startsWith('uploads/'))).toEqual([]);
    expect(existsSync(join(s!.data, 'store', 'blobs'))).toBe(false);
  });

  itSkopeo('pushes and pulls an image with skopeo', async () => {
    await skopeo(
      'copy',
      '--quiet',
      '--dest-tls-verify=false',
      `docker-archive:${fixture('base.docker.tar')}`,
      `docker://${s!.hostPort}/s3/base:1`,
    );
    const out = mkdtempSync(join(tmpdir(), 's3-pull-'));
    try {
      await skopeo(
        'copy',
        '--quiet',
        '--src-tls-verify=false',
        `docker://${s!.hostPort}/s3/base:1`,
        `dir:${out}`,
      );
      const manifest = JSON.parse(
        await skopeo('inspect', '--raw', '--tls-verify=false', `docker://${s!.hostPort}/s3/base:1`),
      );
      for (const l of manifest.layers as Array<{ digest: string }>) {
        expect(existsSync(join(out, l.digest.slice(7)))).toBe(true);
        expect(await storesBytes(store, l.digest as Digest)).toBe(true);
      }
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });

  it('refuses to start on a missing bucket, naming bucket, endpoint and S3 code', async () => {
    const err = await failedStart(['--store', 's3://berth-no-such-bucket/x', '--s3-endpoint', S3_ENDPOINT]);
    expect(err).toContain(
      `the S3 bucket "berth-no-such-bucket" at ${S3_ENDPOINT} cannot be used: NoSuchBucket`,
    );
  });

  it('refuses to start with wrong keys, naming the S3 code and never the secret', async () => {
    const secret = 'not-the-secret-0123456789';
    const err = await failedStart(['--store', `s3://${bucket}`, '--s3-endpoint', S3_ENDPOINT], {
      AWS_SECRET_ACCESS_KEY: secret,
    });
    expect(err).toMatch(
      new RegExp(`the S3 bucket "${bucket}" at .* cannot be used: (AccessDenied|SignatureDoesNotMatch)`),
    );
    expect(err).not.toContain(secret);
  });

  it('refuses credentials in the store URL or the endpoint, and S3 options without --store', async () => {
    const inUrl = await failedStart(['--store', 's3://key:topsecret@bucket', '--s3-endpoint', S3_ENDPOINT]);
    expect(inUrl).toContain('the store URL must not hold credentials');
    expect(inUrl).not.toContain('topsecret');
    const inEndpoint = await failedStart([
      '--store',
      's3://bucket',
      '--s3-endpoint',
      'http://key:topsecret@127.0.0.1:1',
    ]);
    expect(inEndpoint).toContain('--s3-endpoint must not hold credentials');
    expect(inEndpoint).not.toContain('topsecret');
    expect(await failedStart(['--s3-endpoint', S3_ENDPOINT])).toContain(
      'go with --store s3://BUCKET[/PREFIX]',
    );
    expect(await failedStart(['--store', 'gs://bucket'])).toContain('is not an S3 store: give s3://BUCKET');
  });
});
