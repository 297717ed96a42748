// Opening a PostgreSQL database (schema) while other schemas of that database are created and dropped, as parallel test files do.
import pg from 'pg';
import { expect, it } from 'vitest';
import { openDatabase } from '../../src/db/connect.js';
import {
  backends,
  describeUnless,
  POSTGRES_URL,
  removeTestDatabase,
  testDatabaseUrl,
} from '../helpers/backend.js';

describeUnless(backends().includes('postgres'), 'PostgreSQL does not answer')(
  'openDatabase on PostgreSQL',
  () => {
    it('succeeds every time while other schemas (with serial columns) come and go', async () => {
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
  },
);
