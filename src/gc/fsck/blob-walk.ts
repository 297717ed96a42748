// fsck's walk of the blob objects: the blob rows and a listing of the store, both in key order, side by side.
import { compareKeys, type StoreEntry } from '../../storage/blob-store.js';
import { Keys, storedKey } from '../../storage/cas.js';
import { blobRowsByObjectKey } from '../../db/blob-rows.js';
import { blobRows, checkBlob, type BlobRow } from './blob-rows.js';
import { PAGE, type Ctx } from './context.js';
import { checkObjectStrays, checkStrays } from './strays.js';

/**
 * Merges the blob rows with the store's listing (`entries`: sizes and times from the listing, S3's ListObjectsV2
 * pages), twice: the rows whose bytes are at their content address (by digest) with blobs/, and the rows that map
 * an upload's object (by object key) with objects/. A row and its object meet, so sizes are compared without a
 * request per row; an object met by no row is a stray candidate (checked in batches against rows, claims and
 * upload sessions); a row met by no object is looked up once more (stat) before it counts as missing — the object
 * may have come since the listing passed its key, or the database may sort otherwise. Returns how many rows and
 * objects it saw.
 */
export async function walkBlobs(ctx: Ctx): Promise<{ blobs: number; files: number }> {
  const a = await walk(ctx, blobRows(ctx), Keys.blobsRoot, (batch) => checkStrays(ctx, batch));
  const b = await walk(ctx, blobRowsByObjectKey(ctx.db, PAGE), Keys.objectsRoot, (batch) =>
    checkObjectStrays(ctx, batch),
  );
  return { blobs: a.blobs + b.blobs, files: a.files + b.files };
}

async function walk(
  ctx: Ctx,
  rows: AsyncIterable<BlobRow>,
  root: string,
  strays: (batch: StoreEntry[]) => Promise<void>,
): Promise<{ blobs: number; files: number }> {
  const listing = ctx.store.entries(root)[Symbol.asyncIterator]();
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
      await strays(unnamed);
      unnamed = [];
    }
  };
  for await (const row of rows) {
    blobs++;
    const key = storedKey(row.digest, row.objectKey);
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
  if (unnamed.length > 0) await strays(unnamed);
  return { blobs, files };
}
