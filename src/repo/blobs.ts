// The blobs of a repository: stat, open (whole or a range), delete, cross-repository mount, which are present.
import { open as openFile, type FileHandle } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.js';
import type { Digest } from '../core/digest.js';
import { BerthError } from '../core/errors.js';
import { StoreNotFoundError, type BlobStore, type ByteRange } from '../storage/blob-store.js';
import type { BlobUrls } from '../storage/blob-urls.js';
import { blobObjectKey } from '../gc/blob-objects.js';
import { blobSize, heldBlob, heldBlobs, inLatestVersion, manifestsNeeding, presentBlobs } from './held.js';
import type { OnDemandSource } from './on-demand-port.js';
import { addPendingBlob } from './catalogue.js';
import { withClaims } from '../gc/claims.js';
import { checkQuotas } from './quotas.js';
import { commitVersionIn, DEFAULT_COMMIT_SETTINGS, lockRepository, type CommitSettings } from './versions.js';

type Db = Kysely<Database>;

/** A blob the repository holds, as `stat` found it: what `open` opens. */
export interface HeldBlob {
  digest: Digest;
  size: number;
  /** set when the repository holds it on demand: `open` fetches it from its remote (whole: no range) */
  onDemand?: { repository: string };
}

/** The whole of an object of known size as a range, so that the store can read it in fitting chunks. */
const whole = (size: number): ByteRange | undefined => (size > 0 ? { start: 0, end: size - 1 } : undefined);

/**
 * The stored bytes of a digest at `key` (gc/blob-objects.ts: where its row says they are), or a range of them; a
 * file gone from under its row is reported as unknown.
 */
export async function openStored(
  store: BlobStore,
  key: string,
  digest: Digest,
  size: number,
  range?: ByteRange,
): Promise<Readable> {
  try {
    return await store.reader(key, range ?? whole(size));
  } catch (e) {
    if (!(e instanceof StoreNotFoundError)) throw e;
    throw missingBytes(digest);
  }
}

const missingBytes = (digest: Digest): BerthError =>
  new BerthError('BLOB_UNKNOWN', `the bytes of ${digest} are missing from the store; run berth fsck`, {
    digest,
  });

/** NAME_UNKNOWN when there is no such repository, else BLOB_UNKNOWN for the digest. */
async function unknownBlob(db: Db, name: string, digest: Digest): Promise<BerthError> {
  const repo = await db.selectFrom('repositories').select('id').where('name', '=', name).executeTakeFirst();
  if (!repo) return new BerthError('NAME_UNKNOWN', `repository ${name} does not exist`);
  return new BerthError('BLOB_UNKNOWN', `repository ${name} has no blob ${digest}`, { digest });
}

export class Blobs {
  constructor(
    private readonly db: Db,
    private readonly store: BlobStore,
    private readonly settings: CommitSettings = DEFAULT_COMMIT_SETTINGS,
    /** where on-demand blobs get their bytes (src/sync/on-demand.ts); without it they answer BLOB_UNKNOWN */
    private readonly onDemand?: OnDemandSource,
    /** URLs clients fetch stored blobs from themselves (`--s3-redirect`); without it every GET streams */
    private readonly urls?: BlobUrls,
  ) {}

  /**
   * A blob of the repository, with its size (a manifest's bytes count, as do blobs pushed and awaiting a
   * manifest). Foreign layers are never stored, so they answer BLOB_UNKNOWN here too. A blob held on demand is
   * found first, with the size its row gives (HEAD answers from the database): its bytes come from the remote.
   */
  async stat(name: string, digest: Digest): Promise<HeldBlob> {
    const { remote, stored } = await heldBlob(this.db, name, digest);
    if (remote !== undefined && this.onDemand)
      return { digest, size: remote, onDemand: { repository: name } };
    if (stored === undefined) throw await unknownBlob(this.db, name, digest);
    return { digest, size: stored };
  }

  /**
   * The bytes of a blob `stat` found, or of a range of them. An on-demand blob is fetched from its remote (the
   * whole of it, whatever the range), unless it came meanwhile: then the store has it.
   */
  async open(blob: HeldBlob, range?: ByteRange): Promise<Readable> {
    if (blob.onDemand && this.onDemand) {
      const { repository } = blob.onDemand;
      const fetched = await this.onDemand.open({ repository, digest: blob.digest, size: blob.size });
      if (fetched) return fetched;
      const size = await blobSize(this.db, repository, blob.digest);
      if (size === undefined) throw await unknownBlob(this.db, repository, blob.digest);
      return openStored(this.store, await blobObjectKey(this.db, blob.digest), blob.digest, size);
    }
    return openStored(this.store, await blobObjectKey(this.db, blob.digest), blob.digest, blob.size, range);
  }

  /**
   * The stored file of a blob `stat` found, opened, for a whole-blob answer sent with sendfile: undefined when the
   * store's objects are not local files, or the blob is held on demand (its bytes come from its remote). An open
   * file keeps its bytes whatever cleanup does meanwhile (as an open stream does): a file moved to trash/ or deleted
   * is still read whole. A file gone from under its row is reported as unknown.
   */
  async openFile(blob: HeldBlob): Promise<FileHandle | undefined> {
    if (blob.onDemand || !this.store.fileFor) return undefined;
    const path = this.store.fileFor(await blobObjectKey(this.db, blob.digest));
    try {
      return await openFile(path, 'r');
    } catch (e) {
      if ((e as NodeJS.ErrnoException)?.code !== 'ENOENT') throw e;
      throw missingBytes(blob.digest);
    }
  }

  /**
   * Where the client may fetch the bytes of a blob `stat` found itself (a presigned S3 URL, valid from the
   * clock's now), or undefined when they are served here: no `--s3-redirect`, or a blob held on demand (its first
   * GET comes from its remote, through berth). The caller has checked that the client may read the blob.
   */
  async redirect(blob: HeldBlob): Promise<string | undefined> {
    if (!this.urls || blob.onDemand) return undefined;
    return this.urls.url(await blobObjectKey(this.db, blob.digest), new Date(this.settings.clock.now()));
  }

  /**
   * Removes a blob from the repository: a new version when its latest version held it (undefined when it was only
   * pushed, awaiting a manifest). A blob that a manifest of the latest version needs (its config or a layer) stays:
   * BLOB_IN_USE names those manifests, and nothing changes. One transaction under the repository's lock, the one
   * a manifest push commits under: concurrent deletes of one blob make one version, a push and a delete of one of
   * its blobs serialize (the push finds the blob gone, or the delete finds the manifest), and a failure leaves
   * everything as it was.
   */
  async delete(name: string, digest: Digest): Promise<number | undefined> {
    return this.db.transaction().execute(async (trx) => {
      let repo = await lockRepository(trx, name);
      const pending = await trx
        .deleteFrom('pending_blobs')
        .where('repository', '=', name)
        .where('digest', '=', digest)
        .executeTakeFirst();
      const released = Number(pending.numDeletedRows) > 0;
      // No repository a moment ago: a first push may have created it since, taking the pending row (its delete
      // waited for that push). Nothing of ours is locked then, so the lock can be taken now, in the usual order.
      if (!repo && !released) repo = await lockRepository(trx, name);
      if (!repo || !(await inLatestVersion(trx, name, ['blob'], [digest])).has(digest)) {
        if (released) return undefined;
        if (!repo) throw new BerthError('NAME_UNKNOWN', `repository ${name} does not exist`);
        throw new BerthError('BLOB_UNKNOWN', `repository ${name} has no blob ${digest}`, { digest });
      }
      const needing = await manifestsNeeding(trx, name, digest);
      if (needing.length > 0) {
        throw new BerthError(
          'BLOB_IN_USE',
          `blob ${digest} is needed by ${needing.length} manifest(s) of repository ${name}: ${needing.join(', ')}; delete them first`,
          { digest, manifests: needing },
        );
      }
      const v = await commitVersionIn(trx, name, { create: false, settings: this.settings }, async () => [
        { op: 'remove', kind: 'blob', key: digest },
      ]);
      return v.number;
    });
  }

  /**
   * Cross-repository mount: the blob becomes `name`'s only when `from` holds it (latest version or pending).
   * Returns false otherwise, and the client falls back to an upload; nothing tells it why. Under a claim, in one
   * transaction: `from` is checked, the blob's row touched (cleanup's protection time starts anew) and the blob
   * recorded as `name`'s, so that cleanup cannot take it between the check and the write. A mount that would take
   * a quota of `name` past its limit is refused (DENIED), under the quotas' locks (quotas.ts), before any blob row.
   */
  async mount(name: string, digest: Digest, from: string): Promise<boolean> {
    return withClaims(this.db, [digest], () =>
      this.db.transaction().execute(async (trx) => {
        if (!(await heldBlobs(trx, from, [digest])).has(digest)) return false;
        // bytes still at a remote (on demand) are not mounted: the client uploads them
        const blob = await trx
          .selectFrom('blobs')
          .select('size')
          .where('digest', '=', digest)
          .where('state', '=', 'present')
          .executeTakeFirst();
        if (!blob) return false;
        await checkQuotas(trx, name, [{ digest, size: blob.size }], `mounting blob ${digest}`, {
          lock: true,
        });
        // a cleanup deleting the row meanwhile is waited for, and then nothing is touched
        const touched = await trx
          .updateTable('blobs')
          .set({ touched_at: Date.now() })
          .where('digest', '=', digest)
          .executeTakeFirst();
        if (Number(touched.numUpdatedRows) === 0) return false;
        await addPendingBlob(trx, name, digest);
        return true;
      }),
    );
  }

  /** Of `digests`, those the repository's latest version holds as a blob or as a layer's diff ID. */
  async present(name: string, digests: string[]): Promise<string[]> {
    return presentBlobs(this.db, name, digests);
  }
}
