// fsck's check of staging folders left by archive uploads that never finished.
import { Keys } from '../../storage/cas.js';
import { foldersByAge } from '../leftovers.js';
import type { Ctx } from './context.js';

/** staging/<id>/ folders untouched for longer than the protection time. */
export async function checkStaging(ctx: Ctx): Promise<number> {
  const folders = await foldersByAge(ctx.store, 'staging/');
  for (const [id, newest] of folders) {
    if (newest.getTime() >= ctx.protectedAfter) continue;
    const key = Keys.stagingDir(id);
    if (ctx.repair) await ctx.store.deletePrefix(key);
    ctx.problems.push({
      kind: 'expired-staging',
      key,
      detail: `${key} (last written ${newest.toISOString()}) is left from an archive upload that never finished${ctx.repair ? '; removed' : ''}`,
      repaired: ctx.repair,
    });
  }
  return folders.size;
}
