// The content rows of a repository between two versions: what diff, restore and version folding compare.
import type { Kysely } from 'kysely';
import type { ContentKind, Database } from '../db/schema.js';

export type Row = { kind: ContentKind; key: string; value: string | null };
export type RangeRow = Row & { version_added: number; version_removed: number | null };
export const unit = (r: Row): string => `${r.kind}\u0000${r.key}\u0000${r.value ?? ''}`;
/** Whether version `v` holds a row: its range [version_added, version_removed) holds v. */
export const holds = (r: RangeRow, v: number): boolean =>
  r.version_added <= v && (r.version_removed === null || r.version_removed > v);

/**
 * The content rows of a repository that can differ between versions `a` and `b` (either order): those whose range
 * starts or ends between the two.
 */
export async function rowsBetween(
  db: Kysely<Database>,
  repositoryId: number,
  a: number,
  b: number,
): Promise<RangeRow[]> {
  const lo = Math.min(a, b);
  const hi = Math.max(a, b);
  return db
    .selectFrom('repository_content')
    .select(['kind', 'key', 'value', 'version_added', 'version_removed'])
    .where('repository_id', '=', repositoryId)
    .where((eb) =>
      eb.or([
        eb.and([eb('version_added', '>', lo), eb('version_added', '<=', hi)]),
        eb.and([eb('version_removed', '>', lo), eb('version_removed', '<=', hi)]),
      ]),
    )
    .execute();
}
