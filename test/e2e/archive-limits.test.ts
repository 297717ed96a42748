// The archive attacks of issue 19 (points 0, 6, 9) against the real server: refused with 413, nothing staged left,
// server memory and CPU measured; a client that leaves mid-archive stops the work and its staging goes.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { request } from 'node:http';
import { connect } from 'node:net';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import tar from 'tar-stream';
import { startRealServer, type RealServer } from '../helpers/real-server.js';
import { ADMIN, basic } from '../helpers/in-process.js';

const MIB = 1024 * 1024;
let s: RealServer;
beforeAll(async () => {
  s = await startRealServer('limits');
});
afterAll(async () => s?.stop());

const rss = (): number =>
  Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${s.child.pid}/status`, 'utf8'))![1]) * 1024;
/** The server's CPU time (user + system) in ms. */
const cpu = (): number => {
  const f = readFileSync(`/proc/${s.child.pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return ((Number(f[11]) + Number(f[12])) * 1000) / 100;
};
const staging = (): string[] => {
  try {
    return readdirSync(join(s.data, 'store', 'staging'), { recursive: true }) as string[];
  } catch {
    return [];
  }
};
const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function tarOf(entries: (Partial<tar.Header> & { name: string; content?: Buffer })[]): Promise<Buffer> {
  const pack = tar.pack();
  const out: Buffer[] = [];
  const collected = (async () => {
    for await (const c of pack) out.push(c as Buffer);
  })();
  for (const { content, ...h } of entries)
    await new Promise<void>((res, rej) =>
      pack.entry({ ...h, size: content?.length ?? 0 }, content ?? Buffer.alloc(0), (e) =>
        e ? rej(e) : res(),
      ),
    );
  pack.finalize();
  await collected;
  return Buffer.concat(out);
}

/** Recomputes the checksum of a 512-byte tar header block after it was edited. */
function fixChecksum(block: Buffer): void {
  block.fill(0x20, 148, 156);
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += block[i]!;
  block.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'latin1');
}

/** The header block of a file entry that declares `size` bytes (its content is sent separately, or never). */
async function headerOfSize(name: string, size: number): Promise<Buffer> {
  const header = Buffer.from((await tarOf([{ name }])).subarray(0, 512));
  header.write(size.toString(8).padStart(11, '0') + '\0', 124, 'latin1');
  fixChecksum(header);
  return header;
}

function post(
  body: Buffer,
  url = s.url,
): Promise<{ status: number; json: { errors: { code: string; message: string; detail: unknown }[] } }> {
  return new Promise((resolve, reject) => {
    const req = request(`${url}/api/v1/repositories/evil/app/-/archives`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-tar', authorization: basic(ADMIN.user, ADMIN.password) },
    });
    req.on('response', (res) => {
      let b = '';
      res.on('data', (c) => (b += c));
      res.on('end', () => resolve({ status: res.statusCode!, json: JSON.parse(b) }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** Posts the attack; expects 413 naming `limit`, no staging left; logs and bounds the server's RSS and CPU. */
async function attack(label: string, body: Buffer, limit: string): Promise<void> {
  const rss0 = rss();
  let peak = rss0;
  const sampler = setInterval(() => (peak = Math.max(peak, rss())), 20);
  const cpu0 = cpu();
  const r = await post(body);
  const cpuAnswer = cpu() - cpu0;
  await pause(1000);
  clearInterval(sampler);
  const cpuAfter = cpu() - cpu0 - cpuAnswer;
  console.log(
    `${label}: ${(body.length / MIB).toFixed(2)} MiB body → ${r.status} ${r.json.errors[0]?.code} (${limit}); ` +
      `server CPU ${cpuAnswer} ms to answer, ${cpuAfter} ms in the second after; RSS ${(rss0 / MIB).toFixed(0)} → peak ${(peak / MIB).toFixed(0)} MiB`,
  );
  expect(r.status).toBe(413);
  expect(r.json.errors[0]).toMatchObject({ code: 'ARCHIVE_TOO_LARGE', detail: { limit } });
  expect(staging()).toEqual([]);
  expect(peak - rss0).toBeLessThan(64 * MIB);
  expect(cpuAfter).toBeLessThan(200);
}

describe('archive attacks against the real server', () => {
  it('issue 0: entries with PAX names of 3.9 MB', async () => {
    const entries = Array.from({ length: 8 }, (_, i) => ({
      name: `${i}`.padEnd(3_900_000, 'n'),
      content: Buffer.from('a'),
    }));
    await attack('PAX names of 3.9 MB × 8', gzipSync(await tarOf(entries)), 'extendedHeaderBytes');
  }, 60_000);

  it('issue 6: a global PAX header of 300 000 records, then 20 000 entries with PAX headers', async () => {
    const global = await tarOf([
      { name: 'g', pax: Object.fromEntries(Array.from({ length: 300_000 }, (_, i) => [`k${i}`, 'v'])) },
    ]);
    // the first block of that tar is the 'x' header: turned into a global one (checksum fixed)
    const ext = Buffer.from(global.subarray(0, global.length - 1024 - 512));
    ext[156] = 'g'.charCodeAt(0);
    fixChecksum(ext);
    const entries = await tarOf(
      Array.from({ length: 20_000 }, (_, i) => ({ name: `e${i}`, pax: { mtime: '1' } })),
    );
    await attack(
      'global PAX header of 300 000 records + 20 000 entries',
      gzipSync(Buffer.concat([ext, entries])),
      'extendedHeaderBytes',
    );
  }, 60_000);

  it('issue 9: a gzip bomb of zeros', async () => {
    const size = 256 * MIB;
    const header = await headerOfSize('zeros', size);
    const bomb = gzipSync(Buffer.concat([header, Buffer.alloc(size), Buffer.alloc(1024)]));
    await attack('gzip bomb 256 MiB of zeros', bomb, 'gzipRatio');
  }, 60_000);

  it('a client that leaves mid-archive: its staging goes at once and no work continues', async () => {
    const size = 64 * MIB;
    const header = await headerOfSize('big', size);
    const { hostname, port } = new URL(s.url);
    const socket = connect(Number(port), hostname);
    await new Promise((r) => socket.once('connect', r));
    socket.write(
      `POST /api/v1/repositories/evil/app/-/archives HTTP/1.1\r\nHost: x\r\n` +
        `Authorization: ${basic(ADMIN.user, ADMIN.password)}\r\nContent-Type: application/x-tar\r\n` +
        `Content-Length: ${512 + size + 1024}\r\n\r\n`,
    );
    socket.write(header);
    socket.write(Buffer.alloc(4 * MIB, 7));
    for (let i = 0; i < 100 && staging().length === 0; i++) await pause(50);
    expect(staging().length, 'the upload is being staged').toBeGreaterThan(0);
    socket.destroy();
    const left = Date.now();
    for (let i = 0; i < 100 && staging().length > 0; i++) await pause(20);
    const gone = Date.now() - left;
    const cpu0 = cpu();
    await pause(500);
    console.log(
      `client left mid-archive: staging removed ${gone} ms later; server CPU ${cpu() - cpu0} ms in the next 500 ms`,
    );
    expect(staging()).toEqual([]);
    expect(gone).toBeLessThan(1000);
  }, 60_000);
});

describe('the archive limits are options of berth serve', () => {
  it('a lowered limit refuses with 413 ARCHIVE_TOO_LARGE naming the limit and the option that raises it', async () => {
    const low = await startRealServer('limits-low', {
      args: ['--archive-max-entries', '3', '--archive-max-name-bytes', '64'],
      env: { BERTH_ARCHIVE_MAX_PAX_RECORDS: '2' },
    });
    try {
      const file = (name: string) => ({ name, content: Buffer.from('a') });
      // under the default limits each of these archives would be staged (and refused later as no image)
      const cases: [string, Buffer, string, number, string][] = [
        ['4 entries', await tarOf(['a', 'b', 'c', 'd'].map(file)), 'entries', 3, '--archive-max-entries'],
        [
          'a name of 65 bytes',
          await tarOf([file('n'.repeat(65))]),
          'nameBytes',
          64,
          '--archive-max-name-bytes',
        ],
        [
          'a PAX header of 3 records',
          await tarOf([{ ...file('p'), pax: { comment: 'c', mtime: '1' } }]),
          'paxRecords',
          2,
          'BERTH_ARCHIVE_MAX_PAX_RECORDS',
        ],
      ];
      for (const [what, body, limit, max, option] of cases) {
        const r = await post(body, low.url);
        expect(r.status, what).toBe(413);
        expect(r.json.errors[0], what).toMatchObject({ code: 'ARCHIVE_TOO_LARGE', detail: { limit, max } });
        expect(r.json.errors[0]!.message, what).toContain(option);
        // the same archive is not refused for that limit by a server with the defaults
        const r2 = await post(body);
        expect(r2.json.errors[0]?.code, what).not.toBe('ARCHIVE_TOO_LARGE');
      }
      expect(
        existsSync(join(low.data, 'store', 'staging')) ? readdirSync(join(low.data, 'store', 'staging')) : [],
      ).toEqual([]);
    } finally {
      await low.stop();
    }
  }, 60_000);
});
