// The test harness on PostgreSQL: opening a test database while other test processes create and drop schemas.
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/db/connect.js';
import { backends, POSTGRES_URL, removeTestDatabase, testDatabaseUrl } from '../helpers/backend.js';

// (a PostgreSQL test: in a run on SQLite alone, BERTH_TEST_DATABASE=sqlite, it is left out; where PostgreSQL is
// required and does not answer, it fails)
describe.skipIf(!backends().includes('postgres'))('test databases on PostgreSQL', () => {
  // Kysely's migrator lists the tables of every schema of its database; a schema dropped meanwhile fails that
  // listing (3F000). Test processes run in parallel, so each has a database of its own: schemas of the others
  // come and go elsewhere. The churn below stands for another process's tests, in the server's default database.
  it('open every time while schemas (with serial columns) come and go in another database', async () => {
    const churner = new pg.Client({ connectionString: POSTGRES_URL });
    await churner.connect();
    let stop = false;
    let churned = 0;
    const churn = (async () => {
      while (!stop) {
        const schema = `t_churn_${process.pid}_${churned++}`;
        await churner.query(
          `CREATE SCHEMA ${schema}; CREATE TABLE ${schema}.t (id serial primary key, a text)`,
        );
        await churner.query(`DROP SCHEMA ${schema} CASCADE`);
      }
    })();
    const failures: string[] = [];
    try {
      for (let i = 0; i < 12; i++) {
        const url = await testDatabaseUrl('schema-race', 'postgres');
        expect(new URL(url).pathname).not.toBe(new URL(POSTGRES_URL).pathname);
        try {
          await (await openDatabase(url)).close();
        } catch (e) {
          failures.push((e as Error).message);
        } finally {
          await removeTestDatabase(url);
        }
      }
    } finally {
      stop = true;
      await churn;
      await churner.end();
    }
    expect(churned).toBeGreaterThan(12); // the churn really ran alongside
    expect(failures).toEqual([]);
  });
});
