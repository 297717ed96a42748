// Concurrent writes under one quota cannot both pass: the check and the write happen under the quota's row lock.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { http, startTestServer, type TestServer } from '../helpers/in-process.js';
import { sha } from '../helpers/images.js';
import { filesUnder } from '../helpers/state.js';
import { join } from 'node:path';
import { ociImage, Registry, sep } from './oci.js';

let s: TestServer;
let reg: Registry;

beforeAll(async () => {
  s = await startTestServer('quota-races');
  reg = new Registry(s.url);
});
afterAll(async () => s?.close());

async function setQuota(pattern: string, limit: number): Promise<void> {
  const r = await http('PUT', `${s.url}/api/v1/quotas`, JSON.stringify({ pattern, limit }), {
    'content-type': 'application/json',
  });
  expect(r.status, r.body.toString()).toBe(200);
}

/** Opens a session in `repo` holding `bytes`: all that is left is the PUT that finishes it. */
async function readySession(repo: string, bytes: Buffer): Promise<string> {
  const start = await reg.startSession(repo);
  const patch = await http('PATCH', reg.url(start.headers.location), bytes, {
    'content-type': 'application/octet-stream',
  });
  expect(patch.status, patch.body.toString()).toBe(202);
  const location = reg.url(patch.headers.location);
  return `${location}${sep(location)}digest=${sha(bytes)}`;
}

/** files of blobs: at their content addresses, or uploads' objects (sessions in flight included) */
const blobFiles = () =>
  filesUnder(join(s.data, 'store')).filter((f) => f.startsWith('blobs/') || f.startsWith('objects/'));
const uploadFiles = () => filesUnder(join(s.data, 'store')).filter((f) => f.startsWith('uploads/'));

const ROUNDS = 5;
const WRITERS = 6;

describe('racing writers under one quota', () => {
  it('blob uploads finishing at once into repositories of one pattern: exactly one fits, one passes', async () => {
    for (let round = 0; round < ROUNDS; round++) {
      const pattern = `race${round}/*`;
      await setQuota(pattern, 1000); // room for one blob of 600, not two
      const blobs = Array.from({ length: WRITERS }, () => randomBytes(600));
      const filesBefore = blobFiles().length;
      const puts = await Promise.all(blobs.map((b, i) => readySession(`race${round}/r${i % 3}`, b)));
      const answers = await Promise.all(puts.map((url) => http('PUT', url)));
      const statuses = answers.map((a) => a.status).sort();
      expect(statuses, answers.map((a) => a.body.toString()).join('\n')).toEqual([
        201,
        ...Array(WRITERS - 1).fill(403),
      ]);
      for (const a of answers.filter((x) => x.status === 403)) {
        expect(a.json().errors[0].code).toBe('DENIED');
        expect(a.json().errors[0].detail).toMatchObject({
          quota: pattern,
          limit: 1000,
          usage: 600,
          size: 600,
        });
      }
      // the quota holds, only the winner's blob was stored, and no refused session left its bytes behind
      const quota = (await s.berth.quotas.list()).find((q) => q.pattern === pattern)!;
      expect(quota.usage).toBe(600);
      expect(blobFiles().length).toBe(filesBefore + 1);
      expect(uploadFiles()).toEqual([]);
    }
  });

  it('uploads, mounts and manifest pushes racing into one repository: the quota holds', async () => {
    const source = randomBytes(500);
    await reg.pushBlob('racesrc/app', source);
    for (let round = 0; round < ROUNDS; round++) {
      const repo = `racemix${round}/app`;
      const img = ociImage({ n: 1 });
      for (const b of img.blobs) await reg.pushBlob(repo, b);
      const base = (await s.berth.quotas.of(repo)).bytes;
      // room for the manifest and one 500-byte blob, not for two of them
      await setQuota(repo, base + img.bytes.length + 500);
      const uploads = await Promise.all([0, 1].map(() => readySession(repo, randomBytes(500))));
      const answers = await Promise.all([
        ...uploads.map((url) => http('PUT', url)),
        reg.req('POST', `/v2/${repo}/blobs/uploads/?mount=${sha(source)}&from=racesrc/app`, undefined, {
          'content-length': '0',
        }),
        reg.putManifest(repo, 'v1', img.bytes, img.mediaType),
      ]);
      const passed = answers.filter((a) => a.status === 201).length;
      for (const a of answers.filter((x) => x.status !== 201)) {
        expect(a.status, a.body.toString()).toBe(403);
      }
      const used = (await s.berth.quotas.of(repo)).bytes;
      expect(used).toBeLessThanOrEqual(base + img.bytes.length + 500);
      expect(passed).toBeGreaterThanOrEqual(1);
      expect(passed).toBeLessThanOrEqual(2);
    }
  });
});
