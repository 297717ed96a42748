// An archive upload whose client goes: mid-body, or after the body while the server reads the archive, stops all
// work (no version, no row, no file); at the start of the commit, the commit completes (exactly one version).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, readdirSync } from 'node:fs';
import { globalAgent } from 'node:http';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { startTestServer, http, ADMIN, basic, type TestServer } from '../helpers/in-process.js';
import { dirImage, tarOf } from '../helpers/images.js';
import { snapshot } from '../helpers/state.js';

let s: TestServer;
beforeAll(async () => {
  s = await startTestServer('client-gone');
});
afterAll(async () => s?.close());

const staging = (): string[] => {
  const dir = join(s.data, 'store', 'staging');
  return existsSync(dir) ? (readdirSync(dir, { recursive: true }) as string[]) : [];
};

async function until(what: string, cond: () => boolean | Promise<boolean>, withinMs = 10_000): Promise<void> {
  const end = Date.now() + withinMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Opens a connection and sends the head of an archive upload of `length` bytes to `repo`. */
async function startUpload(repo: string, length: number): Promise<Socket> {
  const socket = connect(Number(new URL(s.url).port), '127.0.0.1');
  socket.on('error', () => {});
  await new Promise((r) => socket.once('connect', r));
  socket.write(
    `POST /api/v1/repositories/${repo}/-/archives?tag=v1 HTTP/1.1\r\nHost: x\r\n` +
      `Authorization: ${basic(ADMIN.user, ADMIN.password)}\r\nContent-Type: application/x-tar\r\n` +
      `Content-Length: ${length}\r\n\r\n`,
  );
  return socket;
}

/**
 * Holds the first call of a store method on a staged file until released: `reached` resolves when the upload
 * got there (its body read whole). The method is restored when released.
 */
function holdAt(method: 'reader' | 'move'): { reached: Promise<void>; release: () => void } {
  const store = s.berth.store as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>;
  const original = store[method]!;
  let reached!: () => void;
  let release!: () => void;
  const reachedP = new Promise<void>((r) => (reached = r));
  const released = new Promise<void>((r) => (release = r));
  let armed = true;
  store[method] = async (...args: unknown[]) => {
    if (armed && String(args[0]).startsWith('staging/')) {
      armed = false;
      reached();
      await released;
    }
    return original.apply(store, args);
  };
  return {
    reached: reachedP,
    release: () => {
      store[method] = original;
      release();
    },
  };
}

/** Leaves: closes the connection and waits until the server has seen it go. */
async function leave(socket: Socket): Promise<void> {
  socket.destroy();
  globalAgent.destroy(); // the kept-alive connections of earlier requests, which the server counts too
  await until('the server saw the client go', async () => (await s.connections()) === 0);
}

/** The versions of a repository past its empty version 0 (none when it does not exist). */
async function versions(repo: string): Promise<{ number: number }[]> {
  const r = await http('GET', `${s.url}/api/v1/repositories/${repo}/-/versions`);
  if (r.status === 404) return [];
  expect(r.status, r.body.toString()).toBe(200);
  return r.json().versions.filter((v: { number: number }) => v.number > 0);
}

describe('an archive upload whose client goes', () => {
  it('mid-body: the upload stops, nothing is left (rows, files, staging)', async () => {
    const before = await snapshot(s.berth, s.data);
    const big = 64 * 1024 * 1024;
    const socket = await startUpload('gone/mid', big + 4096);
    const head = await tarOf([{ name: 'version', data: 'Directory Transport Version: 1.1\n' }]);
    socket.write(head.subarray(0, 1024));
    // the header of a large entry, then part of it
    const entry = await tarOf([{ name: 'layer', data: Buffer.alloc(1) }]);
    const header = Buffer.from(entry.subarray(0, 512));
    header.write(big.toString(8).padStart(11, '0') + '\0', 124, 'latin1');
    header.fill(0x20, 148, 156);
    let sum = 0;
    for (const b of header) sum += b;
    header.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'latin1');
    socket.write(header);
    socket.write(Buffer.alloc(2 * 1024 * 1024, 1));
    await until('the entry is being staged', () => staging().length > 0);
    await leave(socket);
    await until('the staging folder is removed', () => staging().length === 0);
    expect(await snapshot(s.berth, s.data)).toEqual(before);
  });

  it('after sending the body, while the server reads the archive: no version, no row, no file', async () => {
    const before = await snapshot(s.berth, s.data);
    const body = await tarOf(dirImage().entries);
    const hold = holdAt('reader');
    const socket = await startUpload('gone/after', body.length);
    socket.write(body);
    await hold.reached; // the body was read whole and staged; the server reads manifest.json next
    expect(staging().length).toBeGreaterThan(0);
    await leave(socket);
    hold.release();
    await until('the staging folder is removed', () => staging().length === 0);
    // no work goes on: this process (the server) is idle but for its timers
    const cpu0 = process.cpuUsage();
    await new Promise((r) => setTimeout(r, 500));
    const cpu = process.cpuUsage(cpu0);
    console.log(
      `client gone after its body: CPU ${((cpu.user + cpu.system) / 1000).toFixed(0)} ms in the next 500 ms`,
    );
    expect((cpu.user + cpu.system) / 1000).toBeLessThan(150);
    expect(await snapshot(s.berth, s.data)).toEqual(before);
    expect(await versions('gone/after')).toEqual([]);
  });

  it('once the commit has started, it completes: exactly one version, pullable, staging removed', async () => {
    const image = dirImage();
    const body = await tarOf(image.entries);
    const hold = holdAt('move');
    const socket = await startUpload('gone/commit', body.length);
    socket.write(body);
    await hold.reached; // verified and planned: the first file is being moved into place
    await leave(socket);
    hold.release();
    await until('the staging folder is removed', () => staging().length === 0);
    await until('the version is committed', async () => (await versions('gone/commit')).length === 1);
    const m = await http('GET', `${s.url}/v2/gone/commit/manifests/v1`, undefined, {
      accept: 'application/vnd.oci.image.manifest.v1+json',
    });
    expect(m.status).toBe(200);
    expect(m.body.equals(image.manifestBytes)).toBe(true);
    for (const [i, d] of image.layerDigests.entries()) {
      const b = await http('GET', `${s.url}/v2/gone/commit/blobs/${d}`);
      expect(b.body.equals(image.layers[i]!)).toBe(true);
    }
  });
});
