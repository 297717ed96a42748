// A real server killed with SIGKILL mid-archive-upload, mid-chunked-push and at random points restarts cleanly; fsck agrees.
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'node:http';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/db/connect.js';
import { bigDirArchive } from '../helpers/big-archive.js';
import { removeTestDatabase, testDatabaseUrl } from '../helpers/backend.js';
import { http, ADMIN, basic } from '../helpers/in-process.js';
import { BIN, startRealServer, type RealServer } from '../helpers/real-server.js';
import {
  releaseDataStore,
  storeArgs,
  storedBytes,
  storeKeys,
  unfinishedKeys,
} from '../helpers/data-store.js';
import { testStoreKind } from '../helpers/s3.js';
import { Keys } from '../../src/storage/cas.js';

const MIB = 1024 * 1024;
// (once on S3, where every write is requests to RGW: the runs on files repeat the random kill points)
const REPEAT = Number(process.env.BERTH_CRASH_REPEAT ?? (testStoreKind() === 's3' ? 1 : 3));
const sha = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

async function until(cond: () => Promise<boolean>, what: string, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

/** A body that produces `size` random-ish bytes, slowly enough to be killed in the middle of. */
function slowBody(size: number): Readable {
  const block = randomBytes(256 * 1024);
  let left = size;
  return new Readable({
    read() {
      if (left <= 0) return void this.push(null);
      const chunk = block.subarray(0, Math.min(left, block.length));
      left -= chunk.length;
      setTimeout(() => this.push(chunk), 2);
    },
  });
}

/** A request the server is killed in the middle of: every error of its socket is expected, and swallowed. */
function doomed(method: string, url: string, body: Readable, headers: Record<string, string>): Promise<void> {
  return new Promise((resolve) => {
    const req = request(url, {
      method,
      headers: { authorization: basic(ADMIN.user, ADMIN.password), ...headers },
    });
    req.on('error', () => resolve());
    req.on('socket', (socket) => socket.on('error', () => undefined));
    req.on('response', (res) => {
      res.on('error', () => resolve());
      res.on('end', () => resolve());
      res.resume();
    });
    body.on('error', () => resolve());
    body.pipe(req);
  });
}

/** Runs `berth fsck` as a child process on the instance (and its store); its exit code and output. */
async function fsck(
  data: string,
  database: string,
  ...args: string[]
): Promise<{ code: number | null; out: string }> {
  const store = await storeArgs(data);
  const r = spawnSync(
    process.execPath,
    [BIN, 'fsck', '--data', data, '--database', database, ...store, ...args],
    { encoding: 'utf8', timeout: 30_000 },
  );
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

interface Instance {
  data: string;
  database: string;
  fixture: { manifest: string; blobs: string[] };
}

const instances: Instance[] = [];
const servers: RealServer[] = [];

afterEach(async () => {
  for (const s of servers.splice(0)) await s.stop('SIGKILL');
  for (const i of instances.splice(0)) {
    await removeTestDatabase(i.database);
    rmSync(i.data, { recursive: true, force: true });
    await releaseDataStore(i.data);
  }
});

async function start(i: { data: string; database: string }): Promise<RealServer> {
  const s = await startRealServer('crash', { data: i.data, database: i.database });
  servers.push(s);
  return s;
}

/** A new instance with a fixture image committed before anything goes wrong. */
async function newInstance(): Promise<{ instance: Instance; server: RealServer }> {
  const data = mkdtempSync(join(tmpdir(), 'crash-'));
  const database = await testDatabaseUrl('crash');
  const server = await start({ data, database });
  const archive = bigDirArchive(MIB);
  const r = await http(
    'POST',
    `${server.url}/api/v1/repositories/fixture/app/-/archives?tag=v1`,
    archive.stream,
    { 'content-type': 'application/x-tar' },
  );
  expect(r.status, r.body.toString()).toBe(201);
  const manifest = await archive.done;
  const m = await http('GET', `${server.url}/v2/fixture/app/manifests/v1`, undefined, {
    accept: 'application/vnd.oci.image.manifest.v1+json',
  });
  const parsed = m.json<{ config: { digest: string }; layers: { digest: string }[] }>();
  const instance = {
    data,
    database,
    fixture: { manifest, blobs: [parsed.config.digest, ...parsed.layers.map((l) => l.digest)] },
  };
  instances.push(instance);
  return { instance, server };
}

async function kill(s: RealServer): Promise<void> {
  const exited = new Promise((r) => s.child.once('exit', r));
  s.child.kill('SIGKILL');
  await exited;
  servers.splice(servers.indexOf(s), 1);
}

/** After a restart: it serves, and the fixture committed before the crash pulls whole. */
async function checkServes(s: RealServer, i: Instance): Promise<void> {
  expect((await http('GET', `${s.url}/v2/`)).status).toBe(200);
  const m = await http('GET', `${s.url}/v2/fixture/app/manifests/v1`, undefined, {
    accept: 'application/vnd.oci.image.manifest.v1+json',
  });
  expect(m.status).toBe(200);
  expect(sha(m.body)).toBe(i.fixture.manifest);
  for (const d of i.fixture.blobs) {
    const b = await http('GET', `${s.url}/v2/fixture/app/blobs/${d}`);
    expect(b.status).toBe(200);
    expect(sha(b.body)).toBe(d);
  }
}

/**
 * fsck finds nothing wrong with the default protection; with none, repair removes the leftovers; then clean, and
 * nothing is left in the store's temporary folders: no object, and (S3) no multipart upload begun.
 */
async function checkFsck(i: Instance, leftovers: RegExp | undefined): Promise<void> {
  const plain = await fsck(i.data, i.database);
  expect(plain.code, plain.out).toBe(0);
  expect(plain.out).toContain('no problems found');
  const repair = await fsck(i.data, i.database, '--protection', '0', '--repair');
  expect(repair.code, repair.out).toBe(0);
  if (leftovers) expect(repair.out).toMatch(leftovers);
  const again = await fsck(i.data, i.database, '--protection', '0', '--verify');
  expect(again.code, again.out).toBe(0);
  expect(again.out).toContain('no problems found');
  for (const folder of ['staging/', 'uploads/']) {
    expect(await storeKeys(i.data, folder), folder).toEqual([]);
    expect(await unfinishedKeys(i.data, folder), `${folder} (unfinished writes)`).toEqual([]);
  }
}

describe('crash safety (SIGKILL)', () => {
  it(`in the middle of an archive upload, ${REPEAT} times`, async () => {
    for (let n = 0; n < REPEAT; n++) {
      const { instance, server } = await newInstance();
      const staging = () => storedBytes(instance.data, 'staging/');
      const archive = bigDirArchive(1024 * MIB);
      const upload = doomed(
        'POST',
        `${server.url}/api/v1/repositories/crash/app/-/archives?tag=t`,
        Readable.from(archive.stream), // a Node stream: tar-stream's own pipe rethrows the dead socket's error
        { 'content-type': 'application/x-tar' },
      );
      await until(async () => (await staging()) > (8 + 8 * n) * MIB, 'the staging folder to grow');
      await kill(server);
      await upload;
      expect(await staging()).toBeGreaterThan(0); // the crash left its staging folder (on S3: parts of an upload)

      const again = await start(instance);
      await checkServes(again, instance);
      expect((await http('GET', `${again.url}/v2/crash/app/manifests/t`)).status).toBe(404);
      await again.stop('SIGTERM');
      servers.splice(servers.indexOf(again), 1);
      await checkFsck(instance, /expired-staging/);
    }
  }, 120_000);

  it(`in the middle of a chunked push (a PATCH being written), ${REPEAT} times`, async () => {
    for (let n = 0; n < REPEAT; n++) {
      const { instance, server } = await newInstance();
      const first = randomBytes(MIB);
      const post = await http('POST', `${server.url}/v2/crash/chunked/blobs/uploads/`);
      expect(post.status).toBe(202);
      const location = new URL(String(post.headers.location), server.url).toString();
      const id = location.split('/').pop()!.split('?')[0]!;
      const p1 = await http('PATCH', location, first, {
        'content-type': 'application/octet-stream',
        'content-range': `0-${first.length - 1}`,
      });
      expect(p1.status).toBe(202);
      const written = () => storedBytes(instance.data, Keys.objectDir(id));
      const patch = doomed('PATCH', location, slowBody(512 * MIB), {
        'content-type': 'application/octet-stream',
      });
      await until(async () => (await written()) > (3 + n) * MIB, 'the upload file to grow');
      await kill(server);
      await patch;

      const again = await start(instance);
      await checkServes(again, instance);
      // The session survived with the bytes of its completed chunks only.
      const status = await http('GET', location.replace(server.url, again.url));
      expect(status.status).toBe(204);
      expect(status.headers.range).toBe(`0-${first.length - 1}`);
      // The dead request's lease (60 s) still holds: a PATCH now is refused as "being written", not failed.
      const second = randomBytes(MIB);
      const url = location.replace(server.url, again.url);
      const early = await http('PATCH', url, second, {
        'content-type': 'application/octet-stream',
        'content-range': `${first.length}-${first.length + second.length - 1}`,
      });
      expect(early.status).toBe(400);
      expect(early.json().errors[0].code).toBe('BLOB_UPLOAD_INVALID');
      expect(early.json().errors[0].message).toMatch(/being written by another request/);
      // Once the lease has run out (made to here, instead of waiting a minute), the session continues from
      // its recorded size: the dead request's half-written bytes past it are dropped.
      const db = await openDatabase(instance.database);
      await db.kysely.updateTable('upload_sessions').set({ busy_until: 0 }).where('id', '=', id).execute();
      await db.close();
      const cont = await http('PATCH', url, second, {
        'content-type': 'application/octet-stream',
        'content-range': `${first.length}-${first.length + second.length - 1}`,
      });
      expect(cont.status, cont.body.toString()).toBe(202);
      const digest = sha(Buffer.concat([first, second]));
      const put = await http('PUT', `${url}${url.includes('?') ? '&' : '?'}digest=${digest}`);
      expect(put.status, put.body.toString()).toBe(201);
      const blob = await http('GET', `${again.url}/v2/crash/chunked/blobs/${digest}`);
      expect(sha(blob.body)).toBe(digest);
      await again.stop('SIGTERM');
      servers.splice(servers.indexOf(again), 1);
      await checkFsck(instance, undefined);
    }
  }, 120_000);

  it(`at random points of small archive uploads (staging, moving into place, committing), ${REPEAT} times`, async () => {
    for (let n = 0; n < REPEAT; n++) {
      const { instance, server } = await newInstance();
      let stop = false;
      const uploads = (async () => {
        for (let k = 0; !stop; k++) {
          const a = bigDirArchive(2 * MIB);
          await doomed(
            'POST',
            `${server.url}/api/v1/repositories/crash/many/-/archives?tag=t${k}`,
            a.stream,
            {
              'content-type': 'application/x-tar',
            },
          );
        }
      })();
      await sleep(150 + Math.floor(Math.random() * 400));
      stop = true;
      await kill(server);
      await uploads;
      const again = await start(instance);
      await checkServes(again, instance);
      // every tag that was committed pulls whole
      const tags = await http('GET', `${again.url}/v2/crash/many/tags/list`);
      for (const t of tags.status === 200 ? (tags.json<{ tags: string[] }>().tags ?? []) : []) {
        const m = await http('GET', `${again.url}/v2/crash/many/manifests/${t}`, undefined, {
          accept: 'application/vnd.oci.image.manifest.v1+json',
        });
        expect(m.status).toBe(200);
        for (const l of m.json<{ layers: { digest: string }[] }>().layers) {
          const b = await http('GET', `${again.url}/v2/crash/many/blobs/${l.digest}`);
          expect(sha(b.body)).toBe(l.digest);
        }
      }
      await again.stop('SIGTERM');
      servers.splice(servers.indexOf(again), 1);
      await checkFsck(instance, undefined);
    }
  }, 120_000);
});
