// The S3 server of the bench's s3 group (a Ceph RGW, as for the tests): where it is, its keys, and the group's buckets.
//
// BERTH_TEST_S3_ENDPOINT (default http://127.0.0.1:7480), BERTH_TEST_S3_ACCESS_KEY and BERTH_TEST_S3_SECRET_KEY
// (default berthkey / berthsecret: ../shared/tools/s3/ceph-up.sh's test user), as test/helpers/s3.ts reads them.
// BERTH_BENCH_S3_GC: a shell command run after each run's objects are deleted (see docs/benchmarks.md: RGW frees
// deleted objects' space only after rgw_gc_obj_min_wait, 2 h by default, e.g. `radosgw-admin gc process
// --include-all`).
import { randomBytes } from 'node:crypto';
import {
  AbortMultipartUploadCommand,
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectsCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  S3Client,
} from '@aws-sdk/client-s3';
import { runCommand } from './exec.js';

export const S3_ENDPOINT = process.env.BERTH_TEST_S3_ENDPOINT || 'http://127.0.0.1:7480';
export const S3_REGION = 'us-east-1';
export const S3_KEYS = {
  accessKeyId: process.env.BERTH_TEST_S3_ACCESS_KEY || 'berthkey',
  secretAccessKey: process.env.BERTH_TEST_S3_SECRET_KEY || 'berthsecret',
};

/** The keys as the AWS environment variables (berth's S3 client reads them from there). */
export const S3_ENV: NodeJS.ProcessEnv = {
  AWS_ACCESS_KEY_ID: S3_KEYS.accessKeyId,
  AWS_SECRET_ACCESS_KEY: S3_KEYS.secretAccessKey,
  AWS_REGION: S3_REGION,
};

/** Whether something answers HTTP at the endpoint (any answer counts). */
export async function s3Answers(): Promise<boolean> {
  try {
    await fetch(S3_ENDPOINT, { signal: AbortSignal.timeout(3000) });
    return true;
  } catch {
    return false;
  }
}

let client: S3Client | undefined;
function s3(): S3Client {
  // the pinned SDK runs on Node 20; its notice that later releases will need Node 22 is no news here
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  client ??= new S3Client({
    region: S3_REGION,
    endpoint: S3_ENDPOINT,
    forcePathStyle: true,
    credentials: S3_KEYS,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
  return client;
}

/** A new empty bucket `berth-bench-LABEL-RANDOM`. */
export async function createBucket(label: string): Promise<string> {
  const bucket = `berth-bench-${label}-${randomBytes(4).toString('hex')}`;
  await s3().send(new CreateBucketCommand({ Bucket: bucket }));
  return bucket;
}

/** Deletes every object of a bucket (1000 a request) and aborts its incomplete multipart uploads; the count. */
export async function emptyBucket(bucket: string): Promise<number> {
  let deleted = 0;
  for (;;) {
    const page = await s3().send(new ListObjectsV2Command({ Bucket: bucket, MaxKeys: 1000 }));
    const keys = (page.Contents ?? []).map((o) => ({ Key: o.Key! }));
    if (keys.length === 0) break;
    const r = await s3().send(
      new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: keys, Quiet: true } }),
    );
    if (r.Errors?.length) {
      throw new Error(`emptying bucket ${bucket}: ${r.Errors[0]!.Key}: ${r.Errors[0]!.Code}`);
    }
    deleted += keys.length;
  }
  for (;;) {
    const open = await s3().send(new ListMultipartUploadsCommand({ Bucket: bucket }));
    if (!open.Uploads?.length) break;
    for (const u of open.Uploads) {
      await s3().send(
        new AbortMultipartUploadCommand({ Bucket: bucket, Key: u.Key!, UploadId: u.UploadId! }),
      );
    }
  }
  return deleted;
}

/** Empties and deletes a bucket. */
export async function removeBucket(bucket: string): Promise<void> {
  await emptyBucket(bucket);
  await s3().send(new DeleteBucketCommand({ Bucket: bucket }));
}

/** Empties the buckets (unmeasured, between runs), then runs BERTH_BENCH_S3_GC if set. */
export async function emptyBuckets(buckets: string[]): Promise<void> {
  for (const b of buckets) await emptyBucket(b);
  const gc = process.env.BERTH_BENCH_S3_GC;
  if (gc) await runCommand('sh', ['-c', gc]);
}
