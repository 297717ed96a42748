// A line per repository for listings (the web UI's repositories page): latest version, its time and why, tag count.
import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.js';

export interface RepositorySummary {
  name: string;
  latestVersion: number;
  /** when the latest version was made (ISO 8601) */
  changedAt: string;
  /** why berth made it when no client asked (cleanup, retention…), else null */
  message: string | null;
  tags: number;
  /** the bytes of the blobs and manifests of the latest version */
  size: number;
}

/** Summaries of the named repositories (a page of a listing), in the order given; unknown names are left out. */
export async function summarize(
  db: Kysely<Database>,
  names: readonly string[],
): Promise<RepositorySummary[]> {
  if (names.length === 0) return [];
  const rows = await db
    .selectFrom('repositories as r')
    .leftJoin('repository_versions as v', (j) =>
      j.onRef('v.repository_id', '=', 'r.id').onRef('v.number', '=', 'r.latest_version'),
    )
    .select(['r.id', 'r.name', 'r.latest_version', 'r.created_at', 'v.created_at as version_at', 'v.message'])
    .where('r.name', 'in', [...names])
    .execute();
  const ids = rows.map((r) => r.id);
  const counts = await db
    .selectFrom('repository_content')
    .select(['repository_id', (eb) => eb.fn.countAll<number | string>().as('n')])
    .where('repository_id', 'in', ids)
    .where('kind', '=', 'tag')
    .where('version_removed', 'is', null)
    .groupBy('repository_id')
    .execute();
  const tags = new Map(counts.map((c) => [c.repository_id, Number(c.n)]));
  const size = new Map<number, number>();
  const add = (sums: { repository_id: number; bytes: number | string | null }[]) => {
    for (const r of sums) size.set(r.repository_id, (size.get(r.repository_id) ?? 0) + Number(r.bytes ?? 0));
  };
  add(
    await db
      .selectFrom('repository_content as c')
      .innerJoin('blobs as x', 'x.digest', 'c.key')
      .select(['c.repository_id', (eb) => eb.fn.sum<number | string>('x.size').as('bytes')])
      .where('c.repository_id', 'in', ids)
      .where('c.kind', '=', 'blob')
      .where('c.version_removed', 'is', null)
      .groupBy('c.repository_id')
      .execute(),
  );
  add(
    await db
      .selectFrom('repository_content as c')
      .innerJoin('manifests as x', 'x.digest', 'c.key')
      .select(['c.repository_id', (eb) => eb.fn.sum<number | string>('x.size').as('bytes')])
      .where('c.repository_id', 'in', ids)
      .where('c.kind', '=', 'manifest')
      .where('c.version_removed', 'is', null)
      .groupBy('c.repository_id')
      .execute(),
  );
  const byName = new Map(
    rows.map((r) => [
      r.name,
      {
        name: r.name,
        latestVersion: r.latest_version,
        changedAt: new Date(Number(r.version_at ?? r.created_at)).toISOString(),
        message: r.message ?? null,
        tags: tags.get(r.id) ?? 0,
        size: size.get(r.id) ?? 0,
      },
    ]),
  );
  return names.flatMap((n) => byName.get(n) ?? []);
}
