// Clients that GET a large blob and never read (issue 19): the real server's memory stays flat while 20 of them
// hold a 256 MiB blob's answer (backpressure: it reads the file only as fast as the socket takes it, a few MiB
// per client whatever the blob's size), and it closes their connections after its idle limit (`--idle-timeout 2`).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash, randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { request } from 'node:http';
import { connect, type Socket } from 'node:net';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { startRealServer, type RealServer } from '../helpers/real-server.js';
import { ADMIN, basic } from '../helpers/in-process.js';
import { MIB, rssOf } from './support.js';

const SIZE = 256 * MIB;
const CLIENTS = 20;
const IDLE_SECONDS = 2;
/**
 * Bound of the server's RSS growth per client holding its answer: what backpressure leaves in memory, the chunk
 * the socket has not taken and the one read ahead (blobs are read in 1 MiB chunks: READ_CHUNK in
 * src/storage/fs-blob-store.ts), with allocator slack — never a share of the blob (256 MiB here).
 */
const MAX_GROWTH_PER_CLIENT = 4 * MIB;
const auth = basic(ADMIN.user, ADMIN.password);

const block = randomBytes(MIB);
/** The blob, MiB by MiB (each MiB stamped apart): generated as it is sent, never whole in memory. */
function* blobBytes(): Generator<Buffer> {
  for (let n = 0; n < SIZE / MIB; n++) {
    const b = Buffer.from(block);
    b.writeUInt32BE(n, 0);
    yield b;
  }
}

/**
 * The server's connections on its HTTP port: the sockets among its file descriptors (/proc/<pid>/fd) that
 * /proc/net/tcp{,6} shows connected on `port`. Its database connections (a PostgreSQL pool opens more as it
 * likes) and its listening socket do not count.
 */
function connectionsOf(pid: number, port: number): number {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m) inodes.add(m[1]!);
    } catch {
      // closed meanwhile
    }
  }
  let n = 0;
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let lines: string[];
    try {
      lines = readFileSync(table, 'utf8').trim().split('\n').slice(1);
    } catch {
      continue; // no IPv6
    }
    for (const line of lines) {
      // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
      const cols = line.trim().split(/\s+/);
      const localPort = parseInt(cols[1]!.split(':').pop()!, 16);
      if (localPort === port && cols[3] !== '0A' && inodes.has(cols[9]!)) n++; // 0A: LISTEN
    }
  }
  return n;
}

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

let s: RealServer;
let digest: string;
beforeAll(async () => {
  s = await startRealServer('unread', { args: ['--idle-timeout', String(IDLE_SECONDS)] });
  const hash = createHash('sha256');
  for (const b of blobBytes()) hash.update(b);
  digest = `sha256:${hash.digest('hex')}`;
  const status = await new Promise<number>((resolve, reject) => {
    const req = request(`${s.url}/v2/big/blob/blobs/uploads/?digest=${digest}`, {
      method: 'POST',
      headers: {
        authorization: auth,
        'content-type': 'application/octet-stream',
        'content-length': SIZE,
        connection: 'close',
      },
      agent: false,
    });
    req.on('response', (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode!));
    });
    req.on('error', reject);
    pipeline(Readable.from(blobBytes()), req).catch(reject);
  });
  expect(status).toBe(201);
}, 120_000);
afterAll(async () => s?.stop());

describe('GETs of a large blob that are never read', () => {
  it(`${CLIENTS} clients: the server's memory stays flat and it closes them after its idle limit`, async () => {
    const pid = s.child.pid!;
    // a GET read whole first, so that the baseline has the read path warmed up
    await new Promise<void>((resolve, reject) => {
      // (its connection closed after it, so that it does not count among the server's sockets)
      const req = request(`${s.url}/v2/big/blob/blobs/${digest}`, {
        headers: { authorization: auth, connection: 'close' },
        agent: false,
      });
      req.on('response', (res) => {
        const hash = createHash('sha256');
        res.on('data', (c: Buffer) => hash.update(c));
        res.on('end', () => {
          expect(`sha256:${hash.digest('hex')}`).toBe(digest);
          resolve();
        });
      });
      req.on('error', reject);
      req.end();
    });
    await pause(200);
    const { hostname, port } = new URL(s.url);
    const connections = () => connectionsOf(pid, Number(port));
    const connections0 = connections();
    const rss0 = rssOf(pid);
    let peak = rss0;
    const sampler = setInterval(() => {
      try {
        peak = Math.max(peak, rssOf(pid));
      } catch {
        // the server has gone: the assertions below say so
      }
    }, 50);
    const clients: { socket: Socket; received: number }[] = [];
    const sent = Date.now();
    let closedAfter: number;
    try {
      for (let i = 0; i < CLIENTS; i++) {
        const socket = connect(Number(port), hostname);
        socket.on('error', () => {});
        socket.pause(); // reads nothing: the server's writes back up
        const c = { socket, received: 0 };
        socket.write(
          `GET /v2/big/blob/blobs/${digest} HTTP/1.1\r\nHost: x\r\nAuthorization: ${auth}\r\n\r\n`,
        );
        clients.push(c);
      }
      await pause(500);
      expect(connections() - connections0, 'the server holds the connections').toBe(CLIENTS);
      // the server lets them go after its idle limit: its own sockets tell (the clients read nothing meanwhile)
      while (connections() > connections0 && Date.now() - sent < IDLE_SECONDS * 8000) await pause(50);
      closedAfter = Date.now() - sent;
    } finally {
      clearInterval(sampler);
    }
    expect(connections(), 'the server closed every connection').toBe(connections0);
    // what the clients got: a part of the blob, then the end of the connection
    await Promise.all(
      clients.map(
        (c) =>
          new Promise<void>((resolve) => {
            c.socket.on('data', (b: Buffer) => (c.received += b.length));
            c.socket.on('close', () => resolve());
            c.socket.resume();
          }),
      ),
    );
    const most = Math.max(...clients.map((c) => c.received));
    console.log(
      `${CLIENTS} unread GETs of a ${SIZE / MIB} MiB blob: server RSS ${(rss0 / MIB).toFixed(0)} MiB → peak ` +
        `${(peak / MIB).toFixed(0)} MiB (+${((peak - rss0) / MIB).toFixed(1)}); connections closed by the server ` +
        `${(closedAfter / 1000).toFixed(1)} s after the requests (--idle-timeout ${IDLE_SECONDS}); ` +
        `at most ${(most / MIB).toFixed(1)} MiB reached a client`,
    );
    expect(peak - rss0).toBeLessThan(CLIENTS * MAX_GROWTH_PER_CLIENT);
    // Node counts a write the kernel is still taking as progress: the limit runs from the last byte that moved
    // (the socket buffers take a moment to fill), and is checked once per idle period, so the close comes one to
    // two periods after that byte — never later, however large the blob
    expect(closedAfter).toBeGreaterThanOrEqual(IDLE_SECONDS * 1000 - 100);
    expect(closedAfter).toBeLessThan(IDLE_SECONDS * 5000);
    for (const c of clients) expect(c.received).toBeLessThan(SIZE);
  }, 120_000);
});
