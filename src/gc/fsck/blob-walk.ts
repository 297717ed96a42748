// fsck's walk of blobs/: the blob rows and a listing of the store, both in key order, side by side (no stat per row).
import { compareKeys, type StoreEntry } from '../../storage/blob-store.js';
import { Keys } from '../../storage/cas.js';
import { blobRows, checkBlob } from './blob-rows.js';
import { PAGE, type Ctx } from './context.js';
import { checkStrays } from './strays.js';

/**
 * Merges the blob rows (by digest) with the store's listing of blobs/ (`entries`: sizes and times from the
 * listing, S3's ListObjectsV2 pages), which sort alike: a row and its object meet, so sizes are compared without a
 * request per row; an object met by no row is a stray candidate (checked in batches against rows and claims); a
 * row met by no object is looked up once more (stat) before it counts as missing — the object may have come since
 * the listing passed its key, or the database may sort otherwise. Returns how many rows and objects it saw.
 */
export async function walkBlobs(ctx: Ctx): Promise<{ blobs: number; files: number }> {
  const listing = ctx.store.entries(Keys.blobsRoot)[Symbol.asyncIterator]();
  const next = async (): Promise<StoreEntry | undefined> => {
    const r = await listing.next();
    return r.done ? undefined : r.value;
  };
  let entry = await next();
  let blobs = 0;
  let files = 0;
  let unnamed: StoreEntry[] = [];
  const stray = async (e: StoreEntry) => {
    files++;
    unnamed.push(e);
    if (unnamed.length >= PAGE) {
      await checkStrays(ctx, unnamed);
      unnamed = [];
    }
  };
  for await (const row of blobRows(ctx)) {
    blobs++;
    const key = Keys.blob(row.digest);
    while (entry && compareKeys(entry.key, key) < 0) {
      await stray(entry);
      entry = await next();
    }
    if (entry?.key === key) {
      files++;
      const listed = entry;
      entry = await next();
      await checkBlob(ctx, row, listed);
    } else if (row.state !== 'remote') {
      await checkBlob(ctx, row, await ctx.store.stat(key));
    }
  }
  for (; entry; entry = await next()) await stray(entry);
  if (unnamed.length > 0) await checkStrays(ctx, unnamed);
  return { blobs, files };
}
