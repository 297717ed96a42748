// fsck's check of upload folders without a session, and of sessions without their file.
import { Keys } from '../../storage/cas.js';
import { foldersByAge } from '../leftovers.js';
import { PAGE, type Ctx } from './context.js';

/** uploads/<id>/ folders without a session (older than the protection time); sessions without their file. */
export async function checkUploads(ctx: Ctx): Promise<number> {
  const folders = await foldersByAge(ctx.store, 'uploads/');
  const ids = [...folders.keys()];
  const sessions = new Set<string>();
  for (let i = 0; i < ids.length; i += PAGE) {
    const rows = await ctx.db
      .selectFrom('upload_sessions')
      .select('id')
      .where('id', 'in', ids.slice(i, i + PAGE))
      .execute();
    rows.forEach((r) => sessions.add(r.id));
  }
  for (const [id, newest] of folders) {
    if (sessions.has(id) || newest.getTime() >= ctx.protectedAfter) continue;
    const key = Keys.uploadDir(id);
    let repaired = false;
    if (ctx.repair) {
      const again = await ctx.db
        .selectFrom('upload_sessions')
        .select('id')
        .where('id', '=', id)
        .executeTakeFirst();
      if (!again) {
        await ctx.store.deletePrefix(key);
        repaired = true;
      }
    }
    ctx.problems.push({
      kind: 'expired-upload',
      key,
      detail: `${key} (last written ${newest.toISOString()}) belongs to no upload session${repaired ? '; removed' : ''}`,
      repaired,
    });
  }
  // A session whose file is gone (a process died between moving a finished blob into place and deleting its
  // session): it can never be continued. Sessions with a live lease are in flight.
  const orphans = await ctx.db
    .selectFrom('upload_sessions')
    .select(['id', 'updated_at'])
    .where('busy_until', '<', ctx.now)
    .where('updated_at', '<', ctx.protectedAfter)
    .execute();
  for (const s of orphans) {
    if (folders.has(s.id) || (await ctx.store.stat(Keys.upload(s.id)))) continue;
    let repaired = false;
    if (ctx.repair) {
      await ctx.db
        .deleteFrom('upload_sessions')
        .where('id', '=', s.id)
        .where('busy_until', '<', Date.now())
        .execute();
      repaired = true;
    }
    ctx.problems.push({
      kind: 'upload-file-missing',
      key: Keys.upload(s.id),
      detail: `upload session ${s.id} has no file${repaired ? '; session removed' : ''}`,
      repaired,
    });
  }
  return folders.size;
}
