// A large archive upload keeps the real server's resident memory flat (size: BERTH_LARGE_ARCHIVE_MIB, default 256).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { pipeline } from 'node:stream/promises';
import { startRealServer, type RealServer } from '../helpers/real-server.js';
import { bigDirArchive } from '../helpers/big-archive.js';
import { ADMIN, basic } from '../helpers/in-process.js';

const MIB = 1024 * 1024;
const sizeMiB = Number(process.env.BERTH_LARGE_ARCHIVE_MIB ?? 256);

const rssOf = (pid: number): number => {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m![1]) * 1024;
};

let s: RealServer;
beforeAll(async () => {
  s = await startRealServer('large');
});
afterAll(async () => s?.stop());

describe('large archive upload', () => {
  it(`streams a ${sizeMiB} MiB archive with flat server memory`, async () => {
    const pid = s.child.pid!;
    // warm up: one small upload so that the baseline includes loaded code and pools
    const small = bigDirArchive(MIB);
    const warm = await upload(small.stream);
    expect(warm.status, warm.body).toBe(201);
    const baseline = rssOf(pid);
    let peak = baseline;
    const sampler = setInterval(() => (peak = Math.max(peak, rssOf(pid))), 50);
    const big = bigDirArchive(sizeMiB * MIB);
    const started = Date.now();
    const r = await upload(big.stream);
    clearInterval(sampler);
    expect(r.status, r.body).toBe(201);
    expect(JSON.parse(r.body).manifests[0].digest).toBe(await big.done);
    const growth = (peak - baseline) / MIB;
    const seconds = (Date.now() - started) / 1000;
    console.log(
      `large archive: ${sizeMiB} MiB in ${seconds.toFixed(1)} s (${(sizeMiB / seconds).toFixed(0)} MiB/s); ` +
        `server RSS baseline ${(baseline / MIB).toFixed(0)} MiB, peak ${(peak / MIB).toFixed(0)} MiB, growth ${growth.toFixed(0)} MiB`,
    );
    // flat: far below the archive's size (holding it, or one entry of it, whole would add sizeMiB); Node 24's
    // garbage collector lets the heap grow further than Node 20's before collecting (34 vs about 70 MiB)
    expect(growth).toBeLessThan(Math.min(100, sizeMiB / 2));
  }, 600_000);
});

function upload(body: NodeJS.ReadableStream): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(`${s.url}/api/v1/repositories/big/app/-/archives?tag=big`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-tar', authorization: basic(ADMIN.user, ADMIN.password) },
    });
    req.on('response', (res) => {
      let b = '';
      res.on('data', (c) => (b += c));
      res.on('end', () => resolve({ status: res.statusCode!, body: b }));
    });
    req.on('error', reject);
    pipeline(body, req).catch(reject);
  });
}
