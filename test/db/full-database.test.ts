// SQLite on a full disk: a transaction that meets SQLITE_FULL fails with that error (not with the failed ROLLBACK
// after SQLite already rolled back by itself), so that it is answered 507 STORAGE_FULL. max_page_count stands in
// for the disk.
import { afterEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { openDatabase, type Db } from '../../src/db/connect.js';
import { isOutOfSpace } from '../../src/core/errors.js';

let dir: string;
let db: Db | undefined;
afterEach(async () => {
  await db?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('SQLite when the disk is full', () => {
  it('a transaction fails with SQLITE_FULL, recognised as out of space, and the database stays usable', async () => {
    dir = mkdtempSync(join(tmpdir(), 'full-db-'));
    db = await openDatabase(join(dir, 'berth.db'));
    const pages = await sql<{ page_count: number }>`PRAGMA page_count`.execute(db.kysely);
    await sql.raw(`PRAGMA max_page_count = ${pages.rows[0]!.page_count}`).execute(db.kysely);
    const big = 'x'.repeat(4000);
    const e = await db.kysely
      .transaction()
      .execute(async (trx) => {
        for (let i = 0; i < 100; i++)
          await trx
            .insertInto('login_failures')
            .values({ key: `k${i}${big}`, failures: 1, last_at: 0 })
            .execute();
      })
      .then(
        () => undefined,
        (err: unknown) => err,
      );
    expect((e as { code?: string })?.code, String(e)).toBe('SQLITE_FULL');
    expect(isOutOfSpace(e)).toBe(true);
    // nothing of it was written, and the database answers
    const n = await db.kysely
      .selectFrom('login_failures')
      .select((eb) => eb.fn.countAll().as('n'))
      .executeTakeFirst();
    expect(Number(n?.n)).toBe(0);
  });
});
