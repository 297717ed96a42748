// Quotas on every write path: a blob upload, a mount, a manifest push, an archive upload or a restore that would
// take a quota past its limit is refused with DENIED naming the quota, the usage and the size, and stores nothing.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { http, startTestServer, type TestServer } from '../helpers/in-process.js';
import { dirImage, sha, tarOf } from '../helpers/images.js';
import { snapshot, type Snapshot } from '../helpers/state.js';
import { ociImage, Registry, sep } from './oci.js';

let s: TestServer;
let reg: Registry;

beforeAll(async () => {
  s = await startTestServer('quotas');
  reg = new Registry(s.url);
});
afterAll(async () => s?.close());

async function setQuota(pattern: string, limit: number | string): Promise<void> {
  const r = await http('PUT', `${s.url}/api/v1/quotas`, JSON.stringify({ pattern, limit }), {
    'content-type': 'application/json',
  });
  expect(r.status, r.body.toString()).toBe(200);
}

/** What quotas count for a repository (it may not exist yet: pending pushes only). */
const usage = async (name: string): Promise<number> => (await s.berth.quotas.of(name)).bytes;

/**
 * Runs `write`, expects 403 DENIED naming the quota, its usage and the refused size, and that nothing changed since
 * `before` (default: just before the write).
 */
async function refused(
  write: () => Promise<{ status: number; json(): any; body: Buffer }>, // eslint-disable-line @typescript-eslint/no-explicit-any
  expected: { quota: string; limit: number; usage: number; size: number },
  before?: Snapshot,
): Promise<void> {
  before ??= await snapshot(s.berth, s.data);
  const r = await write();
  expect(r.status, r.body.toString()).toBe(403);
  const err = r.json().errors[0];
  expect(err.code).toBe('DENIED');
  expect(err.detail).toEqual(expected);
  expect(err.message).toContain(`quota ${expected.quota} exceeded`);
  expect(err.message).toContain(`(${expected.usage} bytes) of`);
  expect(err.message).toContain(`(${expected.limit} bytes)`);
  expect(err.message).toContain(`would add`);
  expect(err.message).toContain(`(${expected.size} bytes)`);
  expect(await snapshot(s.berth, s.data)).toEqual(before);
}

/** Opens a session and sends `bytes` as a chunk: what a PUT then finishes. */
async function sessionWith(repo: string, bytes: Buffer): Promise<string> {
  const start = await reg.startSession(repo);
  expect(start.status).toBe(202);
  const patch = await http('PATCH', reg.url(start.headers.location), bytes, {
    'content-type': 'application/octet-stream',
  });
  expect(patch.status, patch.body.toString()).toBe(202);
  return reg.url(patch.headers.location);
}

const finish = (location: string, bytes: Buffer) =>
  http('PUT', `${location}${sep(location)}digest=${sha(bytes)}`);

describe('blob uploads', () => {
  it('a PUT finishing a blob past the quota is refused, and the session goes with its bytes', async () => {
    await setQuota('qput/app', 1000);
    const first = randomBytes(600);
    await reg.pushBlob('qput/app', first); // pending, awaiting a manifest: it counts
    const second = randomBytes(600);
    const before = await snapshot(s.berth, s.data);
    const location = await sessionWith('qput/app', second);
    // the session (row and file) is gone as well: the store and the database are as before it was opened
    await refused(
      () => finish(location, second),
      { quota: 'qput/app', limit: 1000, usage: 600, size: 600 },
      before,
    );
    expect((await http('GET', location)).status).toBe(404);
  });

  it('a monolithic POST past the quota is refused; a blob the repository holds already adds nothing and passes', async () => {
    await setQuota('qmono/app', 1000);
    const first = randomBytes(700);
    expect((await reg.monolithic('qmono/app', first)).status).toBe(201);
    const second = randomBytes(400);
    await refused(() => reg.monolithic('qmono/app', second), {
      quota: 'qmono/app',
      limit: 1000,
      usage: 700,
      size: 400,
    });
    expect((await reg.monolithic('qmono/app', first)).status).toBe(201);
    expect((await reg.monolithic('qmono/app', randomBytes(300))).status).toBe(201); // exactly the limit
    expect(await usage('qmono/app')).toBe(1000);
  });

  it('pushing many blobs without a manifest cannot get past it: pending blobs count', async () => {
    await setQuota('qpending/app', 2000);
    for (let i = 0; i < 4; i++) await reg.pushBlob('qpending/app', randomBytes(500));
    expect(await usage('qpending/app')).toBe(2000);
    await refused(() => reg.monolithic('qpending/app', randomBytes(1)), {
      quota: 'qpending/app',
      limit: 2000,
      usage: 2000,
      size: 1,
    });
  });
});

describe('manifest pushes, mounts, archive uploads and restores', () => {
  it('a manifest whose own bytes would exceed the quota is refused; at exactly the limit it passes', async () => {
    const img = ociImage({ n: 1 });
    for (const b of img.blobs) await reg.pushBlob('qman/app', b);
    const blobs = img.blobs.reduce((n, b) => n + b.length, 0);
    await setQuota('qman/app', blobs + img.bytes.length - 1);
    await refused(() => reg.putManifest('qman/app', 'v1', img.bytes, img.mediaType), {
      quota: 'qman/app',
      limit: blobs + img.bytes.length - 1,
      usage: blobs,
      size: img.bytes.length,
    });
    await setQuota('qman/app', blobs + img.bytes.length);
    expect((await reg.putManifest('qman/app', 'v1', img.bytes, img.mediaType)).status).toBe(201);
    expect(await usage('qman/app')).toBe(blobs + img.bytes.length);
  });

  it('a cross-repository mount past the quota is refused (no fallback upload session is opened)', async () => {
    const blob = randomBytes(800);
    await reg.pushBlob('qmount/source', blob);
    await setQuota('qmount/dest', 500);
    await refused(
      () =>
        reg.req('POST', `/v2/qmount/dest/blobs/uploads/?mount=${sha(blob)}&from=qmount/source`, undefined, {
          'content-length': '0',
        }),
      { quota: 'qmount/dest', limit: 500, usage: 0, size: 800 },
    );
    await setQuota('qmount/dest', 800);
    const ok = await reg.req('POST', `/v2/qmount/dest/blobs/uploads/?mount=${sha(blob)}&from=qmount/source`);
    expect(ok.status).toBe(201);
  });

  it('an archive upload past the quota is refused before anything moves into place', async () => {
    const img = dirImage({ n: 2 });
    const archive = await tarOf(img.entries);
    const bytes = img.config.length + img.layers.reduce((n, l) => n + l.length, 0) + img.manifestBytes.length;
    await setQuota('qarch/*', bytes - 1);
    await refused(
      () =>
        http('POST', `${s.url}/api/v1/repositories/qarch/app/-/archives?tag=v1`, archive, {
          'content-type': 'application/x-tar',
        }),
      { quota: 'qarch/*', limit: bytes - 1, usage: 0, size: bytes },
    );
    await setQuota('qarch/*', bytes);
    const ok = await http('POST', `${s.url}/api/v1/repositories/qarch/app/-/archives?tag=v1`, archive, {
      'content-type': 'application/x-tar',
    });
    expect(ok.status, ok.body.toString()).toBe(201);
    expect(await usage('qarch/app')).toBe(bytes);
  });

  it('a restore that would add bytes past the quota is refused; writes adding nothing pass over the quota', async () => {
    const img = ociImage({ n: 1 });
    await reg.pushImage('qrestore/app', img, 'v1');
    const del = await reg.req('DELETE', `/v2/qrestore/app/manifests/${img.digest}`);
    expect(del.status).toBe(202); // the blobs stay in the latest version; the manifest's bytes leave it
    const held = await usage('qrestore/app');
    await setQuota('qrestore/app', held); // full: nothing more fits
    await refused(() => http('POST', `${s.url}/api/v1/repositories/qrestore/app/-/versions/1/restore`), {
      quota: 'qrestore/app',
      limit: held,
      usage: held,
      size: img.bytes.length,
    });
    // a blob the repository holds, pushed again, and a delete: nothing added, so they pass even when full
    await setQuota('qrestore/app', 1);
    expect((await reg.monolithic('qrestore/app', img.layers[0]!)).status).toBe(201);
    const blobDelete = await reg.req('DELETE', `/v2/qrestore/app/blobs/${sha(img.layers[0]!)}`);
    expect(blobDelete.status, blobDelete.body.toString()).toBe(202);
  });

  it('tagging a manifest the repository holds adds nothing and passes over the quota', async () => {
    const img = ociImage({ n: 1 });
    await reg.pushImage('qtag/app', img, 'v1');
    await setQuota('qtag/app', 0);
    expect((await reg.putManifest('qtag/app', 'v2', img.bytes, img.mediaType)).status).toBe(201);
    expect(await reg.tags('qtag/app')).toEqual(['v1', 'v2']);
  });
});

describe('patterns', () => {
  it('a pattern quota sums the repositories matching it, and a blob two of them hold counts for each', async () => {
    await setQuota('qteam/*', 1500);
    const shared = randomBytes(600);
    await reg.pushBlob('qteam/a', shared);
    await reg.pushBlob('qteam/b', shared); // the same bytes, stored once, count again for qteam/b
    await refused(
      () =>
        reg.req('POST', `/v2/qteam/c/blobs/uploads/?mount=${sha(shared)}&from=qteam/a`, undefined, {
          'content-length': '0',
        }),
      { quota: 'qteam/*', limit: 1500, usage: 1200, size: 600 },
    );
    // outside the pattern, nothing counts toward it
    expect((await reg.monolithic('qteamless/x', randomBytes(2000))).status).toBe(201);
    expect((await reg.monolithic('qteam', randomBytes(2000))).status).toBe(201); // team/* does not match team
    const list = await http('GET', `${s.url}/api/v1/quotas`);
    expect(list.json().quotas.find((q: { pattern: string }) => q.pattern === 'qteam/*').usage).toBe(1200);
  });

  it('where several quotas match, every one must hold: the first exceeded is named', async () => {
    await setQuota('qall/*', 1000);
    await setQuota('qall/app', 700);
    await reg.pushBlob('qall/app', randomBytes(600));
    // the repository's own quota is the tighter one
    await refused(() => reg.monolithic('qall/app', randomBytes(200)), {
      quota: 'qall/app',
      limit: 700,
      usage: 600,
      size: 200,
    });
    await reg.pushBlob('qall/other', randomBytes(300));
    // now the pattern's: qall/app has room (600 of 700), the namespace has not (900 of 1000)
    await refused(() => reg.monolithic('qall/app', randomBytes(100 + 1)), {
      quota: 'qall/*',
      limit: 1000,
      usage: 900,
      size: 101,
    });
    expect((await reg.monolithic('qall/app', randomBytes(100))).status).toBe(201);
  });

  it('"*" governs every repository', async () => {
    await setQuota('*', '1TiB');
    const used = (await s.berth.quotas.list()).find((q) => q.pattern === '*')!.usage;
    expect(used).toBeGreaterThan(0);
    await setQuota('*', used);
    await refused(() => reg.monolithic('qstar/x', randomBytes(10)), {
      quota: '*',
      limit: used,
      usage: used,
      size: 10,
    });
    expect((await http('DELETE', `${s.url}/api/v1/quotas?pattern=*`)).status).toBe(204);
    expect((await reg.monolithic('qstar/x', randomBytes(10))).status).toBe(201);
  });
});
