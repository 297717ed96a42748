// SQLite statements are prepared once and run again (src/db/connect.ts): the same SQL with other parameters,
// inside transactions, and streamed.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, type Db } from '../../src/db/connect.js';
import { removeTestDatabase, testDatabaseUrl } from '../helpers/backend.js';

describe('SQLite prepared statements, reused', () => {
  let url: string;
  let db: Db;
  beforeAll(async () => {
    url = await testDatabaseUrl('statements', 'sqlite');
    db = await openDatabase(url);
  });
  afterAll(async () => {
    await db?.close();
    if (url) await removeTestDatabase(url);
  });

  const add = (name: string) =>
    db.kysely.insertInto('repositories').values({ name, latest_version: 0, created_at: 1 }).execute();
  const find = (name: string) =>
    db.kysely.selectFrom('repositories').select('name').where('name', '=', name).executeTakeFirst();

  it('run again with other parameters answer for those parameters', async () => {
    for (let i = 0; i < 300; i++) await add(`stmt/${i}`); // more distinct uses than statements kept
    for (const i of [0, 7, 299]) expect((await find(`stmt/${i}`))?.name).toBe(`stmt/${i}`);
    expect(await find('stmt/none')).toBeUndefined();
  });

  it('a rolled-back transaction leaves nothing, and the statements still run after it', async () => {
    await expect(
      db.kysely.transaction().execute(async (trx) => {
        await trx
          .insertInto('repositories')
          .values({ name: 'stmt/rolled', latest_version: 0, created_at: 1 })
          .execute();
        throw new Error('roll back');
      }),
    ).rejects.toThrow('roll back');
    expect(await find('stmt/rolled')).toBeUndefined();
    await add('stmt/after');
    expect((await find('stmt/after'))?.name).toBe('stmt/after');
  });

  it('a query can be streamed, and the same SQL then executed, twice over', async () => {
    const q = db.kysely
      .selectFrom('repositories')
      .select('name')
      .where('name', 'like', 'stmt/1%')
      .orderBy('name');
    for (let round = 0; round < 2; round++) {
      const streamed: string[] = [];
      for await (const row of q.stream()) streamed.push(row.name);
      expect(streamed.length).toBeGreaterThan(100);
      expect((await q.execute()).map((r) => r.name)).toEqual(streamed);
    }
  });
});
