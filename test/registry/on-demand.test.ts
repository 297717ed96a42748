// GET and HEAD of on-demand blobs over HTTP: streamed from the remote on first GET; wrong bytes cut the client's connection.
import { randomBytes } from 'node:crypto';
import { request } from 'node:http';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { sha256, type Digest } from '../../src/core/digest.js';
import { createUpstream } from '../../src/sync/upstream-http.js';
import { ADMIN, basic, http, startTestServer, type TestServer } from '../helpers/in-process.js';
import { startBlobServer, type BlobServer } from '../helpers/blob-server.js';
import { seedOnDemand } from '../helpers/on-demand.js';

const REPO = 'od/web';
const UPSTREAM = 'library/web';

/** A GET that reports how the answer ended: whole, or cut short of its Content-Length. */
function rawGet(
  url: string,
  /** called at the first bytes */
  onBytes?: () => void,
): Promise<{ status: number; length: number; received: Buffer; complete: boolean }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers: { authorization: basic(ADMIN.user, ADMIN.password) } }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (c: Buffer) => {
        parts.push(c);
        onBytes?.();
      });
      const done = () =>
        resolve({
          status: res.statusCode ?? 0,
          length: Number(res.headers['content-length']),
          received: Buffer.concat(parts),
          complete: res.complete,
        });
      res.on('end', done);
      res.on('error', done);
      res.on('aborted', done);
    });
    req.on('error', reject);
    req.end();
  });
}

describe('on-demand blobs over HTTP', () => {
  let server: TestServer;
  let upstream: BlobServer;
  let blob: Buffer;
  let digest: Digest;
  let n = 0;

  beforeAll(async () => {
    upstream = await startBlobServer();
    server = await startTestServer('on-demand-http', {
      // hashed on the server's hashing thread, as app.ts's clients do (the blobs are above its inline size)
      upstreamFor: async () =>
        createUpstream(
          { name: 'hub', url: upstream.url, tlsVerify: true, concurrency: 4 },
          { hasher: server.berth.hasher },
        ),
    });
  });

  afterAll(async () => {
    upstream.release();
    await upstream.close();
    await server.close();
  });

  let repo: string;
  beforeEach(async () => {
    repo = `${REPO}${++n}`;
    upstream.mode = 'ok';
    blob = randomBytes(2 * 1024 * 1024 + 17);
    digest = sha256(blob);
    upstream.blobs.set(`${UPSTREAM}/${digest}`, blob);
    await seedOnDemand(server.berth, repo, [{ digest, size: blob.length }], 'hub', UPSTREAM);
  });

  const blobUrl = () => `${server.url}/v2/${repo}/blobs/${digest}`;

  it('HEAD answers the size from the database, with no request upstream', async () => {
    const r = await http('HEAD', blobUrl());
    expect(r.status).toBe(200);
    expect(r.headers['content-length']).toBe(String(blob.length));
    expect(r.headers['docker-content-digest']).toBe(digest);
    expect(upstream.gets.get(`${UPSTREAM}/${digest}`)).toBeUndefined();
  });

  it('the first GET streams the bytes from the remote; the second reads the store', async () => {
    const r = await http('GET', blobUrl());
    expect(r.status).toBe(200);
    expect(r.headers['docker-content-digest']).toBe(digest);
    expect(r.body.equals(blob)).toBe(true);
    expect(server.berth.hasher.running).toBe(true);
    const again = await http('GET', blobUrl(), undefined, { range: 'bytes=0-9' });
    expect(again.status).toBe(206);
    expect(again.body.equals(blob.subarray(0, 10))).toBe(true);
    expect(upstream.gets.get(`${UPSTREAM}/${digest}`)).toBe(1);
  });

  it('a range asked of a blob still at the remote: the whole blob, 200 (a server may ignore Range)', async () => {
    const r = await http('GET', blobUrl(), undefined, { range: 'bytes=0-9' });
    expect(r.status).toBe(200);
    expect(r.body.equals(blob)).toBe(true);
  });

  it('the client gets bytes before the remote has sent them all (no waiting for the whole blob)', async () => {
    upstream.mode = 'hold';
    const got: Buffer[] = [];
    const first = new Promise<number>((resolve, reject) => {
      const req = request(
        blobUrl(),
        { headers: { authorization: basic(ADMIN.user, ADMIN.password) } },
        (res) => {
          res.on('data', (c: Buffer) => {
            got.push(c);
            resolve(res.statusCode ?? 0);
          });
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end();
    });
    await upstream.holding(1);
    expect(await first).toBe(200);
    // the remote has sent half: the client has some of it already
    expect(Buffer.concat(got).length).toBeGreaterThan(0);
    expect(Buffer.concat(got).length).toBeLessThan(blob.length);
    upstream.release();
  });

  it('wrong bytes under the digest: the connection is cut short of the Content-Length, never a whole 200', async () => {
    upstream.mode = 'wrong';
    const r = await rawGet(blobUrl());
    expect(r.status).toBe(200);
    expect(r.length).toBe(blob.length);
    expect(r.complete).toBe(false);
    expect(r.received.length).toBeLessThan(blob.length);
    // nothing kept: still on demand, and a mended remote serves it
    upstream.mode = 'ok';
    const again = await http('GET', blobUrl());
    expect(again.body.equals(blob)).toBe(true);
  });
});

describe('the hashing thread of on-demand fetches', () => {
  it('a hash that fails mid-fetch cuts the client; closing the server stops the thread, nothing left unhandled', async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (e: unknown) => unhandled.push(e);
    process.on('unhandledRejection', onUnhandled);
    const upstream = await startBlobServer();
    let server: TestServer | undefined;
    try {
      server = await startTestServer('on-demand-hasher', {
        upstreamFor: async () =>
          createUpstream(
            { name: 'hub', url: upstream.url, tlsVerify: true, concurrency: 4 },
            { hasher: server!.berth.hasher },
          ),
      });
      const blob = randomBytes(3 * 1024 * 1024);
      const digest = sha256(blob);
      upstream.blobs.set(`${UPSTREAM}/${digest}`, blob);
      await seedOnDemand(server.berth, REPO, [{ digest, size: blob.length }], 'hub', UPSTREAM);
      const url = `${server.url}/v2/${REPO}/blobs/${digest}`;

      // the thread goes away while the fetch hashes (half sent, upstream holding the rest)
      upstream.mode = 'hold';
      let firstBytes!: () => void;
      const streaming = new Promise<void>((r) => (firstBytes = r));
      const cut = rawGet(url, firstBytes);
      await upstream.holding(1);
      // the client has bytes: the fetch is under way, hashed on the thread
      await streaming;
      expect(server.berth.hasher.running).toBe(true);
      const thread = (server.berth.hasher as unknown as { worker: { terminate(): Promise<number> } }).worker;
      await thread.terminate();
      upstream.release();
      const r = await cut;
      expect(r.complete).toBe(false);
      expect(r.received.length).toBeLessThan(blob.length);

      // still on demand: the next GET starts a new thread and gets the blob whole
      upstream.mode = 'ok';
      const again = await http('GET', url);
      expect(again.status).toBe(200);
      expect(again.body.equals(blob)).toBe(true);
      expect(server.berth.hasher.running).toBe(true);

      const worker = (server.berth.hasher as unknown as { worker: { once(e: 'exit', f: () => void): void } })
        .worker;
      const exited = new Promise<void>((r) => worker.once('exit', r));
      await server.close();
      server = undefined;
      await exited;
      await new Promise((r) => setImmediate(r));
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
      upstream.release();
      await upstream.close();
      await server?.close();
    }
  });
});
