// Counting the statements a Kysely instance runs: the database as a service sees it, and how many it asked.
import type { Kysely } from 'kysely';

export interface CountedDb<DB> {
  db: Kysely<DB>;
  /** statements run through `db` since the last reset */
  readonly count: number;
  reset(): void;
}

/** `db` with a plugin that counts each statement run (transformResult: once per execution; a union's parts are one). */
export function countStatements<DB>(db: Kysely<DB>): CountedDb<DB> {
  let count = 0;
  const counted = db.withPlugin({
    transformQuery: (a) => a.node,
    transformResult: (a) => {
      count++;
      return Promise.resolve(a.result);
    },
  });
  return {
    db: counted,
    get count() {
      return count;
    },
    reset: () => void (count = 0),
  };
}
