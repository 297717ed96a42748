// A full disk, end to end (issue 19): the real server with its data directory — blob store and SQLite database —
// on a small tmpfs. Pushes fill it until refused; every kind of upload is then refused with 507 and a message
// saying what the operator must do; nothing committed is damaged (every image pulls byte-identical); no staged or
// partial upload is left taking space; deleting images and running cleanup frees space on the full disk; a push
// works again; berth fsck is clean.
import { afterAll, beforeAll, describe, expect } from 'vitest';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  mkdtempSync,
  readdirSync,
  rmSync,
  statfsSync,
  existsSync,
  openSync,
  writeSync,
  statSync,
  closeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { removeTestDatabase, selectedBackend, skipUnless, testDatabaseUrl } from '../helpers/backend.js';
import { BIN, startRealServer, type RealServer } from '../helpers/real-server.js';
import { http, type HttpResult } from '../helpers/in-process.js';
import { dirImage, sha, tarOf } from '../helpers/images.js';
import { ociImage, OCI_MANIFEST, sep, type Image } from '../registry/oci.js';
import { MIB } from './support.js';
import { openDatabase } from '../../src/db/connect.js';
import { Keys } from '../../src/storage/cas.js';

const SIZE_MIB = 40;
const LAYER = 3 * MIB;

/** Mounts a tmpfs of SIZE_MIB on a fresh folder; the reason when it cannot (not root, no mount). */
function mountTmpfs(): { dir?: string; reason?: string } {
  if (process.getuid?.() !== 0) return { reason: 'mounting a tmpfs needs root' };
  const dir = mkdtempSync(join(tmpdir(), 'full-disk-'));
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${SIZE_MIB}m`, 'tmpfs', dir], {
    encoding: 'utf8',
  });
  if (r.status !== 0) {
    rmSync(dir, { recursive: true, force: true });
    return { reason: `mount -t tmpfs failed: ${(r.stderr || r.error?.message || '').trim()}` };
  }
  return { dir };
}

const mounted = mountTmpfs();
const it = skipUnless(mounted.dir !== undefined, mounted.reason ?? '');
const DIR = mounted.dir ?? '';
const data = join(DIR, 'data');
/** free bytes of the tmpfs */
const free = (): number => {
  const st = statfsSync(DIR);
  return st.bavail * st.bsize;
};
const filesUnder = (sub: string): string[] => {
  const d = join(data, 'store', sub);
  return existsSync(d) ? (readdirSync(d, { recursive: true }) as string[]) : [];
};

let s: RealServer;
let database: string;
beforeAll(async () => {
  if (!mounted.dir) return;
  // the harsh case: SQLite on the same full disk; PostgreSQL keeps its own (only the store fills then)
  database = selectedBackend() === 'sqlite' ? join(data, 'berth.db') : await testDatabaseUrl('full-disk');
  s = await startRealServer('full-disk', { data, database });
});
afterAll(async () => {
  await s?.stop();
  if (!mounted.dir) return;
  if (selectedBackend() !== 'sqlite') await removeTestDatabase(database);
  spawnSync('umount', [mounted.dir]);
  rmSync(mounted.dir, { recursive: true, force: true });
});

const octet = { 'content-type': 'application/octet-stream' };

/** Pushes an image (blobs by POST then PUT, then the manifest); the first answer that is not a success, if any. */
async function push(repo: string, img: Image): Promise<HttpResult | undefined> {
  for (const blob of img.blobs) {
    const start = await http('POST', `${s.url}/v2/${repo}/blobs/uploads/`);
    if (start.status !== 202) return start;
    const loc = new URL(start.headers.location as string, s.url).toString();
    const put = await http('PUT', `${loc}${sep(loc)}digest=${sha(blob)}`, blob, octet);
    if (put.status !== 201) return put;
  }
  const m = await http('PUT', `${s.url}/v2/${repo}/manifests/latest`, img.bytes, {
    'content-type': OCI_MANIFEST,
  });
  return m.status === 201 ? undefined : m;
}

/** Checks a refusal for lack of space: 507, Distribution's UNAVAILABLE, a message that says what to do. */
function expectFull(r: HttpResult | undefined, what: string): void {
  expect(r, `${what} was refused`).toBeDefined();
  expect(r!.status, `${what}: ${r!.status} ${r!.body.toString()}`).toBe(507);
  const e = r!.json().errors[0];
  expect(e.code, what).toBe('UNAVAILABLE');
  expect(e.message, what).toMatch(/out of storage space/);
  expect(e.message, what).toMatch(/berth cleanup/);
}

/** Every image pulls byte-identical: manifest and blobs. */
async function expectIntact(images: { repo: string; img: Image }[]): Promise<void> {
  for (const { repo, img } of images) {
    const m = await http('GET', `${s.url}/v2/${repo}/manifests/latest`, undefined, { accept: OCI_MANIFEST });
    expect(m.status, `${repo} manifest`).toBe(200);
    expect(m.body.equals(img.bytes), `${repo} manifest bytes`).toBe(true);
    for (const b of img.blobs) {
      const r = await http('GET', `${s.url}/v2/${repo}/blobs/${sha(b)}`);
      expect(r.status, `${repo} blob`).toBe(200);
      expect(r.body.equals(b), `${repo} blob bytes`).toBe(true);
    }
  }
}

/** Fills what is left of the disk with a file beside the data (as other files on a full volume would). */
function fillTheRest(): string {
  const file = join(DIR, 'filler');
  const fd = openSync(file, 'w');
  const chunk = Buffer.alloc(64 * 1024, 1);
  try {
    for (;;) writeSync(fd, chunk);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOSPC') throw e;
  } finally {
    closeSync(fd);
  }
  return file;
}

describe(`a full disk (a ${SIZE_MIB} MiB tmpfs holding the store and the SQLite database)`, () => {
  const pushed: { repo: string; img: Image }[] = [];

  it('pushes fill it until refused with 507; what was committed stays intact', async () => {
    let refusal: HttpResult | undefined;
    for (let i = 0; i < 40 && !refusal; i++) {
      const img = ociImage({ layers: [randomBytes(LAYER)] });
      refusal = await push(`full/app${i}`, img);
      if (!refusal) pushed.push({ repo: `full/app${i}`, img });
    }
    console.log(
      `full disk: ${pushed.length} images of ${LAYER / MIB} MiB pushed; then ${refusal?.status} ${refusal?.body.toString()}; ${free()} bytes free`,
    );
    expect(pushed.length).toBeGreaterThan(3);
    expectFull(refusal, 'the push that found the disk full');
    await expectIntact(pushed);
  }, 120_000);

  it('on the full disk every kind of upload is refused with 507, leaving nothing staged', async () => {
    const layer = randomBytes(LAYER);
    expect(free(), 'less than a layer is free').toBeLessThan(LAYER);
    // monolithic POST ?digest=
    expectFull(
      await http('POST', `${s.url}/v2/full/more/blobs/uploads/?digest=${sha(layer)}`, layer, octet),
      'a monolithic upload',
    );
    // a chunked PATCH of a session (if the session could be opened at all)
    const start = await http('POST', `${s.url}/v2/full/more/blobs/uploads/`);
    if (start.status === 202) {
      const loc = new URL(start.headers.location as string, s.url).toString();
      expectFull(
        await http('PATCH', loc, layer, { ...octet, 'content-range': `0-${layer.length - 1}` }),
        'a chunked PATCH',
      );
    } else expectFull(start, 'opening an upload session');
    // an archive upload
    const archive = await tarOf(dirImage({ layers: [layer] }).entries);
    expectFull(
      await http('POST', `${s.url}/api/v1/repositories/full/archive/-/archives`, archive, {
        'content-type': 'application/x-tar',
      }),
      'an archive upload',
    );
    expect(filesUnder('staging')).toEqual([]);
    await expectIntact(pushed);
  }, 120_000);

  it('no refused upload keeps bytes: sessions hold only what they acknowledged, nothing is staged', async () => {
    // a refused chunk leaves the session as the client last saw it (0 bytes here); a refused monolithic
    // upload leaves no session at all
    // each open session's object (objects/<xx>/<id>/data: named by the upload; the pushed blobs' objects beside
    // them are mapped by their rows)
    const db = await openDatabase(database);
    const open = await db.kysely
      .selectFrom('upload_sessions')
      .select('id')
      .execute()
      .finally(() => db.close());
    expect(open.length).toBeGreaterThan(0);
    const sizes = open.map(({ id }) => statSync(join(data, 'store', Keys.upload(id))).size);
    expect(
      sizes.every((n) => n === 0),
      `upload files of ${sizes.join(', ')} bytes`,
    ).toBe(true);
    expect(filesUnder('staging')).toEqual([]);
  });

  it('filled to the last byte, writes of the database are refused with 507 too (SQLITE_FULL), reads go on', async () => {
    const filler = fillTheRest();
    try {
      expect(free()).toBe(0);
      // a session is a row and an empty file: on SQLite the database finds the disk full once its log (WAL)
      // must grow; on PostgreSQL (its disk elsewhere) sessions open
      let r: HttpResult | undefined;
      // (under the default bound of 1000 open sessions per user: the database fills long before)
      const tries = selectedBackend() === 'sqlite' ? 900 : 1;
      let opened = 0;
      for (; opened < tries && (!r || r.status === 202); opened++)
        r = await http('POST', `${s.url}/v2/full/more/blobs/uploads/`);
      if (selectedBackend() === 'sqlite') console.log(`full disk: SQLite refused upload session ${opened}`);
      if (selectedBackend() === 'sqlite') expectFull(r, 'opening an upload session');
      else expect(r!.status).toBe(202);
      // a change of settings is a row and nothing else: answered, or refused with 507, never a 500
      const p = await http(
        'PATCH',
        `${s.url}/api/v1/repositories/${pushed[0]!.repo}`,
        JSON.stringify({ retainVersions: 1 }),
        { 'content-type': 'application/json' },
      );
      if (p.status !== 200) expectFull(p, 'a change of retention');
      await expectIntact(pushed);
    } finally {
      rmSync(filler);
    }
  }, 120_000);

  it('on the full disk, images are deleted and cleanup frees their space', async () => {
    const before = free();
    const gone = pushed.splice(0, 4);
    for (const { repo, img } of gone) {
      const p = await http(
        'PATCH',
        `${s.url}/api/v1/repositories/${repo}`,
        JSON.stringify({ retainVersions: 1 }),
        {
          'content-type': 'application/json',
        },
      );
      expect(p.status, `retention of ${repo}: ${p.body.toString()}`).toBe(200);
      // the image goes: its manifest, then its config and layer
      for (const path of [`manifests/${img.digest}`, ...img.blobs.map((b) => `blobs/${sha(b)}`)]) {
        const d = await http('DELETE', `${s.url}/v2/${repo}/${path}`);
        expect(d.status, `delete ${path} in ${repo}: ${d.body.toString()}`).toBe(202);
      }
    }
    const c = await http('POST', `${s.url}/api/v1/cleanup`, JSON.stringify({ protectionSeconds: 0 }), {
      'content-type': 'application/json',
    });
    expect(c.status, c.body.toString()).toBe(200);
    const report = c.json();
    const freed = free() - before;
    console.log(
      `full disk: cleanup removed ${report.removed.blobs} blobs, ${report.removed.bytes} bytes; ` +
        `the disk has ${freed} bytes more free (${before} → ${free()})`,
    );
    expect(report.removed.bytes).toBeGreaterThanOrEqual(4 * LAYER);
    // (less what the database grew by: the versions and the cleanup's own rows)
    expect(freed).toBeGreaterThanOrEqual(4 * LAYER - MIB);
    await expectIntact(pushed);
  }, 120_000);

  it('a push works again, and berth fsck is clean', async () => {
    const img = ociImage({ layers: [randomBytes(LAYER)] });
    expect(await push('full/again', img)).toBeUndefined();
    pushed.push({ repo: 'full/again', img });
    await expectIntact(pushed);
    const fsck = spawnSync(process.execPath, [BIN, 'fsck', '--data', data, '--database', database], {
      encoding: 'utf8',
    });
    expect(fsck.status, `berth fsck: ${fsck.stdout}${fsck.stderr}`).toBe(0);
  }, 120_000);
});
