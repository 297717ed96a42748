// fsck's check of blob rows: each has its file, of the right size (and with verify, the right digest).
import { algorithmOf, DigestCounter, type Digest } from '../../core/digest.js';
import { Keys } from '../../storage/cas.js';
import { PAGE, type Ctx, type FsckProblemKind } from './context.js';

/** Every blob row has its file with the right size (and, with verify, digest). */
export async function checkBlobRows(ctx: Ctx): Promise<number> {
  let after = '';
  let count = 0;
  for (;;) {
    const rows = await ctx.db
      .selectFrom('blobs')
      .select(['digest', 'size', 'state'])
      .where('digest', '>', after)
      .orderBy('digest')
      .limit(PAGE)
      .execute();
    if (rows.length === 0) return count;
    after = rows[rows.length - 1]!.digest;
    count += rows.length;
    for (const r of rows) await checkBlob(ctx, r.digest as Digest, r.size, r.state);
  }
}
async function checkBlob(ctx: Ctx, digest: Digest, size: number, state: string): Promise<void> {
  const key = Keys.blob(digest);
  const st = await ctx.store.stat(key);
  let fault: { kind: FsckProblemKind; detail: string } | undefined;
  if (!st) fault = { kind: 'blob-file-missing', detail: `no file for blob ${digest} (${size} bytes)` };
  else if (st.size !== size)
    fault = {
      kind: 'blob-size-wrong',
      detail: `the file of blob ${digest} has ${st.size} bytes, its row says ${size}`,
    };
  else if (ctx.verify) {
    const actual = await hashOf(ctx, key, digest);
    if (actual !== digest)
      fault = { kind: 'blob-digest-wrong', detail: `the file of blob ${digest} hashes to ${actual}` };
  }
  if (state === 'missing') {
    // Back in place (pushed again, or restored from a backup) and verified: present again.
    if (!fault && ctx.verify && ctx.repair) {
      await ctx.db
        .updateTable('blobs')
        .set({ state: 'present' })
        .where('digest', '=', digest)
        .where('state', '=', 'missing')
        .execute();
      return;
    }
    ctx.problems.push({
      kind: 'blob-marked-missing',
      key,
      digest,
      detail: fault
        ? `blob ${digest} is marked missing (${fault.detail}): push it again`
        : `blob ${digest} is marked missing, and its file is back: run fsck --repair --verify to check it and mark it present`,
      repaired: false,
    });
    return;
  }
  if (!fault) return;
  // Cleanup removes a row before its file: a row gone meanwhile is no problem.
  if (!(await rowOf(ctx, digest))) return;
  let repaired = false;
  if (ctx.repair) {
    await ctx.db
      .updateTable('blobs')
      .set({ state: 'missing' })
      .where('digest', '=', digest)
      .where('state', '=', 'present')
      .execute();
    repaired = true;
  }
  ctx.problems.push({
    kind: fault.kind,
    key,
    digest,
    detail: repaired ? `${fault.detail}; marked missing (push it again)` : fault.detail,
    repaired,
  });
}
async function rowOf(ctx: Ctx, digest: Digest): Promise<boolean> {
  const r = await ctx.db.selectFrom('blobs').select('digest').where('digest', '=', digest).executeTakeFirst();
  return r !== undefined;
}
/** The digest of the file at `key`, with the algorithm of the digest its row names. */
async function hashOf(ctx: Ctx, key: string, named: Digest): Promise<Digest> {
  const counter = new DigestCounter(algorithmOf(named));
  for await (const c of await ctx.store.reader(key)) counter.update(c as Buffer);
  return counter.digest();
}
