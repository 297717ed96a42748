// fsck's check of manifests' references: every blob or manifest a kept version's manifest names has a row.
import type { Digest } from '../../core/digest.js';
import { MAX_MANIFEST_BYTES, parseManifest } from '../../core/manifests.js';
import { readSmallBlob } from '../../storage/cas.js';
import type { Ctx } from './context.js';
import { locateIn } from '../blob-objects.js';

/**
 * Every blob or manifest that a manifest of a repository version (current or historical) refers to has a
 * blob row (foreign layers never do). Repair adds the row, marked missing, so that the manifest's pulls get
 * a clean 404 for it and a push of the blob restores it. A child of an index counts only where some version
 * holds it: an index may be sparse (its other children were never pushed), and those are no fault.
 */
export async function checkReferences(ctx: Ctx): Promise<number> {
  const inVersions = ctx.db.selectFrom('repository_content').select('key').where('kind', '=', 'manifest');
  const counted = await ctx.db
    .selectFrom('manifest_references')
    .select((eb) => eb.fn.countAll<number | string>().as('n'))
    .where('kind', 'in', ['blob', 'manifest'])
    .where('manifest_digest', 'in', inVersions)
    .executeTakeFirstOrThrow();
  const missing = await ctx.db
    .selectFrom('manifest_references as r')
    .leftJoin('blobs as b', 'b.digest', 'r.digest')
    .select(['r.manifest_digest', 'r.digest', 'r.kind'])
    .where('r.kind', 'in', ['blob', 'manifest'])
    .where('r.manifest_digest', 'in', inVersions)
    .where('b.digest', 'is', null)
    .where((eb) => eb.or([eb('r.kind', '=', 'blob'), eb('r.digest', 'in', inVersions)]))
    .orderBy('r.manifest_digest')
    .orderBy('r.digest')
    .execute();
  for (const m of missing) {
    const digest = m.digest as Digest;
    let repaired = false;
    if (ctx.repair) {
      const size = await declaredSize(ctx, m.manifest_digest as Digest, digest);
      await ctx.db
        .insertInto('blobs')
        .values({ digest, size: size ?? 0, created_at: Date.now(), state: 'missing' })
        .onConflict((oc) => oc.column('digest').doNothing())
        .execute();
      repaired = true;
    }
    ctx.problems.push({
      kind: 'reference-missing',
      digest,
      detail: `manifest ${m.manifest_digest} refers to ${m.kind} ${digest}, which berth does not hold${repaired ? '; recorded as missing (push it again)' : ''}`,
      repaired,
    });
  }
  return Number(counted.n);
}
/** The size a manifest gives for a descriptor, read from its stored bytes (when they are there). */
async function declaredSize(ctx: Ctx, manifest: Digest, digest: Digest): Promise<number | undefined> {
  const bytes = await readSmallBlob(ctx.store, locateIn(ctx.db), manifest, MAX_MANIFEST_BYTES);
  if (!bytes) return undefined;
  try {
    const p = parseManifest(bytes);
    return [p.config, ...p.layers, ...p.manifests].find((d) => d?.digest === digest)?.size;
  } catch {
    return undefined;
  }
}
