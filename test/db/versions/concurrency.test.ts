// Repository versions on every database backend: commits started at once, to one repository and to several.
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { recordBlobs, recordManifest } from '../../../src/repo/catalogue.js';
import type { ContentChange } from '../../../src/repo/versions.js';
import { backends, type Backend } from '../../helpers/backend.js';
import { blobDigest, manifestDigest, makeImage, versionsFixture } from './fixture.js';

const CONCURRENT = 20;

describe.each(backends())('repository versions on %s', (backend: Backend) => {
  const t = versionsFixture('versions_concurrency', backend);
  const { commit, repositoryRow, contentRows } = t;

  describe('concurrency', () => {
    it(`${CONCURRENT} commits started at once to a new repository all succeed, as versions 1..${CONCURRENT}`, async () => {
      const name = 'concurrent/new';
      const seenBefore = new Map<number, number>();
      let maxWaiting = 0;
      let polling = backend === 'postgres';
      // On PostgreSQL: watch this pool's connections queue on the repository row lock, proving real parallelism.
      const poller = polling
        ? (async () => {
            const watcher = new pg.Client({ connectionString: t.url.replace(/\?.*$/, '') });
            await watcher.connect();
            try {
              while (polling) {
                const r = await watcher.query<{ n: string }>(
                  `select count(*) as n from pg_stat_activity where application_name = $1 and wait_event_type = 'Lock'`,
                  [t.appName],
                );
                maxWaiting = Math.max(maxWaiting, Number(r.rows[0]!.n));
                await new Promise((res) => setTimeout(res, 5));
              }
            } finally {
              await watcher.end();
            }
          })()
        : Promise.resolve();
      const results = await Promise.all(
        Array.from({ length: CONCURRENT }, (_, i) =>
          commit(
            name,
            async ({ trx, repositoryId, number }) => {
              // the latest committed version, as this transaction sees it under the lock
              const r = await trx
                .selectFrom('repository_content')
                .select((eb) => eb.fn.countAll<number>().as('n'))
                .where('repository_id', '=', repositoryId)
                .where('version_removed', 'is', null)
                .executeTakeFirstOrThrow();
              seenBefore.set(number, Number(r.n));
              await new Promise((res) => setTimeout(res, 15)); // hold the lock a while
              return [
                { op: 'add', kind: 'tag', tag: `t${i}`, digest: manifestDigest(`concurrent ${i}`) },
                { op: 'add', kind: 'manifest', digest: manifestDigest(`concurrent ${i}`) },
              ];
            },
            true,
          ),
        ),
      ).finally(() => {
        polling = false;
      });
      await poller;
      expect(results.map((r) => r.number).sort((a, b) => a - b)).toEqual(
        Array.from({ length: CONCURRENT }, (_, i) => i + 1),
      );
      for (const r of results) expect(r).toMatchObject({ added: 2, removed: 0 });
      // each saw exactly the content of the version before it
      for (let v = 1; v <= CONCURRENT; v++) expect(seenBefore.get(v), `version ${v}`).toBe(2 * (v - 1));
      const latest = await t.history.content(name, CONCURRENT);
      expect(latest.tags.map((t) => t.name).sort()).toEqual(
        Array.from({ length: CONCURRENT }, (_, i) => `t${i}`).sort(),
      );
      for (const t of latest.tags) expect(t.digest).toBe(manifestDigest(`concurrent ${t.name.slice(1)}`));
      for (let v = 1; v <= CONCURRENT; v++) expect((await t.history.content(name, v)).tags).toHaveLength(v);
      expect((await t.history.versions(name)).map((v) => v.number)).toEqual(
        Array.from({ length: CONCURRENT + 1 }, (_, i) => i),
      );
      expect((await repositoryRow(name))?.latest_version).toBe(CONCURRENT);
      if (backend === 'postgres') expect(maxWaiting).toBeGreaterThanOrEqual(1);
    });

    it(`${CONCURRENT} commits started at once to an existing repository each make one version`, async () => {
      const name = 'concurrent/existing';
      await commit(name, [{ op: 'add', kind: 'blob', digest: blobDigest('base') }], true);
      const results = await Promise.all(
        Array.from({ length: CONCURRENT }, (_, i) =>
          commit(name, [
            { op: 'add', kind: 'tag', tag: `e${i}`, digest: manifestDigest(`existing ${i}`) },
            { op: 'add', kind: 'tag', tag: 'shared', digest: manifestDigest(`existing ${i}`) },
          ]),
        ),
      );
      expect(results.map((r) => r.number).sort((a, b) => a - b)).toEqual(
        Array.from({ length: CONCURRENT }, (_, i) => i + 2),
      );
      const latest = await t.history.content(name, CONCURRENT + 1);
      expect(latest.tags).toHaveLength(CONCURRENT + 1);
      // "shared" names what the commit that made the last version gave it
      const last = results.find((r) => r.number === CONCURRENT + 1)!;
      const lastIndex = results.indexOf(last);
      expect(latest.tags.find((t) => t.name === 'shared')?.digest).toBe(
        manifestDigest(`existing ${lastIndex}`),
      );
      // exactly one current "shared" row, and one ended row for every move
      const shared = (await contentRows(name)).filter((r) => r.kind === 'tag' && r.key === 'shared');
      expect(shared.filter((r) => r.version_removed === null)).toHaveLength(1);
      expect(shared).toHaveLength(CONCURRENT);
    });
  });

  describe('concurrency across repositories', () => {
    it('commits to different repositories that record the same blobs in opposite orders all succeed', async () => {
      // Rows of the global tables are claimed in the order they are inserted: two transactions inserting the
      // same digests in opposite orders would each wait for the other (a deadlock on PostgreSQL).
      const ROUNDS = 8;
      const failures: string[] = [];
      for (let round = 0; round < ROUNDS; round++) {
        const img = makeImage(`order ${round}`);
        const blobs = Array.from({ length: 1500 }, (_, i) => ({
          digest: blobDigest(`order ${round} ${i}`),
          size: i,
        }));
        const results = await Promise.allSettled(
          [0, 1, 2, 3].map((k) =>
            commit(
              `order/r${round}k${k}`,
              async ({ trx }) => {
                const mine = k % 2 === 0 ? blobs : [...blobs].reverse();
                await recordBlobs(trx, mine);
                const parsed = {
                  ...img.parsed,
                  layers: k % 2 === 0 ? img.parsed.layers : [...img.parsed.layers].reverse(),
                };
                const diffIds = k % 2 === 0 ? img.diffIds : [...img.diffIds].reverse();
                await recordManifest(trx, { digest: img.digest, size: img.manifest.length, parsed, diffIds });
                return mine
                  .slice(0, 3)
                  .map((b): ContentChange => ({ op: 'add', kind: 'blob', digest: b.digest }));
              },
              true,
            ),
          ),
        );
        for (const r of results) if (r.status === 'rejected') failures.push(String(r.reason));
      }
      expect(failures).toEqual([]);
      const recorded = await t.db.kysely
        .selectFrom('blobs')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .where('digest', 'in', [
          blobDigest('order 0 0'),
          blobDigest('order 0 1499'),
          blobDigest(`order ${ROUNDS - 1} 700`),
        ])
        .executeTakeFirstOrThrow();
      expect(Number(recorded.n)).toBe(3);
    });
  });
});
