// Covers StoreMigration (src/repo/store-migration.ts) on in-memory stores: which rows have bytes to copy, rows gone
// during the run, and failures named per blob. The S3 side, end to end: test/integration/cli-migrate-store.test.ts.
import type { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openDatabase, type Db } from '../db/connect.js';
import { sha256, type Digest } from '../core/digest.js';
import type { ByteRange } from '../storage/blob-store.js';
import { Keys } from '../storage/cas.js';
import { MemoryBlobStore } from '../storage/memory-blob-store.js';
import { removeTestDatabase, testDatabaseUrl } from '../../test/helpers/backend.js';
import { StoreMigration } from './store-migration.js';

/** A store whose reader of one key runs `before` first (cleanup taking the blob in the middle of a run). */
class HookedStore extends MemoryBlobStore {
  hook?: { key: string; before: () => Promise<void> };
  override async reader(key: string, range?: ByteRange): Promise<Readable> {
    if (this.hook?.key === key) await this.hook.before();
    return super.reader(key, range);
  }
}

describe('StoreMigration', () => {
  let url = '';
  let db: Db;
  let from: HookedStore;
  let to: MemoryBlobStore;
  beforeEach(async () => {
    url = await testDatabaseUrl('store-migration');
    db = await openDatabase(url);
    from = new HookedStore();
    to = new MemoryBlobStore();
  });
  afterEach(async () => {
    await db.close();
    await removeTestDatabase(url);
  });

  const put = async (bytes: string, state: 'present' | 'missing' | 'remote' = 'present', stored = true) => {
    const digest = sha256(bytes);
    await db.kysely
      .insertInto('blobs')
      .values({ digest, size: bytes.length, created_at: 0, state })
      .execute();
    if (stored) {
      const w = await from.writer(Keys.blob(digest));
      await new Promise<void>((resolve) => w.end(Buffer.from(bytes), () => resolve()));
    }
    return digest;
  };
  const migration = () => new StoreMigration(db.kysely, from, to, async () => 0);
  const keys = async () => {
    const out: string[] = [];
    for await (const k of to.list('')) out.push(k);
    return out.sort();
  };

  it('skips rows with no bytes: on-demand blobs, and blobs marked missing whose object is not in the source', async () => {
    const present = await put('present bytes');
    await put('on demand, never fetched', 'remote', false);
    await put('marked missing by fsck', 'missing', false);
    const back = await put('marked missing, but its file came back', 'missing');
    const r = await migration().run();
    expect(r.total.count).toBe(3);
    expect(r.copied.count).toBe(2);
    expect(r.skipped).toEqual({ markedMissing: 1, onDemand: 1, gone: 0 });
    expect(r.failed).toEqual([]);
    expect(await keys()).toEqual([Keys.blob(present), Keys.blob(back)].sort());
  });

  it('a row cleanup removes during the run is no failure; a missing object whose row stays is one', async () => {
    const taken = await put('taken by cleanup meanwhile');
    const lost = await put('lost from the source', 'present', false);
    from.hook = {
      key: Keys.blob(taken),
      before: async () => {
        // as cleanup does: the row first, then the object
        await db.kysely.deleteFrom('blobs').where('digest', '=', taken).execute();
        await from.delete(Keys.blob(taken));
      },
    };
    const r = await migration().run({ parallel: 1 });
    expect(r.skipped.gone).toBe(1);
    expect(r.failed).toEqual([
      {
        digest: lost,
        size: 'lost from the source'.length,
        key: Keys.blob(lost),
        problem: 'missing',
        detail: `no object at ${Keys.blob(lost)} in the source (its row says 20 bytes)`,
      },
    ]);
    expect(await keys()).toEqual([]);
  });

  it('with verify, refuses source bytes of the right size that hash to another digest', async () => {
    const digest = await put('the bytes of the row');
    const w = await from.writer(Keys.blob(digest));
    await new Promise<void>((resolve) => w.end(Buffer.from('other bytes,same len'), () => resolve()));
    expect((await migration().run()).copied.count).toBe(1); // without verify: the size is what is checked
    await to.delete(Keys.blob(digest));
    const r = await migration().run({ verify: true });
    expect(r.failed.map((f) => [f.digest, f.problem])).toEqual([[digest as Digest, 'digest']]);
    expect(r.failed[0]!.detail).toContain(`hashes to ${sha256('other bytes,same len')}`);
  });

  it('reports progress from the first row to the last, and bytes as they stream', async () => {
    for (const s of ['a', 'bb', 'ccc']) await put(s);
    const seen: Array<[number, number]> = [];
    await migration().run({ onProgress: (p) => seen.push([p.done, p.bytesDone]) });
    expect(seen[0]).toEqual([0, 0]);
    expect(seen.at(-1)).toEqual([3, 6]);
    // the start, each object's bytes as they stream (the memory store gives each as one chunk), each row's end
    expect(seen.length).toBe(1 + 3 + 3);
    // a second run streams nothing: the start and one report per row
    const again: Array<[number, number]> = [];
    await migration().run({ onProgress: (p) => again.push([p.done, p.bytesDone]) });
    expect(again.map(([done]) => done)).toEqual([0, 1, 2, 3]);
    expect(again.at(-1)).toEqual([3, 6]);
  });
});
