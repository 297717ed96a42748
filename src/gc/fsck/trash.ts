// fsck's check of files left in trash/ by a cleanup that died while letting go of them.
import { digestOfHex } from '../../core/digest.js';
import { Keys } from '../../storage/cas.js';
import type { Ctx } from './context.js';
import { namedByRowOrClaim } from './strays.js';

/**
 * Files under trash/<id>/<hex>: a cleanup moves a blob's file there, then puts it back (a writer recorded or
 * claimed the blob meanwhile) or deletes it, within moments; one still there outlived its cleanup. Repair
 * decides as cleanup would have: back into place when a row or claim names the blob and its place is empty,
 * else deleted. (A rename keeps a file's time, so the protection time says nothing here.)
 */
export async function checkTrash(ctx: Ctx): Promise<number> {
  let count = 0;
  for await (const key of ctx.store.list('trash/')) {
    count++;
    const hex = key.split('/')[2] ?? '';
    const digest = digestOfHex(hex);
    let action = '';
    if (ctx.repair) {
      const wanted = digest && (await namedByRowOrClaim(ctx, [digest], Date.now())).has(digest);
      if (wanted && !(await ctx.store.stat(Keys.blob(digest)))) {
        await ctx.store.move(key, Keys.blob(digest));
        action = '; put back in place';
      } else {
        await ctx.store.delete(key);
        action = '; removed';
      }
    }
    ctx.problems.push({
      kind: 'trash-leftover',
      key,
      ...(digest ? { digest } : {}),
      detail: `${key} is left from a cleanup that did not finish${action}`,
      repaired: ctx.repair,
    });
  }
  return count;
}
