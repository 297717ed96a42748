// Whole-blob GETs by sendfile over plain HTTP/1.1: bytes and head as before, keep-alive, a client that goes, a stall.
import { randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nativeSender } from '../../src/http/native-sendfile.js';
import { blobObjectKey } from '../../src/gc/blob-objects.js';
import type { Digest } from '../../src/core/digest.js';
import { basic, ADMIN, http, startTestServer, type TestServer } from '../helpers/in-process.js';
import { testStoreKind } from '../helpers/s3.js';
import { sha } from '../helpers/images.js';
import { Registry } from './oci.js';

const REPO = 'send/file';
const loaded = nativeSender();
const missing = 'reason' in loaded ? loaded.reason : undefined;
const ci = process.env.CI === 'true';
// the files store only: S3 objects are never local files
const files = testStoreKind() !== 's3';

/** The value of a metric line of /metrics (0 when absent). */
async function metric(server: TestServer, line: string): Promise<number> {
  const text = (await http('GET', `${server.url}/metrics`)).body.toString();
  const hit = text.split('\n').find((l) => l.startsWith(`${line} `));
  return hit === undefined ? 0 : Number(hit.slice(line.length + 1));
}

const SENDFILE = 'berth_blob_bodies_total{path="sendfile"}';
const STREAM = 'berth_blob_bodies_total{path="stream"}';
const openFds = (): number => readdirSync('/proc/self/fd').length;

/** Polls `check` until it holds (a moment for the sender thread or the server to let go). */
async function eventually(check: () => boolean | Promise<boolean>, what: string, ms = 10_000): Promise<void> {
  const until = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`never: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A raw connection that asks for a blob and reads `take` bytes of the answer (kept in `received`), then stops reading. */
async function stalledGet(
  server: TestServer,
  digest: string,
  take: number,
): Promise<Socket & { received: Buffer[] }> {
  const { port } = new URL(server.url);
  const socket = connect(Number(port), '127.0.0.1');
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  socket.write(
    `GET /v2/${REPO}/blobs/${digest} HTTP/1.1\r\nHost: x\r\nAuthorization: ${basic(ADMIN.user, ADMIN.password)}\r\n\r\n`,
  );
  let got = 0;
  const received: Buffer[] = [];
  await new Promise<void>((resolve) => {
    const onData = (c: Buffer) => {
      received.push(c);
      got += c.length;
      if (got >= take) {
        socket.off('data', onData);
        socket.pause();
        resolve();
      }
    };
    socket.on('data', onData);
  });
  return Object.assign(socket, { received });
}

it.skipIf(!ci && missing !== undefined)(
  `the sendfile addon is built${missing ? ` (skipped: ${missing})` : ''}`,
  () => {
    expect(missing).toBeUndefined();
  },
);

describe.skipIf(missing !== undefined || !files)('whole blobs by sendfile', () => {
  let server: TestServer;
  let reg: Registry;
  const blob = randomBytes(24 * 1024 * 1024 + 123);
  const digest = sha(blob);
  const jobs = () => ('sender' in loaded ? loaded.sender.jobs() : -1);

  beforeAll(async () => {
    server = await startTestServer('sendfile');
    reg = new Registry(server.url);
    await reg.pushBlob(REPO, blob);
  });
  afterAll(() => server.close());

  it('a whole GET: the bytes, the same head, sent by sendfile and counted', async () => {
    const sentBefore = await metric(server, 'berth_http_sent_bytes_total{route="blob.get"}');
    const r = await reg.req('GET', `/v2/${REPO}/blobs/${digest}`);
    expect(r.status).toBe(200);
    expect(sha(r.body)).toBe(digest);
    expect(r.headers['content-length']).toBe(String(blob.length));
    expect(r.headers['docker-content-digest']).toBe(digest);
    expect(r.headers['etag']).toBe(`"${digest}"`);
    expect(r.headers['accept-ranges']).toBe('bytes');
    expect(r.headers['content-type']).toBe('application/octet-stream');
    expect(r.headers['transfer-encoding']).toBeUndefined();
    await eventually(async () => (await metric(server, SENDFILE)) === 1, 'one sendfile answer counted');
    expect(await metric(server, STREAM)).toBe(0);
    const sent = (await metric(server, 'berth_http_sent_bytes_total{route="blob.get"}')) - sentBefore;
    expect(sent).toBeGreaterThan(blob.length);
  });

  it('Range and HEAD are answered as before (through a stream; HEAD with no body)', async () => {
    const before = await metric(server, SENDFILE);
    const range = await reg.req('GET', `/v2/${REPO}/blobs/${digest}`, undefined, {
      range: 'bytes=1000-1999999',
    });
    expect(range.status).toBe(206);
    expect(range.headers['content-range']).toBe(`bytes 1000-1999999/${blob.length}`);
    expect(range.body.equals(blob.subarray(1000, 2000000))).toBe(true);
    const head = await reg.req('HEAD', `/v2/${REPO}/blobs/${digest}`);
    expect(head.status).toBe(200);
    expect(head.headers['content-length']).toBe(String(blob.length));
    expect(head.headers['docker-content-digest']).toBe(digest);
    expect(head.body.length).toBe(0);
    expect(await metric(server, SENDFILE)).toBe(before);
    expect(await metric(server, STREAM)).toBe(1);
  });

  it('keep-alive: the next request on the same connection is answered', async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const get = (path: string) =>
      new Promise<{ status: number; body: Buffer; reused: boolean }>((resolve, reject) => {
        const req = request(
          `${server.url}${path}`,
          { agent, headers: { authorization: basic(ADMIN.user, ADMIN.password) } },
          (res) => {
            const chunks: Buffer[] = [];
            res.on('data', (c: Buffer) => chunks.push(c));
            res.on('end', () =>
              resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks), reused: req.reusedSocket }),
            );
          },
        );
        req.on('error', reject);
        req.end();
      });
    try {
      const first = await get(`/v2/${REPO}/blobs/${digest}`);
      expect(first.status).toBe(200);
      expect(sha(first.body)).toBe(digest);
      const second = await get(`/v2/${REPO}/blobs/${digest}`);
      expect(second.reused).toBe(true);
      expect(sha(second.body)).toBe(digest);
      const third = await get('/v2/');
      expect(third.reused).toBe(true);
      expect(third.status).toBe(200);
    } finally {
      agent.destroy();
    }
  });

  it('small blobs fetched and pushed in turn on keep-alive connections: every answer comes', async () => {
    // (a job that ended at once on the sender thread once lost its id: the next request on the connection hung)
    for (let i = 0; i < 40; i++) {
      const small = randomBytes(3000 + i);
      await reg.pushBlob(REPO, small);
      const r = await reg.req('GET', `/v2/${REPO}/blobs/${sha(small)}`);
      expect(r.body.equals(small)).toBe(true);
    }
  });

  it('a client that goes mid-transfer: the job ends, no descriptor is left, the server goes on', async () => {
    await eventually(async () => (await server.connections()) === 0 && jobs() === 0, 'quiet');
    const fds = openFds();
    const socket = await stalledGet(server, digest, 64 * 1024);
    await eventually(() => jobs() === 1, 'the transfer under way');
    socket.destroy();
    await eventually(async () => jobs() === 0 && (await server.connections()) === 0, 'the job gone');
    await eventually(() => openFds() === fds, `descriptors back to ${fds}`);
    const again = await reg.req('GET', `/v2/${REPO}/blobs/${digest}`);
    expect(sha(again.body)).toBe(digest);
  });

  it('the file removed while it is sent: the transfer completes from the open descriptor', async () => {
    const other = randomBytes(8 * 1024 * 1024);
    await reg.pushBlob(REPO, other);
    const socket = await stalledGet(server, sha(other), 1);
    await eventually(() => jobs() === 1, 'the transfer under way');
    const store = server.berth.store;
    const key = await blobObjectKey(server.berth.db.kysely, sha(other) as Digest);
    expect(await store.stat(key)).not.toBeNull();
    await store.delete(key);
    const chunks = socket.received;
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.resume();
    const answer = () => Buffer.concat(chunks);
    const bodyAt = () => answer().indexOf('\r\n\r\n') + 4;
    await eventually(
      () => bodyAt() > 3 && answer().length >= bodyAt() + other.length,
      'the whole body',
      20_000,
    );
    socket.destroy();
    expect(answer().subarray(bodyAt()).equals(other)).toBe(true);
  });
});

describe.skipIf(missing !== undefined || !files)('a stalled client of a sendfile transfer', () => {
  let server: TestServer;
  // more than the loopback's socket buffers hold (here up to 32 MiB received, 4 MiB sent): the sender must wait
  const blob = randomBytes(64 * 1024 * 1024);
  beforeAll(async () => {
    server = await startTestServer('sendfile-idle', { idleTimeoutSeconds: 1 });
    await new Registry(server.url).pushBlob(REPO, blob);
  });
  afterAll(() => server.close());

  it('is let go after the idle limit with nothing moving, and its job ends', async () => {
    const jobs = () => ('sender' in loaded ? loaded.sender.jobs() : -1);
    const socket = await stalledGet(server, sha(blob), 64 * 1024);
    socket.on('error', () => {});
    await eventually(() => jobs() === 1, 'the transfer under way');
    // the client reads nothing more: the server drops the connection (it is paused: it sees no close itself)
    await eventually(async () => (await server.connections()) === 0, 'the connection dropped', 20_000);
    await eventually(() => jobs() === 0, 'the job gone');
    const sent = await metric(server, 'berth_http_sent_bytes_total{route="blob.get"}');
    expect(sent).toBeGreaterThan(0);
    expect(sent).toBeLessThan(blob.length);
    socket.destroy();
  });
});

describe.skipIf(!files)('--no-sendfile', () => {
  let server: TestServer;
  const blob = randomBytes(3 * 1024 * 1024);
  beforeAll(async () => {
    server = await startTestServer('no-sendfile', { sendfile: false });
    await new Registry(server.url).pushBlob(REPO, blob);
  });
  afterAll(() => server.close());

  it('a whole GET goes through a stream', async () => {
    const r = await http('GET', `${server.url}/v2/${REPO}/blobs/${sha(blob)}`);
    expect(r.status).toBe(200);
    expect(r.body.equals(blob)).toBe(true);
    expect(await metric(server, STREAM)).toBe(1);
    expect(await metric(server, SENDFILE)).toBe(0);
  });
});
