// A server SIGKILLed mid-cleanup (seen started, not finished) restarts cleanly; the next cleanup finishes the job.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { openDatabase, type Db } from '../../src/db/connect.js';
import { removeTestDatabase, testDatabaseUrl } from '../helpers/backend.js';
import { fixture, http } from '../helpers/in-process.js';
import { sha } from '../helpers/images.js';
import { BIN, startRealServer, type RealServer } from '../helpers/real-server.js';
import { releaseDataStore, storeArgs, storeKeys } from '../helpers/data-store.js';
import { Keys } from '../../src/storage/cas.js';
import { testStoreKind } from '../helpers/s3.js';
import type { Digest } from '../../src/core/digest.js';

// (once on S3, where every push, move and delete is a request to RGW: the runs on files repeat the kill)
const REPEAT = Number(process.env.BERTH_CRASH_REPEAT ?? (testStoreKind() === 's3' ? 1 : 2));
const ORPHANS = 600;
const PUSHERS = 8;
/** on S3 every push, move and delete is a request to RGW: several times slower than files on a loaded machine */
const TIMEOUT = testStoreKind() === 's3' ? 400_000 : 120_000;
const cleanups: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const c of cleanups) await c();
});

/**
 * The blobs of these digests whose objects are in place in the data folder's store (one listing each of blobs/ and
 * objects/, not a stat each), at the keys their rows mapped (`mapped`: read before the rows went) or at their
 * content addresses.
 */
async function storedOf(
  data: string,
  digests: Iterable<string>,
  mapped: Map<string, string>,
): Promise<string[]> {
  const keys = new Set([
    ...(await storeKeys(data, Keys.blobsRoot)),
    ...(await storeKeys(data, Keys.objectsRoot)),
  ]);
  return [...digests].filter((d) => keys.has(mapped.get(d) ?? Keys.blob(d as Digest)));
}

/** Blobs let go of into trash/ by a cleanup and not settled yet: trash/<cleanup>/<hex>. */
const inTrash = async (data: string): Promise<number> =>
  (await storeKeys(data, 'trash/')).filter((k) => /^[a-f0-9]{64}$/.test(k.split('/').at(-1)!)).length;

async function fsck(data: string, database: string, ...args: string[]) {
  const store = await storeArgs(data);
  const r = spawnSync(
    process.execPath,
    [BIN, 'fsck', '--data', data, '--database', database, ...store, ...args],
    { encoding: 'utf8', timeout: 60_000 },
  );
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

describe('SIGKILL during a cleanup', () => {
  for (let round = 1; round <= REPEAT; round++) {
    it(
      `round ${round}: restarts cleanly, keeps what is in use, and fsck is clean`,
      async () => {
        const data = mkdtempSync(join(tmpdir(), 'crash-cleanup-'));
        const database = await testDatabaseUrl(`crash_cleanup_${round}`);
        const db: Db = await openDatabase(database);
        let s: RealServer | undefined;
        cleanups.push(async () => {
          await s?.stop('SIGKILL').catch(() => undefined);
          await db.close();
          await removeTestDatabase(database);
          rmSync(data, { recursive: true, force: true });
          await releaseDataStore(data);
        });
        s = await startRealServer('crash-cleanup', { data, database });
        // content in use: an image that must survive
        const kept = await http('POST', `${s.url}/api/v1/repositories/keep/app/-/archives?tag=1.0`, {
          file: fixture('app.dir.tar'),
        });
        expect(kept.status).toBe(201);
        // orphans: pushed blobs whose pending claim is dropped (PUSHERS at once: on S3 each push is a few requests)
        const orphans: string[] = [];
        const pusher = async () => {
          while (orphans.length < ORPHANS) {
            const b = randomBytes(256);
            orphans.push(sha(b));
            const r = await http('POST', `${s!.url}/v2/junk/app/blobs/uploads/?digest=${sha(b)}`, b);
            expect(r.status).toBe(201);
          }
        };
        await Promise.all(Array.from({ length: PUSHERS }, pusher));
        await db.kysely.deleteFrom('pending_blobs').execute();
        // where each orphan's bytes are (its upload's object): known only while its row lives
        const mapped = new Map<string, string>();
        for (const r of await db.kysely
          .selectFrom('blobs')
          .select(['digest', 'object_key'])
          .where('digest', 'in', orphans)
          .execute())
          if (r.object_key) mapped.set(r.digest, r.object_key);
        // start a cleanup and kill the server in the middle of it: as soon as its first decision (a batch of rows
        // deleted) is seen, while it lets go of that batch's files
        const orphanRows = async () =>
          (await db.kysely.selectFrom('blobs').select('digest').where('digest', 'in', orphans).execute())
            .length;
        const running = http('POST', `${s.url}/api/v1/cleanup`, JSON.stringify({ protectionSeconds: 0 }), {
          'content-type': 'application/json',
        }).catch(() => undefined);
        for (let i = 0; i < 2000 && (await orphanRows()) === ORPHANS; i++) await sleep(2);
        s.child.kill('SIGKILL');
        await running;
        await s.stop('SIGKILL');
        const left = await db.kysely
          .selectFrom('blobs')
          .select('digest')
          .where('digest', 'in', orphans)
          .execute();
        // the kill landed mid-cleanup: it had started (rows gone) and not finished (rows left, or files of rows
        // gone still in blobs/ or in trash/)
        const trashed = await inTrash(data);
        const rowsGone = new Set(orphans);
        for (const r of left) rowsGone.delete(r.digest);
        const filesOfGoneRows = (await storedOf(data, rowsGone, mapped)).length;
        expect(left.length, 'the cleanup had started').toBeLessThan(ORPHANS);
        expect(left.length + trashed + filesOfGoneRows, 'the cleanup had not finished').toBeGreaterThan(0);
        // restart: files left in trash/ are settled at start
        s = await startRealServer('crash-cleanup', { data, database });
        for (let i = 0; i < 50 && (await storeKeys(data, 'trash/')).length > 0; i++) await sleep(100);
        // what was in use is whole
        const m = await http('GET', `${s.url}/v2/keep/app/manifests/1.0`);
        expect(m.status).toBe(200);
        for (const l of [m.json().config, ...m.json().layers]) {
          const b = await http('GET', `${s.url}/v2/keep/app/blobs/${l.digest}`);
          expect(b.status).toBe(200);
          expect(sha(b.body)).toBe(l.digest);
        }
        const plain = await fsck(data, database);
        expect(plain.code, plain.out).toBe(0);
        // the next cleanup removes the orphans that still had rows, and the files whose rows went (strays)
        const again = await http(
          'POST',
          `${s.url}/api/v1/cleanup`,
          JSON.stringify({ protectionSeconds: 0 }),
          {
            'content-type': 'application/json',
          },
        );
        expect(again.status).toBe(200);
        expect(again.json().removed.blobs).toBe(left.length);
        expect(again.json().removed.strayFiles).toBe(filesOfGoneRows);
        const clean = await fsck(data, database, '--protection', '0', '--verify');
        expect(clean.code, clean.out).toBe(0);
        console.log(
          `crash during cleanup, round ${round}: killed with ${ORPHANS - left.length} of ${ORPHANS} orphan rows gone ` +
            `(${trashed} files in trash, ${filesOfGoneRows} still in place); the next cleanup removed ${left.length} ` +
            `blobs and ${filesOfGoneRows} stray files; fsck clean`,
        );
      },
      TIMEOUT,
    );
  }
});
