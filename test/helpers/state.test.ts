// Covers test/helpers/state.ts: the snapshot holds every table of the database by content, on every backend.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openBerth, type Berth } from '../../src/app.js';
import { backends, removeTestDatabase, testDatabaseUrl, type Backend } from './backend.js';
import { databaseTables, snapshot, SNAPSHOT_TABLES } from './state.js';

describe.each(backends())('snapshot on %s', (backend: Backend) => {
  let berth: Berth;
  let data: string;
  let database: string;
  beforeAll(async () => {
    data = mkdtempSync(join(tmpdir(), 'berth-snapshot-'));
    database = await testDatabaseUrl(`snapshot-${backend}`, backend);
    berth = await openBerth({ data, database });
  });
  afterAll(async () => {
    await berth?.close();
    rmSync(data, { recursive: true, force: true });
    if (database) await removeTestDatabase(database);
  });

  it('covers every table the migrations make, and no other', async () => {
    expect(await databaseTables(berth)).toEqual(SNAPSHOT_TABLES);
    expect(Object.keys((await snapshot(berth, data)).rows)).toEqual(SNAPSHOT_TABLES);
  });

  it('sees a stray row in any table, and a changed row where the count stays the same', async () => {
    const k = berth.db.kysely;
    const before = await snapshot(berth, data);
    await k
      .insertInto('upload_sessions')
      .values({ id: 'u1', repository: 'r', size: 0, created_at: 1, updated_at: 1, busy_until: 0 })
      .execute();
    const withSession = await snapshot(berth, data);
    expect(withSession).not.toEqual(before);
    await k.deleteFrom('upload_sessions').execute();
    expect(await snapshot(berth, data)).toEqual(before);

    await k.insertInto('blobs').values({ digest: 'sha256:aa', size: 1, created_at: 1 }).execute();
    const one = await snapshot(berth, data);
    await k.updateTable('blobs').set({ size: 2 }).execute();
    expect(await snapshot(berth, data)).not.toEqual(one);
    await k.deleteFrom('blobs').execute();
  });

  it('refuses to answer for a database holding a table it does not know', async () => {
    await sql`CREATE TABLE extra_things (id integer primary key)`.execute(berth.db.kysely);
    try {
      await expect(snapshot(berth, data)).rejects.toThrow(/tables the snapshot does not know: extra_things/);
    } finally {
      await sql`DROP TABLE extra_things`.execute(berth.db.kysely);
    }
  });
});
