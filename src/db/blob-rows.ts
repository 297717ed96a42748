// The rows of `blobs` in digest order (the order of their keys under blobs/), read a page at a time.
import type { Kysely } from 'kysely';
import type { Digest } from '../core/digest.js';
import type { Database } from './schema.js';

export interface BlobRowState {
  digest: Digest;
  size: number;
  /** present, missing (fsck found its bytes gone) or remote (on demand: bytes at its remote) */
  state: 'present' | 'missing' | 'remote';
}

/** Every blob row, by digest, `page` rows a query (keyset paging: rows added meanwhile after the cursor come too). */
export async function* blobRowsByDigest(db: Kysely<Database>, page: number): AsyncGenerator<BlobRowState> {
  let after = '';
  for (;;) {
    const rows = await db
      .selectFrom('blobs')
      .select(['digest', 'size', 'state'])
      .where('digest', '>', after)
      .orderBy('digest')
      .limit(page)
      .execute();
    if (rows.length === 0) return;
    after = rows[rows.length - 1]!.digest;
    for (const r of rows) yield { digest: r.digest as Digest, size: r.size, state: r.state };
  }
}
