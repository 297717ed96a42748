// The consistency check (fsck): runs each check (one file each, beside this one) and sums up what they found.
import type { Kysely } from 'kysely';
import type { Database } from '../../db/schema.js';
import type { BlobStore } from '../../storage/blob-store.js';
import { DEFAULT_PROTECTION_MS } from '../leftovers.js';
import { Trash } from '../trash.js';
import type { Ctx, FsckOptions, FsckReport } from './context.js';
import { walkBlobs } from './blob-walk.js';
import { checkReferences } from './references.js';
import { checkStaging } from './staging.js';
import { checkTrash } from './trash.js';
import { checkUploads } from './uploads.js';

export type { FsckOptions, FsckProblem, FsckProblemKind, FsckReport } from './context.js';

export class Fsck {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly store: BlobStore,
  ) {}

  async run(opts: FsckOptions = {}): Promise<FsckReport> {
    const now = opts.now ?? Date.now();
    const ctx: Ctx = {
      db: this.db,
      store: this.store,
      trash: new Trash(this.db, this.store),
      repair: opts.repair ?? false,
      verify: opts.verify ?? false,
      protectedAfter: now - (opts.protectionMs ?? DEFAULT_PROTECTION_MS),
      now,
      problems: [],
    };
    // references first: a repaired reference gets its (missing) row before its file could count as a stray
    const references = await checkReferences(ctx);
    const { blobs, files } = await walkBlobs(ctx);
    const checked = {
      blobs,
      files,
      uploads: await checkUploads(ctx),
      staging: await checkStaging(ctx),
      trash: await checkTrash(ctx),
      references,
    };
    const row = await this.db
      .selectFrom('blobs')
      .select((eb) => eb.fn.countAll<number | string>().as('n'))
      .where('state', '=', 'missing')
      .executeTakeFirstOrThrow();
    const missingBlobs = Number(row.n);
    return {
      problems: ctx.problems,
      checked,
      missingBlobs,
      clean: missingBlobs === 0 && ctx.problems.every((p) => p.repaired),
    };
  }
}
