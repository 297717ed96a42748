// Whether a blob store (and the data folder) can be written: a probe written, read back and deleted.
import { randomUUID } from 'node:crypto';
import { mkdir, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { buffer } from 'node:stream/consumers';
import type { BlobStore } from './blob-store.js';
import { Keys } from './cas.js';

/** Writes a few bytes under probes/, reads them back and deletes them. */
export async function probeStore(store: BlobStore): Promise<void> {
  const key = Keys.probe(randomUUID());
  const bytes = Buffer.from(`berth readiness probe ${Date.now()}\n`);
  try {
    const w = await store.writer(key);
    await new Promise<void>((resolve, reject) => {
      w.once('error', reject);
      w.end(bytes, () => resolve());
    });
    const back = await buffer(await store.reader(key));
    if (!back.equals(bytes)) throw new Error('the probe read back differs from what was written');
  } finally {
    await store.delete(key).catch(() => undefined);
  }
}

const errno = (e: unknown): string => {
  const code = (e as NodeJS.ErrnoException).code ?? (e as { Code?: unknown }).Code ?? (e as Error).name;
  return typeof code === 'string' ? code : 'error';
};

/**
 * Checks at start that the data folder and its blob store can be written (made if absent), naming the path and
 * the errno of what failed: a read-only folder is found here, not by the first upload answering 500.
 */
export async function checkDataWritable(
  data: string,
  store: BlobStore,
  storeRoot: string,
  hint = 'check that it is a folder this user may write (and its disk is not full or read-only)',
): Promise<void> {
  try {
    await mkdir(data, { recursive: true });
    const probe = join(data, `.berth-probe-${randomUUID()}`);
    await writeFile(probe, 'berth start-up probe\n');
    await unlink(probe);
  } catch (e) {
    throw new Error(
      `the data directory ${data} cannot be written: ${errno(e)} (${(e as Error).message}) — ` +
        'check that it exists or can be made, and that this user may write there (--data DIR, BERTH_DATA)',
      { cause: e },
    );
  }
  try {
    await probeStore(store);
  } catch (e) {
    throw new Error(
      `the blob store ${storeRoot} cannot be written: ${errno(e)} (${(e as Error).message}) — ${hint}`,
      { cause: e },
    );
  }
}
