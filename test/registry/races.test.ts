// Races between writers of one repository or one upload session: a blob DELETE against a manifest push that needs
// the blob, and an upload's cancel against the PUT finishing it. Deterministic orders first, then bounded rounds.
import { randomBytes } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { http, startTestServer, type HttpResult, type TestServer } from '../helpers/in-process.js';
import { sha } from '../helpers/images.js';
import { code, ociImage, Registry, sep } from './oci.js';
import { Keys } from '../../src/storage/cas.js';

let s: TestServer;
let reg: Registry;

beforeAll(async () => {
  s = await startTestServer('races');
  reg = new Registry(s.url);
});
afterAll(async () => s?.close());

const ROUNDS = 30;
const del = (path: string) => reg.req('DELETE', `/v2/${path}`);
const get = (path: string) => reg.req('GET', `/v2/${path}`);
const answer = (r: HttpResult): string => (r.status < 300 ? String(r.status) : `${r.status} ${code(r)}`);

/** fsck's problems about the given digests (a shared test database may hold other tests' content). */
async function fsckProblems(digests: string[]): Promise<unknown[]> {
  const ours = new Set(digests);
  const report = await s.berth.fsck.run({ repair: false });
  return report.problems.filter((p) => p.digest !== undefined && ours.has(p.digest));
}

describe('a blob that a manifest of the latest version needs cannot be deleted (issue 19 point 4)', () => {
  it('DELETE of a layer or the config of a pushed image: 405 DENIED naming the manifests; nothing changes', async () => {
    const repo = 'race/in-use';
    const img = ociImage({ n: 2 });
    await reg.pushImage(repo, img, 'v1');
    // a second manifest needing the same layer
    const other = ociImage({ layers: [img.layers[0]!] });
    await reg.pushImage(repo, other, 'v2');
    const versions = await reg.versionCount(repo);

    const layer = sha(img.layers[0]!);
    const r = await del(`${repo}/blobs/${layer}`);
    expect(r.status, r.body.toString()).toBe(405);
    expect(code(r)).toBe('DENIED');
    const e = r.json().errors[0];
    expect(e.message).toContain(img.digest);
    expect(e.message).toContain(other.digest);
    expect(e.detail).toEqual({ digest: layer, manifests: [img.digest, other.digest].sort() });
    const config = await del(`${repo}/blobs/${sha(img.config!)}`);
    expect(config.status, config.body.toString()).toBe(405);
    expect(config.json().errors[0].detail.manifests).toEqual([img.digest]);

    expect(await reg.versionCount(repo)).toBe(versions); // no version made
    for (const b of img.blobs) expect((await get(`${repo}/blobs/${sha(b)}`)).status).toBe(200);
    expect((await get(`${repo}/manifests/v1`)).status).toBe(200);
    expect(await fsckProblems([img.digest, other.digest, ...img.blobs.map((b) => sha(b))])).toEqual([]);

    // once no manifest of the latest version needs it, the layer can go
    expect((await del(`${repo}/manifests/${img.digest}`)).status).toBe(202);
    expect((await del(`${repo}/blobs/${sha(img.config!)}`)).status).toBe(202);
    expect((await del(`${repo}/blobs/${layer}`)).status).toBe(405); // `other` still needs it
    expect((await del(`${repo}/manifests/v2`)).status).toBe(202); // the tag alone: the manifest stays
    expect((await del(`${repo}/blobs/${layer}`)).status).toBe(405);
    expect((await del(`${repo}/manifests/${other.digest}`)).status).toBe(202);
    expect((await del(`${repo}/blobs/${layer}`)).status).toBe(202);
  });

  it('a blob both pending and in the latest version, needed there: refused, and still pending afterwards', async () => {
    const repo = 'race/pending-too';
    const img = ociImage({ n: 1 });
    await reg.pushImage(repo, img, 'v1');
    const layer = img.layers[0]!;
    await reg.pushBlob(repo, layer); // pushed again: pending as well
    expect((await del(`${repo}/blobs/${sha(layer)}`)).status).toBe(405);
    // the refusal rolled everything back: with the manifest gone, the blob is still held (pending and in a version)
    expect((await del(`${repo}/manifests/${img.digest}`)).status).toBe(202);
    expect((await del(`${repo}/blobs/${sha(layer)}`)).status).toBe(202);
    expect((await get(`${repo}/blobs/${sha(layer)}`)).status).toBe(404);
  });

  it(`a manifest push racing a DELETE of its layer, ${ROUNDS} rounds: one of them wins, the tag always pulls`, async () => {
    const outcomes = new Map<string, number>();
    const digests: string[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      const repo = 'race/push-delete';
      const img = ociImage({ n: 1 });
      const layer = sha(img.layers[0]!);
      digests.push(img.digest, ...img.blobs.map((b) => sha(b)));
      if (i % 2 === 1) {
        // odd rounds: the layer is in the latest version already, needed by no manifest there
        const first = ociImage({ layers: img.layers });
        await reg.pushImage(repo, first, `first${i}`);
        expect((await del(`${repo}/manifests/${first.digest}`)).status).toBe(202);
      }
      for (const b of img.blobs) await reg.pushBlob(repo, b);
      const [put, gone] = await Promise.all([
        reg.putManifest(repo, `r${i}`, img.bytes, img.mediaType),
        // staggered by 0 to 20 ms, so that both orders happen
        new Promise((r) => setTimeout(r, (i % 5) * 5)).then(() => del(`${repo}/blobs/${layer}`)),
      ]);
      const outcome = `put ${answer(put)}, delete ${answer(gone)}`;
      outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
      expect(
        ['put 201, delete 405 DENIED', 'put 400 MANIFEST_BLOB_UNKNOWN, delete 202'],
        `round ${i}`,
      ).toContain(outcome);
      if (put.status === 201) {
        expect((await get(`${repo}/manifests/r${i}`)).status).toBe(200);
        for (const b of img.blobs) expect((await get(`${repo}/blobs/${sha(b)}`)).status).toBe(200);
      } else {
        expect((await get(`${repo}/blobs/${layer}`)).status).toBe(404);
      }
    }
    console.log(`push against blob delete, ${ROUNDS} rounds:`, Object.fromEntries(outcomes));
    expect(await fsckProblems(digests)).toEqual([]);
  });
});

/** Opens a session holding `first`; returns its URL. */
async function sessionWith(repo: string, first: Buffer): Promise<string> {
  const start = await reg.startSession(repo);
  expect(start.status).toBe(202);
  const patch = await http('PATCH', reg.url(start.headers.location), first, {
    'content-type': 'application/octet-stream',
  });
  expect(patch.status, patch.body.toString()).toBe(202);
  return reg.url(patch.headers.location);
}

const idOf = (url: string): string => new URL(url).pathname.split('/').at(-1)!;
const uploadFile = (id: string): string => join(s.data, 'store', Keys.upload(id));

/** Waits (polling, bounded) until `cond` holds. */
async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (cond()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`timed out waiting until ${what}`);
}

describe('an upload cancelled while a PUT finishes it (issue 19 point 12)', () => {
  it('a DELETE while the PUT writes: 400 BLOB_UPLOAD_INVALID; the PUT then finishes (201); a later DELETE: 404', async () => {
    const repo = 'race/cancel';
    const first = randomBytes(1000);
    const last = randomBytes(1000);
    const blob = Buffer.concat([first, last]);
    const url = await sessionWith(repo, first);
    const id = idOf(url);

    const body = new PassThrough();
    const finishing = http('PUT', `${url}${sep(url)}digest=${sha(blob)}`, body, {
      'content-type': 'application/octet-stream',
      'content-length': String(last.length),
    });
    body.write(last.subarray(0, 500));
    // the PUT holds the session's lease once its bytes reach the session's file
    await until(
      () => existsSync(uploadFile(id)) && statSync(uploadFile(id)).size > first.length,
      'the PUT writes',
    );
    const cancel = await http('DELETE', url);
    expect(cancel.status, cancel.body.toString()).toBe(400);
    expect(code(cancel)).toBe('BLOB_UPLOAD_INVALID');
    expect(cancel.json().errors[0].message).toContain('being written by another request');
    body.end(last.subarray(500));
    const put = await finishing;
    expect(put.status, put.body.toString()).toBe(201);
    const pulled = await get(`${repo}/blobs/${sha(blob)}`);
    expect(pulled.status).toBe(200);
    expect(pulled.body.equals(blob)).toBe(true);

    const again = await http('DELETE', url);
    expect(again.status).toBe(404);
    expect(code(again)).toBe('BLOB_UPLOAD_UNKNOWN');
  });

  it('a DELETE first: 204; the PUT then answers 404 BLOB_UPLOAD_UNKNOWN and stores nothing', async () => {
    const repo = 'race/cancel';
    const blob = randomBytes(800);
    const url = await sessionWith(repo, blob);
    expect((await http('DELETE', url)).status).toBe(204);
    const put = await http('PUT', `${url}${sep(url)}digest=${sha(blob)}`);
    expect(put.status).toBe(404);
    expect(code(put)).toBe('BLOB_UPLOAD_UNKNOWN');
    expect((await get(`${repo}/blobs/${sha(blob)}`)).status).toBe(404);
    expect(existsSync(join(s.data, 'store', Keys.objectDir(idOf(url))))).toBe(false);
  });

  it(`PUT and DELETE of one session side by side, ${ROUNDS} rounds: never a 500, one clean winner`, async () => {
    const repo = 'race/cancel-rounds';
    const outcomes = new Map<string, number>();
    for (let i = 0; i < ROUNDS; i++) {
      const first = randomBytes(4096);
      const last = randomBytes(4096);
      const blob = Buffer.concat([first, last]);
      const url = await sessionWith(repo, first);
      const [put, cancel] = await Promise.all([
        http('PUT', `${url}${sep(url)}digest=${sha(blob)}`, last, {
          'content-type': 'application/octet-stream',
        }),
        // staggered by 0 to 4 ms, so that both orders happen
        new Promise((r) => setTimeout(r, i % 5)).then(() => http('DELETE', url)),
      ]);
      const outcome = `put ${answer(put)}, delete ${answer(cancel)}`;
      outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
      expect(
        [
          'put 201, delete 400 BLOB_UPLOAD_INVALID',
          'put 201, delete 404 BLOB_UPLOAD_UNKNOWN',
          'put 404 BLOB_UPLOAD_UNKNOWN, delete 204',
        ],
        `round ${i}`,
      ).toContain(outcome);
      const pulled = await get(`${repo}/blobs/${sha(blob)}`);
      if (put.status === 201) expect(pulled.body.equals(blob)).toBe(true);
      else expect(pulled.status).toBe(404);
      // the session is gone either way, with its files
      expect((await http('GET', url)).status).toBe(404);
      // (a finished session's object is the blob's now: no copy at commit)
      expect(existsSync(join(s.data, 'store', Keys.objectDir(idOf(url))))).toBe(put.status === 201);
    }
    console.log(`upload finish against cancel, ${ROUNDS} rounds:`, Object.fromEntries(outcomes));
  });
});
