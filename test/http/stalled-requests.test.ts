// Stalled requests hold nothing: anonymous bodies are refused before they are read, stalled ones end at the idle limit.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type Socket } from 'node:net';
import { startTestServer, http, ADMIN, basic, type TestServer } from '../helpers/in-process.js';
import { sha } from '../helpers/images.js';
import { Registry } from '../registry/oci.js';
import { startRealServer } from '../helpers/real-server.js';

const IDLE_SECONDS = 0.5;
let s: TestServer;
let port: number;
beforeAll(async () => {
  s = await startTestServer('stalled', { idleTimeoutSeconds: IDLE_SECONDS });
  port = Number(new URL(s.url).port);
});
afterAll(async () => s?.close());

/** A raw connection: what the server answers (the text received until it closes), and when it closed. */
function rawConnection(): { socket: Socket; received: () => string; closed: Promise<number> } {
  const socket = connect(port, '127.0.0.1');
  let text = '';
  socket.on('data', (b: Buffer) => (text += b.toString('latin1')));
  socket.on('error', () => {});
  const closed = new Promise<number>((resolve) => socket.on('close', () => resolve(Date.now())));
  return { socket, received: () => text, closed };
}

/** Waits until the server's answer head has arrived on the connection (or it closed). */
async function answerHead(c: ReturnType<typeof rawConnection>, withinMs: number): Promise<string> {
  const end = Date.now() + withinMs;
  while (!c.received().includes('\r\n\r\n') && Date.now() < end && !c.socket.destroyed)
    await new Promise((r) => setTimeout(r, 10));
  return c.received();
}

describe('request bodies of callers without access are never read', () => {
  it('200 anonymous 1000 KiB JSON bodies, all but the last byte sent and stalled, are answered 401 at once', async () => {
    const declared = 1000 * 1024;
    const rssBefore = process.memoryUsage().rss;
    const conns = Array.from({ length: 200 }, () => rawConnection());
    await Promise.all(
      conns.map(
        (c, i) =>
          new Promise<void>((resolve) => {
            const path = i % 2 ? '/api/v1/users' : '/api/v1/repositories/a/b/-/blobs/present';
            c.socket.write(
              `POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${declared}\r\n\r\n`,
            );
            // as much of the body as the connection takes before the server answers (the server reads none of it)
            c.socket.write(Buffer.alloc(64 * 1024, 0x20), () => resolve());
          }),
      ),
    );
    const heads = await Promise.all(conns.map((c) => answerHead(c, 5_000)));
    for (const h of heads) expect(h.split('\r\n')[0]).toBe('HTTP/1.1 401 Unauthorized');
    // answered without the body, and the connections are let go (not kept open for a body nobody reads)
    await Promise.all(conns.map((c) => c.closed));
    // 200 bodies of 1000 KiB would be 195 MiB; what grows is the connections' bookkeeping
    expect(process.memoryUsage().rss - rssBefore).toBeLessThan(60 * 1024 * 1024);
  });

  it('an unknown path with a stalled body: 404 at once', async () => {
    const c = rawConnection();
    c.socket.write(
      `POST /nowhere HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000000\r\n\r\n{`,
    );
    expect((await answerHead(c, 2_000)).split('\r\n')[0]).toBe('HTTP/1.1 404 Not Found');
    c.socket.destroy();
  });
});

describe('stalled requests end at the idle limit; slow ones that progress do not', () => {
  const auth = basic(ADMIN.user, ADMIN.password);
  const startUpload = async (repo: string): Promise<string> => {
    const r = await new Registry(s.url).startSession(repo);
    expect(r.status, r.body.toString()).toBe(202);
    return new URL(r.headers.location as string, s.url).pathname;
  };

  it('an authenticated upload whose body stalls is ended after the idle limit', async () => {
    const path = await startUpload('slow/app');
    const c = rawConnection();
    const sent = Date.now();
    c.socket.write(
      `PATCH ${path} HTTP/1.1\r\nHost: x\r\nAuthorization: ${auth}\r\nContent-Type: application/octet-stream\r\n` +
        `Content-Length: 1000000\r\n\r\n${'x'.repeat(1000)}`,
    );
    const closedAt = await Promise.race([
      c.closed,
      new Promise<number>((r) => setTimeout(() => r(-1), 5_000)),
    ]);
    expect(closedAt, 'the server closed the stalled connection').toBeGreaterThan(0);
    expect(closedAt - sent).toBeGreaterThanOrEqual(IDLE_SECONDS * 1000 - 50);
    c.socket.destroy();
  });

  it('a request head that stalls is ended after the idle limit too', async () => {
    const c = rawConnection();
    c.socket.write('GET /v2/ HTTP/1.1\r\nHost: x\r\n');
    const closedAt = await Promise.race([
      c.closed,
      new Promise<number>((r) => setTimeout(() => r(-1), 5_000)),
    ]);
    expect(closedAt).toBeGreaterThan(0);
  });

  it('a client that asks for a large blob and never reads is let go after the idle limit', async () => {
    const blob = Buffer.alloc(32 * 1024 * 1024, 7);
    const digest = await new Registry(s.url).pushBlob('slow/big', blob);
    const c = rawConnection();
    c.socket.pause(); // reads nothing: the server's writes back up
    c.socket.write(`GET /v2/slow/big/blobs/${digest} HTTP/1.1\r\nHost: x\r\nAuthorization: ${auth}\r\n\r\n`);
    // after a few idle limits, read what did arrive: the server cut the answer short and closed the connection
    await new Promise((r) => setTimeout(r, IDLE_SECONDS * 4000));
    c.socket.resume();
    const closedAt = await Promise.race([
      c.closed,
      new Promise<number>((r) => setTimeout(() => r(-1), 5_000)),
    ]);
    expect(closedAt, 'the server closed the connection nobody read').toBeGreaterThan(0);
    expect(c.received().length).toBeLessThan(blob.length);
  });

  it('a slow upload that keeps sending, for several times the idle limit, completes', async () => {
    const path = await startUpload('slow/app');
    const chunks = Array.from({ length: 8 }, (_, i) => Buffer.alloc(1000, 65 + i));
    const blob = Buffer.concat(chunks);
    const c = rawConnection();
    c.socket.write(
      `PUT ${path}?digest=${sha(blob)} HTTP/1.1\r\nHost: x\r\nAuthorization: ${auth}\r\n` +
        `Content-Type: application/octet-stream\r\nContent-Length: ${blob.length}\r\n\r\n`,
    );
    for (const chunk of chunks) {
      // each pause is below the idle limit; together they are several times it
      await new Promise((r) => setTimeout(r, IDLE_SECONDS * 500));
      c.socket.write(chunk);
    }
    expect((await answerHead(c, 5_000)).split('\r\n')[0]).toBe('HTTP/1.1 201 Created');
    c.socket.destroy();
    const got = await http('GET', `${s.url}/v2/slow/app/blobs/${sha(blob)}`);
    expect(got.status).toBe(200);
    expect(got.body.equals(blob)).toBe(true);
  });
});

describe('berth serve --idle-timeout', () => {
  it('closes a stalled body of the real server after the limit it was given', async () => {
    const real = await startRealServer('idle', { args: ['--idle-timeout', '1'] });
    try {
      const u = new URL(real.url);
      const socket = connect(Number(u.port), u.hostname);
      socket.on('error', () => {});
      const closed = new Promise<number>((resolve) => socket.on('close', () => resolve(Date.now())));
      const sent = Date.now();
      socket.write(
        `POST /api/v1/users HTTP/1.1\r\nHost: x\r\nAuthorization: ${basic(ADMIN.user, ADMIN.password)}\r\n` +
          `Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n{"name":`,
      );
      const at = await Promise.race([closed, new Promise<number>((r) => setTimeout(() => r(-1), 10_000))]);
      expect(at, 'closed by the server').toBeGreaterThan(0);
      expect(at - sent).toBeGreaterThanOrEqual(950);
      socket.destroy();
    } finally {
      await real.stop();
    }
  });
});
