// The S3 server tests run against (a real Ceph RGW started by ../shared/tools/s3/ceph-up.sh), and a bucket per test file.
//
// BERTH_TEST_S3_ENDPOINT (default http://127.0.0.1:7480, the script's) with BERTH_TEST_S3_ACCESS_KEY and
// BERTH_TEST_S3_SECRET_KEY (default: the script's test user berthkey/berthsecret), which become this process's
// AWS_* variables (and a berth child's). When nothing answers there, the S3 tests skip with that reason locally
// and fail under CI=true (.ci/run starts RGW in its s3 stage).
import { randomUUID } from 'node:crypto';
import {
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectsCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  type S3Client,
} from '@aws-sdk/client-s3';
import { S3BlobStore, type S3StoreOptions } from '../../src/storage/s3-blob-store.js';
import { s3Client, type S3Location } from '../../src/storage/s3-config.js';

export const S3_ENDPOINT = process.env.BERTH_TEST_S3_ENDPOINT || 'http://127.0.0.1:7480';

/** The credentials of the test user, in the environment the SDK (and a berth child process) reads them from. */
export const S3_ENV = {
  AWS_ACCESS_KEY_ID: process.env.BERTH_TEST_S3_ACCESS_KEY || 'berthkey',
  AWS_SECRET_ACCESS_KEY: process.env.BERTH_TEST_S3_SECRET_KEY || 'berthsecret',
  AWS_REGION: 'us-east-1',
};
/** Puts the test user's keys in this process's environment (where the SDK's chain finds them): on first S3 use. */
const useTestKeys = (): void => {
  for (const [k, v] of Object.entries(S3_ENV)) process.env[k] = v;
};

export const S3_MISSING = `no S3 server answers at ${S3_ENDPOINT}: start Ceph RGW with ../shared/tools/s3/ceph-up.sh (or set BERTH_TEST_S3_ENDPOINT)`;

/** Whether an S3 server answers at the endpoint (any HTTP answer counts). */
export async function s3Available(): Promise<boolean> {
  try {
    await fetch(S3_ENDPOINT, { signal: AbortSignal.timeout(3000) });
    return true;
  } catch {
    return false;
  }
}

export const testLocation = (bucket: string, prefix = ''): S3Location => ({
  bucket,
  prefix,
  endpoint: S3_ENDPOINT,
  region: S3_ENV.AWS_REGION,
  forcePathStyle: true,
});

/** A new, empty bucket named after `label` (lower-case, unique). */
export async function createTestBucket(label: string): Promise<string> {
  useTestKeys();
  const bucket = `berth-${label.toLowerCase().replace(/[^a-z0-9-]/g, '-')}-${randomUUID().slice(0, 8)}`.slice(
    0,
    63,
  );
  await s3Client(testLocation(bucket)).send(new CreateBucketCommand({ Bucket: bucket }));
  return bucket;
}

/** Empties a bucket (objects, in batches, and incomplete multipart uploads) and deletes it. */
export async function removeTestBucket(bucket: string): Promise<void> {
  const store = new S3BlobStore(testLocation(bucket));
  let ContinuationToken: string | undefined;
  do {
    // (a batch delete's page is the listing's: at most 1000 keys)
    const r = await store.client.send(new ListObjectsV2Command({ Bucket: bucket, ContinuationToken }));
    const Objects = (r.Contents ?? []).map((o) => ({ Key: o.Key! }));
    if (Objects.length)
      await store.client.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects, Quiet: true } }));
    ContinuationToken = r.IsTruncated ? r.NextContinuationToken : undefined;
  } while (ContinuationToken);
  await store.abortUploads('');
  await store.client.send(new DeleteBucketCommand({ Bucket: bucket }));
}

/** The keys of the incomplete multipart uploads under a full key prefix. */
export async function openUploads(client: S3Client, bucket: string, prefix: string): Promise<string[]> {
  const r = await client.send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: prefix }));
  return (r.Uploads ?? []).map((u) => u.Key!);
}

/** A store on a fresh prefix of `bucket` (so the tests of one file share a bucket but not their objects). */
export function testStore(bucket: string, opts: S3StoreOptions = {}): S3BlobStore {
  useTestKeys();
  return new S3BlobStore(testLocation(bucket, `t-${randomUUID().slice(0, 8)}/`), opts);
}

/**
 * BERTH_TEST_STORE=s3 runs the servers of test/helpers/in-process.ts and real-server.ts on the S3 store: a bucket
 * per data folder (test/helpers/data-store.ts). Unset (or `files`): the filesystem store under the data folder.
 */
export const testStoreKind = (): 'files' | 's3' => (process.env.BERTH_TEST_STORE === 's3' ? 's3' : 'files');

/** Counts the requests `client` sends, by command name ('HeadObjectCommand', 'DeleteObjectsCommand', …). */
export function countRequests(client: S3Client): Map<string, number> {
  const counts = new Map<string, number>();
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const name = context.commandName ?? '?';
      counts.set(name, (counts.get(name) ?? 0) + 1);
      return next(args);
    },
    { step: 'initialize', name: 'berthTestCountRequests' },
  );
  return counts;
}

/**
 * Makes `client`'s batch deletes fail as some S3-compatible servers' do (RGW itself takes them): 'refused', the
 * whole request answered NotImplemented, nothing deleted; 'per-key', every other key left undeleted and reported
 * in the answer's Errors (InternalError), as S3 reports keys it could not delete.
 */
export function breakBatchDeletes(client: S3Client, how: 'refused' | 'per-key'): void {
  client.middlewareStack.add(
    (next, context) => async (args) => {
      if (context.commandName !== 'DeleteObjectsCommand') return next(args);
      if (how === 'refused') {
        throw Object.assign(new Error('batch delete is not implemented here'), {
          name: 'NotImplemented',
          $metadata: { httpStatusCode: 501 },
        });
      }
      const input = args.input as { Delete: { Objects: { Key: string }[] } };
      const objects = input.Delete.Objects;
      const failed = objects.filter((_, i) => i % 2 === 1);
      const sent = { ...input, Delete: { ...input.Delete, Objects: objects.filter((_, i) => i % 2 === 0) } };
      const r = await next({ ...args, input: sent as unknown as typeof args.input });
      const output = r.output as { Errors?: { Key?: string; Code?: string }[] };
      output.Errors = [
        ...(output.Errors ?? []),
        ...failed.map((o) => ({ Key: o.Key, Code: 'InternalError' })),
      ];
      return r;
    },
    { step: 'initialize', name: 'berthTestBreakBatchDeletes' },
  );
}
