// A refusal answered before the body was read reaches a client that is still sending it (lingering close).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type Socket } from 'node:net';
import { startTestServer, type TestServer } from '../helpers/in-process.js';
import { LINGER } from '../../src/http/linger.js';

let s: TestServer;
let port: number;
beforeAll(async () => {
  s = await startTestServer('refused-bodies');
  port = Number(new URL(s.url).port);
});
afterAll(async () => s?.close());

interface Sent {
  /** the first write error, if a write failed */
  writeError?: string;
  /** what the server answered, read only once everything was written (or a write failed) */
  received: string;
  socket: Socket;
}

/**
 * Sends `head` and then `bodyBytes` bytes without reading anything, as a client streaming a large upload does
 * before it looks at the answer; then reads what the server answered until the connection closes.
 */
async function sendThenRead(head: string, bodyBytes: number, endAfter = true): Promise<Sent> {
  // (allowHalfOpen: the client's side stays open after the server's FIN until the client ends it itself)
  const socket: Socket = connect({ port, host: '127.0.0.1', allowHalfOpen: true });
  socket.pause(); // nothing is read from the connection while the body goes out
  let received = '';
  let writeError: string | undefined;
  socket.on('error', (e: NodeJS.ErrnoException) => (writeError ??= e.code ?? e.message));
  // (a client that does not end its side sees only the server's FIN)
  const closed = new Promise<void>((resolve) => socket.once(endAfter ? 'close' : 'end', () => resolve()));
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  const write = (b: Buffer | string) =>
    new Promise<boolean>((resolve) => socket.write(b, (e) => resolve(!e)));
  let ok = await write(head);
  const chunk = Buffer.alloc(256 * 1024, 0x61);
  for (let sent = 0; ok && sent < bodyBytes; sent += chunk.length)
    ok = await write(chunk.subarray(0, Math.min(chunk.length, bodyBytes - sent)));
  socket.on('data', (b: Buffer) => (received += b.toString('latin1')));
  socket.resume();
  if (endAfter && ok) socket.end();
  await closed;
  return { ...(writeError === undefined ? {} : { writeError }), received, socket };
}

describe('a refusal before the body is read (lingering close)', () => {
  it('reaches a client that sends all of a 16 MiB body before it reads: no reset, the answer arrives', async () => {
    const size = 16 * 1024 * 1024;
    for (let i = 0; i < 3; i++) {
      const got = await sendThenRead(
        `POST /api/v1/users HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${size}\r\n\r\n`,
        size,
      );
      expect(got.writeError, 'the server reset the connection while the client was still sending').toBe(
        undefined,
      );
      const lines = got.received.split('\r\n');
      expect(lines[0]).toBe('HTTP/1.1 401 Unauthorized');
      expect(lines.map((l) => l.toLowerCase())).toContain('connection: close');
      expect(got.received).toMatch(/"code":"UNAUTHORIZED"/);
    }
  });

  it('an unknown path with a large body: the 404 arrives too', async () => {
    const size = 8 * 1024 * 1024;
    const got = await sendThenRead(
      `PUT /nowhere HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nContent-Length: ${size}\r\n\r\n`,
      size,
    );
    expect(got.writeError).toBe(undefined);
    expect(got.received.split('\r\n')[0]).toBe('HTTP/1.1 404 Not Found');
  });

  it('a client that stops sending and never closes is let go after the lingering limit', async () => {
    const started = Date.now();
    // declares 8 MiB, sends 1 MiB, then neither sends nor closes its side
    const got = await sendThenRead(
      `POST /api/v1/users HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${8 * 1024 * 1024}\r\n\r\n`,
      1024 * 1024,
      false,
    );
    expect(got.received.split('\r\n')[0]).toBe('HTTP/1.1 401 Unauthorized');
    // the server lets go of the connection after the idle part of the lingering close, before the whole of it
    while ((await s.connections()) > 0 && Date.now() - started < 2 * LINGER.totalMs)
      await new Promise((r) => setTimeout(r, 20));
    const took = Date.now() - started;
    expect(await s.connections()).toBe(0);
    expect(took).toBeGreaterThanOrEqual(LINGER.idleMs - 50);
    expect(took).toBeLessThan(LINGER.totalMs);
    got.socket.destroy();
  });
});
