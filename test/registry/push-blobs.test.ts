// Blob uploads over HTTP (OCI distribution spec "push"): monolithic, session, streamed and chunked uploads, status, cancel, restart, expiry.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openBerth } from '../../src/app.js';
import { buildServer } from '../../src/server.js';
import { http, startTestServer, type HttpResult, type TestServer, ADMIN } from '../helpers/in-process.js';
import { removeTestDatabase, testDatabaseUrl } from '../helpers/backend.js';
import { sha } from '../helpers/images.js';
import { snapshot } from '../helpers/state.js';
import { code, Registry, sep } from './oci.js';
import { Keys } from '../../src/storage/cas.js';

let s: TestServer;
let reg: Registry;
const REPO = 'push/blobs';

beforeAll(async () => {
  s = await startTestServer('push-blobs');
  reg = new Registry(s.url);
});
afterAll(async () => s?.close());

const octet = { 'content-type': 'application/octet-stream' };
/** The URL of a Location header with `digest=` added. */
const withDigest = (r: HttpResult, digest: string) =>
  `${reg.url(r.headers.location)}${sep(r.headers.location)}digest=${digest}`;
const uploadId = (r: HttpResult) => String(r.headers.location).split('/').pop()!.split('?')[0]!;
/** The folder of a session's bytes (objects/<xx>/<id>/: its object, named by the upload, and nothing else on files). */
const uploadDir = (id: string) => join(s.data, 'store', Keys.objectDir(id));

/** Checks the answer to a request on a live session: Location of the session, Range of what it holds. */
function expectSession(r: HttpResult, status: number, received: number) {
  expect(r.status, r.body.toString()).toBe(status);
  expect(r.headers.location).toMatch(new RegExp(`^/v2/${REPO}/blobs/uploads/[^/?]+`));
  expect(r.headers.range).toBe(`0-${Math.max(received - 1, 0)}`);
  expect(r.headers['docker-upload-uuid']).toBe(uploadId(r));
}

async function expectBlob(repo: string, bytes: Buffer) {
  const r = await reg.req('GET', `/v2/${repo}/blobs/${sha(bytes)}`);
  expect(r.status, r.body.toString()).toBe(200);
  expect(r.body.equals(bytes)).toBe(true);
  expect(r.headers['docker-content-digest']).toBe(sha(bytes));
}

function expectCreated(r: HttpResult, repo: string, digest: string) {
  expect(r.status, r.body.toString()).toBe(201);
  expect(r.headers.location).toBe(`/v2/${repo}/blobs/${digest}`);
  expect(r.headers['docker-content-digest']).toBe(digest);
}

describe('POST /v2/<name>/blobs/uploads/?digest= (monolithic)', () => {
  it('answers 201 with Location and Docker-Content-Digest; the blob is then served', async () => {
    const blob = randomBytes(3000);
    const before = await reg.req('GET', `/v2/${REPO}/blobs/${sha(blob)}`);
    expect(before.status).toBe(404);
    const r = await reg.monolithic(REPO, blob);
    expectCreated(r, REPO, sha(blob));
    await expectBlob(REPO, blob);
    const viaLocation = await http('GET', reg.url(r.headers.location));
    expect(viaLocation.status).toBe(200);
    expect(viaLocation.body.equals(blob)).toBe(true);
  });

  it('an empty blob', async () => {
    const r = await reg.monolithic(REPO, Buffer.alloc(0));
    expectCreated(r, REPO, sha(''));
    const head = await reg.req('HEAD', `/v2/${REPO}/blobs/${sha('')}`);
    expect(head.status).toBe(200);
    expect(head.headers['content-length']).toBe('0');
  });

  it('a wrong digest: 400 DIGEST_INVALID, and nothing is stored (no row, no file)', async () => {
    const blob = randomBytes(2000);
    const wrong = sha(randomBytes(8));
    const before = await snapshot(s.berth, s.data);
    const r = await reg.req('POST', `/v2/${REPO}/blobs/uploads/?digest=${wrong}`, blob, octet);
    expect(r.status).toBe(400);
    expect(code(r)).toBe('DIGEST_INVALID');
    expect(r.json().errors[0].message).toContain(sha(blob));
    expect(await snapshot(s.berth, s.data)).toEqual(before);
    expect((await reg.req('HEAD', `/v2/${REPO}/blobs/${wrong}`)).status).toBe(404);
    expect((await reg.req('HEAD', `/v2/${REPO}/blobs/${sha(blob)}`)).status).toBe(404);
  });

  it('a malformed digest: 400 DIGEST_INVALID', async () => {
    const r = await reg.req('POST', `/v2/${REPO}/blobs/uploads/?digest=sha256:abc`, 'x', octet);
    expect(r.status).toBe(400);
    expect(code(r)).toBe('DIGEST_INVALID');
  });
});

describe('POST /v2/<name>/blobs/uploads/ (a session)', () => {
  it('answers 202 with a relative Location, Range 0-0 and Docker-Upload-UUID', async () => {
    const r = await reg.startSession(REPO);
    expectSession(r, 202, 0);
    expect(String(r.headers.location)).not.toMatch(/^https?:/);
  });

  it('an invalid repository name: 400 NAME_INVALID', async () => {
    const r = await reg.startSession('Not/Valid');
    expect(r.status).toBe(400);
    expect(code(r)).toBe('NAME_INVALID');
  });

  it('POST then PUT with the blob as body: 201; the blob is served', async () => {
    const blob = randomBytes(5000);
    const start = await reg.startSession(REPO);
    const put = await http('PUT', withDigest(start, sha(blob)), blob, octet);
    expectCreated(put, REPO, sha(blob));
    await expectBlob(REPO, blob);
    // the session is finished: it is gone
    const again = await http('GET', reg.url(start.headers.location));
    expect(again.status).toBe(404);
    expect(code(again)).toBe('BLOB_UPLOAD_UNKNOWN');
    // its folder is gone; its bytes stay where they were written, now the blob's (no copy at commit)
    expect(existsSync(join(s.data, 'store', Keys.uploadDir(uploadId(start))))).toBe(false);
    expect(readdirSync(uploadDir(uploadId(start)))).toEqual(['data']);
  });

  it('POST, PATCH (streamed, no Content-Range, no Content-Length), PUT without body: 201', async () => {
    const parts = [randomBytes(70_000), randomBytes(1), randomBytes(33_333)];
    const blob = Buffer.concat(parts);
    const start = await reg.startSession(REPO);
    const patch = await http('PATCH', reg.url(start.headers.location), Readable.from(parts), octet);
    expectSession(patch, 202, blob.length);
    const put = await http('PUT', withDigest(patch, sha(blob)), undefined, { 'content-length': '0' });
    expectCreated(put, REPO, sha(blob));
    await expectBlob(REPO, blob);
  });

  it('a PATCH without Content-Type is accepted too', async () => {
    const blob = randomBytes(100);
    const start = await reg.startSession(REPO);
    const patch = await http('PATCH', reg.url(start.headers.location), blob);
    expectSession(patch, 202, blob.length);
    expectCreated(await http('PUT', withDigest(patch, sha(blob))), REPO, sha(blob));
  });

  it('chunks with Content-Range, each answered 202 with the Range received; PUT with no body finishes', async () => {
    const blob = randomBytes(10_000);
    const cuts = [0, 4097, 4098, 9000, 10_000];
    let last = await reg.startSession(REPO);
    for (let i = 0; i + 1 < cuts.length; i++) {
      const chunk = blob.subarray(cuts[i], cuts[i + 1]);
      last = await http('PATCH', reg.url(last.headers.location), chunk, {
        ...octet,
        'content-range': `${cuts[i]}-${cuts[i + 1]! - 1}`,
      });
      expectSession(last, 202, cuts[i + 1]!);
    }
    const put = await http('PUT', withDigest(last, sha(blob)), undefined, { 'content-length': '0' });
    expectCreated(put, REPO, sha(blob));
    await expectBlob(REPO, blob);
  });

  it('the last chunk may come with the closing PUT', async () => {
    const blob = randomBytes(4000);
    const start = await reg.startSession(REPO);
    const first = await http('PATCH', reg.url(start.headers.location), blob.subarray(0, 1500), {
      ...octet,
      'content-range': '0-1499',
    });
    expectSession(first, 202, 1500);
    const put = await http('PUT', withDigest(first, sha(blob)), blob.subarray(1500), {
      ...octet,
      'content-range': `1500-${blob.length - 1}`,
    });
    expectCreated(put, REPO, sha(blob));
    await expectBlob(REPO, blob);
  });

  it('a last chunk in the PUT whose Content-Range does not start at the session end: 416, the session kept', async () => {
    const blob = randomBytes(400);
    const start = await reg.startSession(REPO);
    const loc = reg.url(start.headers.location);
    expectSession(
      await http('PATCH', loc, blob.subarray(0, 100), { ...octet, 'content-range': '0-99' }),
      202,
      100,
    );
    const wrong = await http('PUT', `${loc}?digest=${sha(blob)}`, blob.subarray(200), {
      ...octet,
      'content-range': '200-399',
    });
    expect(wrong.status).toBe(416);
    expectSession(await http('GET', loc), 204, 100);
    const put = await http('PUT', `${loc}?digest=${sha(blob)}`, blob.subarray(100), {
      ...octet,
      'content-range': '100-399',
    });
    expectCreated(put, REPO, sha(blob));
    await expectBlob(REPO, blob);
  });

  it('an out-of-order chunk, or a chunk sent again, answers 416; the session goes on from where it was', async () => {
    const blob = randomBytes(42);
    const c1 = blob.subarray(0, 22);
    const c2 = blob.subarray(22);
    const start = await reg.startSession(REPO);
    const loc = reg.url(start.headers.location);
    const early = await http('PATCH', loc, c2, { ...octet, 'content-range': `22-41` });
    expect(early.status).toBe(416);
    const ok = await http('PATCH', loc, c1, { ...octet, 'content-range': '0-21' });
    expectSession(ok, 202, 22);
    const again = await http('PATCH', loc, c1, { ...octet, 'content-range': '0-21' });
    expect(again.status).toBe(416);
    const status = await http('GET', loc);
    expectSession(status, 204, 22);
    const second = await http('PATCH', reg.url(status.headers.location), c2, {
      ...octet,
      'content-range': '22-41',
    });
    expectSession(second, 202, 42);
    expectCreated(await http('PUT', withDigest(second, sha(blob))), REPO, sha(blob));
    await expectBlob(REPO, blob);
  });

  it('a malformed Content-Range answers 416 and the session is unchanged', async () => {
    const start = await reg.startSession(REPO);
    const loc = reg.url(start.headers.location);
    const bad = await http('PATCH', loc, 'abc', { ...octet, 'content-range': 'two-three' });
    expect(bad.status).toBe(416);
    expectSession(await http('GET', loc), 204, 0);
  });

  it('a chunk whose length differs from its Content-Range: 400, and the session still holds only what was valid', async () => {
    const blob = randomBytes(300);
    const start = await reg.startSession(REPO);
    const loc = reg.url(start.headers.location);
    const ok = await http('PATCH', loc, blob.subarray(0, 100), { ...octet, 'content-range': '0-99' });
    expectSession(ok, 202, 100);
    const short = await http('PATCH', loc, blob.subarray(100, 150), { ...octet, 'content-range': '100-299' });
    expect(short.status).toBe(400);
    expect(code(short)).toBe('BLOB_UPLOAD_INVALID');
    expectSession(await http('GET', loc), 204, 100);
    const rest = await http('PATCH', loc, blob.subarray(100), { ...octet, 'content-range': '100-299' });
    expectSession(rest, 202, 300);
    expectCreated(await http('PUT', withDigest(rest, sha(blob))), REPO, sha(blob));
    await expectBlob(REPO, blob);
  });
});

describe('GET /v2/<name>/blobs/uploads/<id> (status)', () => {
  it('answers 204 with Location, Range and Docker-Upload-UUID, following the bytes received', async () => {
    const start = await reg.startSession(REPO);
    const loc = reg.url(start.headers.location);
    const empty = await http('GET', loc);
    expectSession(empty, 204, 0);
    expect(empty.body.length).toBe(0);
    await http('PATCH', loc, randomBytes(10), octet);
    expectSession(await http('GET', loc), 204, 10);
  });

  it('an unknown session, or one of another repository: 404 BLOB_UPLOAD_UNKNOWN', async () => {
    const unknown = await reg.req('GET', `/v2/${REPO}/blobs/uploads/no-such-session`);
    expect(unknown.status).toBe(404);
    expect(code(unknown)).toBe('BLOB_UPLOAD_UNKNOWN');
    const start = await reg.startSession(REPO);
    const elsewhere = await reg.req('GET', `/v2/push/other/blobs/uploads/${uploadId(start)}`);
    expect(elsewhere.status).toBe(404);
    expect(code(elsewhere)).toBe('BLOB_UPLOAD_UNKNOWN');
    const patch = await reg.req('PATCH', `/v2/push/other/blobs/uploads/${uploadId(start)}`, 'x', octet);
    expect(patch.status).toBe(404);
    expect(code(patch)).toBe('BLOB_UPLOAD_UNKNOWN');
  });
});

describe('DELETE /v2/<name>/blobs/uploads/<id> (cancel)', () => {
  it('answers 204; then the session is unknown (404 BLOB_UPLOAD_UNKNOWN) and its bytes are gone', async () => {
    const start = await reg.startSession(REPO);
    const loc = reg.url(start.headers.location);
    await http('PATCH', loc, randomBytes(1000), octet);
    expect(existsSync(uploadDir(uploadId(start)))).toBe(true);
    const del = await http('DELETE', loc);
    expect(del.status).toBe(204);
    expect(existsSync(uploadDir(uploadId(start)))).toBe(false);
    for (const [method, body] of [
      ['GET', undefined],
      ['PATCH', 'more'],
      ['PUT', undefined],
      ['DELETE', undefined],
    ] as const) {
      const url = method === 'PUT' ? `${loc}?digest=${sha('')}` : loc;
      const r = await http(method, url, body, body ? octet : {});
      expect(r.status, method).toBe(404);
      expect(code(r), method).toBe('BLOB_UPLOAD_UNKNOWN');
    }
  });
});

describe('PUT /v2/<name>/blobs/uploads/<id>?digest= (finish)', () => {
  it('bytes that do not match the digest: 400 DIGEST_INVALID; nothing stored, the session gone', async () => {
    const blob = randomBytes(2500);
    const wrong = sha(randomBytes(8));
    const before = await snapshot(s.berth, s.data);
    const start = await reg.startSession(REPO);
    const patch = await http('PATCH', reg.url(start.headers.location), blob, octet);
    expect(patch.status).toBe(202);
    const put = await http('PUT', withDigest(patch, wrong));
    expect(put.status).toBe(400);
    expect(code(put)).toBe('DIGEST_INVALID');
    expect(put.json().errors[0].message).toContain(wrong);
    expect(await snapshot(s.berth, s.data)).toEqual(before);
    expect(existsSync(uploadDir(uploadId(start)))).toBe(false);
    expect((await http('GET', reg.url(patch.headers.location))).status).toBe(404);
    expect((await reg.req('HEAD', `/v2/${REPO}/blobs/${sha(blob)}`)).status).toBe(404);
    expect((await reg.req('HEAD', `/v2/${REPO}/blobs/${wrong}`)).status).toBe(404);
  });

  it('a wrong digest with the body in the PUT: 400 DIGEST_INVALID, nothing stored', async () => {
    const blob = randomBytes(700);
    const before = await snapshot(s.berth, s.data);
    const start = await reg.startSession(REPO);
    const put = await http('PUT', withDigest(start, sha(randomBytes(4))), blob, octet);
    expect(put.status).toBe(400);
    expect(code(put)).toBe('DIGEST_INVALID');
    expect(await snapshot(s.berth, s.data)).toEqual(before);
  });

  it('without a digest: 400, and no blob becomes visible', async () => {
    const blob = randomBytes(100);
    const start = await reg.startSession(REPO);
    const put = await http('PUT', reg.url(start.headers.location), blob, octet);
    expect(put.status).toBe(400);
    expect(code(put)).toBe('DIGEST_INVALID');
    expect(put.json().errors[0].message).toMatch(/digest/);
    expect((await reg.req('HEAD', `/v2/${REPO}/blobs/${sha(blob)}`)).status).toBe(404);
  });
});

describe('sessions outlive the process', () => {
  async function serve(data: string, database: string) {
    const berth = await openBerth({ data, database });
    await berth.auth.users.ensureAdmin(ADMIN.password);
    const app = buildServer(berth, { logLevel: 'silent' });
    await app.listen({ host: '127.0.0.1', port: 0 });
    return {
      url: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`,
      // no request is running: kept-alive connections are closed rather than waited for
      close: async () => {
        const closing = app.close();
        app.server.closeAllConnections();
        await closing;
      },
    };
  }

  it('a session begun on one server is continued and finished by a restarted one on the same data and database', async () => {
    const data = mkdtempSync(join(tmpdir(), 'berth-restart-'));
    const database = await testDatabaseUrl('restart');
    try {
      const blob = randomBytes(50_000);
      const first = await serve(data, database);
      const a = new Registry(first.url);
      const start = await a.startSession(REPO);
      const c1 = await http('PATCH', a.url(start.headers.location), blob.subarray(0, 20_000), {
        ...octet,
        'content-range': '0-19999',
      });
      expectSession(c1, 202, 20_000);
      await first.close();

      const second = await serve(data, database);
      try {
        const b = new Registry(second.url);
        // the Location is relative: the same path on the restarted server
        const status = await http('GET', b.url(c1.headers.location));
        expectSession(status, 204, 20_000);
        const c2 = await http('PATCH', b.url(status.headers.location), blob.subarray(20_000), {
          ...octet,
          'content-range': `20000-${blob.length - 1}`,
        });
        expectSession(c2, 202, blob.length);
        const put = await http('PUT', `${b.url(c2.headers.location)}?digest=${sha(blob)}`);
        expectCreated(put, REPO, sha(blob));
        const get = await b.req('GET', `/v2/${REPO}/blobs/${sha(blob)}`);
        expect(get.body.equals(blob)).toBe(true);
      } finally {
        await second.close();
      }
    } finally {
      rmSync(data, { recursive: true, force: true });
      await removeTestDatabase(database);
    }
  });

  it('two servers on one data folder and database share sessions: chunks to either, finished on the first', async () => {
    const data = mkdtempSync(join(tmpdir(), 'berth-two-'));
    const database = await testDatabaseUrl('two-servers');
    const one = await serve(data, database);
    const two = await serve(data, database);
    try {
      const a = new Registry(one.url);
      const b = new Registry(two.url);
      const blob = randomBytes(30_000);
      const start = await a.startSession(REPO);
      const p1 = await http('PATCH', a.url(start.headers.location), blob.subarray(0, 10_000), {
        ...octet,
        'content-range': '0-9999',
      });
      expectSession(p1, 202, 10_000);
      const p2 = await http('PATCH', b.url(p1.headers.location), blob.subarray(10_000, 25_000), {
        ...octet,
        'content-range': '10000-24999',
      });
      expectSession(p2, 202, 25_000);
      // the first server's running hash stops at 10 000 bytes; it must not be taken for the whole
      const p3 = await http('PATCH', a.url(p2.headers.location), blob.subarray(25_000), {
        ...octet,
        'content-range': `25000-${blob.length - 1}`,
      });
      expectSession(p3, 202, blob.length);
      expectCreated(await http('PUT', `${a.url(p3.headers.location)}?digest=${sha(blob)}`), REPO, sha(blob));
      expect((await b.req('GET', `/v2/${REPO}/blobs/${sha(blob)}`)).body.equals(blob)).toBe(true);
    } finally {
      await one.close();
      await two.close();
      rmSync(data, { recursive: true, force: true });
      await removeTestDatabase(database);
    }
  });
});

describe('expiry', () => {
  it('sessions untouched past the expiry are removed with their files; live ones stay', async () => {
    const old = await reg.startSession(REPO);
    await http('PATCH', reg.url(old.headers.location), randomBytes(4096), octet);
    expect(readdirSync(uploadDir(uploadId(old)))).toEqual(['data']);
    const removed = await s.berth.uploads.expire(Date.now() + 25 * 3600_000);
    expect(removed).toBeGreaterThanOrEqual(1);
    expect(existsSync(uploadDir(uploadId(old)))).toBe(false);
    const status = await http('GET', reg.url(old.headers.location));
    expect(status.status).toBe(404);
    expect(code(status)).toBe('BLOB_UPLOAD_UNKNOWN');
    // a session touched now is not expired by a sweep at the present time
    const fresh = await reg.startSession(REPO);
    expect(await s.berth.uploads.expire()).toBe(0);
    expectSession(await http('GET', reg.url(fresh.headers.location)), 204, 0);
  });
});
