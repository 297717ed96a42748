// fsck's check of a blob row: its file is there, of the right size (and with verify, the right digest).
import { algorithmOf, DigestCounter, type Digest } from '../../core/digest.js';
import type { StoreStat } from '../../storage/blob-store.js';
import { storedKey } from '../../storage/cas.js';
import { blobRowsByDigest } from '../../db/blob-rows.js';
import { PAGE, type Ctx, type FsckProblemKind } from './context.js';

/** A blob row as fsck reads it. */
export interface BlobRow {
  digest: Digest;
  size: number;
  state: string;
  /** the upload's object holding its bytes, or null: its content address */
  objectKey: string | null;
}

/** The rows whose bytes are at their content address, by digest (the order of those keys), a page at a time. */
export const blobRows = (ctx: Ctx): AsyncIterable<BlobRow> => blobRowsByDigest(ctx.db, PAGE, true);

/**
 * A row against its object as the listing gave it (or a stat, for one the listing did not give): there, of the
 * row's size, and with verify, hashing to its digest. An on-demand row ('remote') expects no object.
 */
export async function checkBlob(ctx: Ctx, row: BlobRow, st: StoreStat | null): Promise<void> {
  const { digest, size, state } = row;
  // an on-demand blob whose bytes never came: no file is expected (one there is a fetch that died between moving
  // its verified bytes into place and recording them: the next GET fetches again and records it)
  if (state === 'remote') return;
  const key = storedKey(digest, row.objectKey);
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
