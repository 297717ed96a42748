// fsck's check of objects that no row names and no operation in flight claims or writes (strays).
import { randomUUID } from 'node:crypto';
import type { Digest } from '../../core/digest.js';
import type { StoreEntry } from '../../storage/blob-store.js';
import { digestOfBlobKey } from '../strays.js';
import { namedObjects } from '../object-strays.js';
import type { Ctx } from './context.js';

/**
 * Of `listed` (objects under blobs/ the walk found no row for), those no row names and no claim protects, older
 * than the protection time, are strays; repair lets go of them as cleanup does.
 */
export async function checkStrays(ctx: Ctx, listed: StoreEntry[]): Promise<void> {
  const digests = listed.map((e) => digestOfBlobKey(e.key)).filter((d): d is Digest => d !== undefined);
  const named = await namedByRowOrClaim(ctx, digests, ctx.now);
  for (const st of listed) {
    const key = st.key;
    const d = digestOfBlobKey(key);
    if (d && named.has(d)) continue;
    if (st.modifiedAt.getTime() >= ctx.protectedAfter) continue;
    let repaired = false;
    let outcome = '';
    if (ctx.repair && !d) {
      await ctx.store.delete(key); // no content address: nothing a writer could rely on
      [repaired, outcome] = [true, '; removed'];
    } else if (ctx.repair && d) {
      // let go of as cleanup does (trash.ts): a writer that claims or records the blob meanwhile keeps it
      const { kept, failed } = await ctx.trash.letGo(randomUUID(), [d]);
      if (failed.has(d)) outcome = `; could not be removed: ${(failed.get(d) as Error)?.message}`;
      else [repaired, outcome] = [true, kept.has(d) ? '; kept, claimed by a writer meanwhile' : '; removed'];
    }
    ctx.problems.push({
      kind: 'stray-file',
      key,
      ...(d ? { digest: d } : {}),
      detail: `${key} (${st.size} bytes, written ${st.modifiedAt.toISOString()}) is named by no blob row${outcome}`,
      repaired,
    });
  }
}
/**
 * Of `listed` (objects under objects/ the walk found no row for), those no row maps and no open upload session
 * writes, older than the protection time, are strays; repair deletes them (nothing can come to map them).
 */
export async function checkObjectStrays(ctx: Ctx, listed: StoreEntry[]): Promise<void> {
  const named = await namedObjects(ctx.db, listed);
  for (const st of listed) {
    if (named.has(st.key) || st.modifiedAt.getTime() >= ctx.protectedAfter) continue;
    if (ctx.repair) await ctx.store.delete(st.key);
    ctx.problems.push({
      kind: 'stray-file',
      key: st.key,
      detail: `${st.key} (${st.size} bytes, written ${st.modifiedAt.toISOString()}) is mapped by no blob row and written by no upload session${ctx.repair ? '; removed' : ''}`,
      repaired: ctx.repair,
    });
  }
}

/** Digests of `digests` that have a blob row (bytes at their content address) or an unexpired claim. */
export async function namedByRowOrClaim(ctx: Ctx, digests: Digest[], now: number): Promise<Set<string>> {
  const found = new Set<string>();
  if (digests.length === 0) return found;
  const rows = await ctx.db
    .selectFrom('blobs')
    .select('digest')
    .where('digest', 'in', digests)
    .where('object_key', 'is', null) // a row that maps an upload's object does not name the content address
    .union(
      ctx.db
        .selectFrom('blob_claims')
        .select('digest')
        .where('digest', 'in', digests)
        .where('expires_at', '>', now),
    )
    .execute();
  rows.forEach((r) => found.add(r.digest));
  return found;
}
