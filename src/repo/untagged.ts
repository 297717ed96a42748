// The untagged images of a version: its manifests that no tag names and no index of the same version refers to.
import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.js';

export interface UntaggedContent {
  manifests: { digest: string; mediaType: string }[];
  tags: { name: string; digest: string }[];
}

/**
 * The manifests of `content` reachable by digest only: no tag names them, and they are no child of an index in
 * the same content (a platform image of a tagged index is reached through the index's tag).
 */
export async function untaggedImages(
  db: Kysely<Database>,
  content: UntaggedContent,
): Promise<{ digest: string; mediaType: string }[]> {
  const tagged = new Set(content.tags.map((t) => t.digest));
  const candidates = content.manifests.filter((m) => !tagged.has(m.digest));
  if (candidates.length === 0) return [];
  const all = content.manifests.map((m) => m.digest);
  const children = new Set<string>();
  for (let i = 0; i < all.length; i += 500) {
    const rows = await db
      .selectFrom('manifest_references')
      .select('digest')
      .where('kind', '=', 'manifest')
      .where('manifest_digest', 'in', all.slice(i, i + 500))
      .execute();
    for (const r of rows) children.add(r.digest);
  }
  return candidates.filter((m) => !children.has(m.digest));
}
