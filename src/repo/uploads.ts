// Upload sessions of blobs: sessions in the database, bytes in the store, hashed once as they arrive.
import { randomUUID } from 'node:crypto';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.js';
import { BerthError } from '../core/errors.js';
import { algorithmOf, type Algorithm, type Digest } from '../core/digest.js';
import type { Appender, BlobStore } from '../storage/blob-store.js';
import { Keys } from '../storage/cas.js';
import { addPendingBlob, recordBlobs, unmapped } from './catalogue.js';
import { withClaims } from '../gc/claims.js';
import { openSession, type SessionBounds } from './upload-bounds.js';
import {
  continueSha256,
  finalDigest,
  oneShotHash,
  rehashSha256,
  SessionHashes,
  type RunningHash,
} from './upload-hash.js';
import { checkQuotas } from './quotas.js';
import { lostBytes, unknownUpload } from './upload-errors.js';

/** With the bounds of open sessions (per repository, per user) and their expiry: see upload-bounds.ts. */
export interface UploadOptions extends SessionBounds {
  /** a session's writer lease lasts this long unless renewed; the request holding it renews it while it writes */
  leaseMs: number;
}

export const DEFAULT_UPLOAD_OPTIONS: UploadOptions = {
  expireAfterMs: 24 * 3600_000,
  leaseMs: 60_000,
  maxPerRepository: 1000,
  maxPerUser: 1000,
};

export interface ChunkRange {
  start: number;
  end: number;
}

type Db = Kysely<Database>;

/** Where a session is: its size, and what it keeps for the next chunk (its row's hash_state and store_state). */
interface SessionState {
  size: number;
  hashState: string | null;
  storeState: string | null;
}

/**
 * On S3, sessions keep everything between requests in their row and the store, nothing in a process: a chunk may
 * go to any process, which goes on from the saved sha256 state (upload-hash.ts) and the store's append state
 * (BlobStore.appender: one multipart upload per session), reading nothing back. On files and memory, whose
 * objects grow in place, the running hash is node:crypto's, kept by the process that took the last chunk
 * (SessionHashes); a chunk that reaches another process re-reads the bytes once.
 */
export class Uploads {
  private readonly hashes = new SessionHashes();

  constructor(
    private readonly db: Db,
    private readonly store: BlobStore,
    private readonly opts: UploadOptions = DEFAULT_UPLOAD_OPTIONS,
  ) {}

  /**
   * Opens a session for `userId` (absent: no user); its bytes will be at Keys.upload(id), where they stay. Refused with
   * TOOMANYREQUESTS, creating nothing, when the repository or the user has the most sessions open already
   * (see openSession).
   */
  async start(name: string, userId?: number): Promise<{ id: string }> {
    const id = randomUUID();
    await openSession(this.db, { id, repository: name, userId: userId ?? null, now: Date.now() }, this.opts);
    try {
      const w = await this.store.writer(Keys.upload(id));
      await new Promise<void>((resolve, reject) => w.end(() => resolve()).on('error', reject));
    } catch (e) {
      await this.remove(id);
      throw e;
    }
    return { id };
  }

  /** The bytes received so far. */
  async status(name: string, id: string): Promise<{ size: number }> {
    const row = await this.db
      .selectFrom('upload_sessions')
      .select('size')
      .where('id', '=', id)
      .where('repository', '=', name)
      .executeTakeFirst();
    if (!row) throw unknownUpload(id);
    return { size: row.size };
  }

  /** Appends a chunk (PATCH). A Content-Range must start where the session ends. */
  async append(name: string, id: string, body: Readable, range?: ChunkRange): Promise<{ size: number }> {
    const at = await this.lease(name, id);
    const renewing = this.renew(id);
    try {
      return { size: (await this.write(id, at, body, range)).at.size };
    } finally {
      clearInterval(renewing);
      await this.release(id);
    }
  }

  /**
   * Finishes a session (PUT ?digest=), with an optional last chunk (whose Content-Range, if given, must start
   * where the session ends): the bytes must hash to `digest`, else DIGEST_INVALID and the session is gone. The
   * blob then belongs to the repository, awaiting its manifest. A blob that would take a quota of the repository
   * past its limit is refused (DENIED), and the session is gone too.
   */
  async finish(
    name: string,
    id: string,
    digest: Digest,
    body: Readable | undefined,
    range?: ChunkRange,
  ): Promise<void> {
    let at = await this.lease(name, id);
    let released = false;
    const renewing = this.renew(id);
    try {
      let hash: RunningHash | undefined;
      if (body) ({ at, hash } = await this.write(id, at, body, range, algorithmOf(digest)));
      at = await this.seal(id, at);
      const size = at.size;
      if (this.store.appendsInPlace) hash ??= this.hashes.take(id, size, algorithmOf(digest));
      const actual = await finalDigest(algorithmOf(digest), at, hash, this.readBack(id, size));
      if (actual !== digest) {
        await this.remove(id);
        released = true;
        throw new BerthError('DIGEST_INVALID', `the uploaded bytes have digest ${actual}, not ${digest}`, {
          digest,
          actual,
        });
      }
      // a chunk that failed half-way may have left bytes past the session's end: they are not the blob's
      if ((await this.store.stat(Keys.upload(id)))?.size !== size) {
        const w = await lostBytes(id, () => this.store.writer(Keys.upload(id), { offset: size }));
        await new Promise<void>((resolve, reject) => w.end(() => resolve()).on('error', reject));
      }
      // No copy at commit: the bytes stay where they were written, and the blob row maps the digest to them
      // (create-if-absent through its primary key). When the digest is stored already, its row keeps its object
      // and this one goes, after the commit.
      const stored = [{ digest, size, objectKey: Keys.upload(id) }];
      let extra: string[] = [];
      try {
        await withClaims(this.db, [digest], () =>
          this.db.transaction().execute(async (trx) => {
            // the quota rule (quotas.ts): checked under the quotas' locks before the blob is recorded, so that a
            // refused blob leaves nothing behind; a pending blob counts, so pushing blobs without a manifest
            // cannot get past it
            await checkQuotas(trx, name, [{ digest, size }], `blob ${digest}`, { lock: true });
            extra = unmapped(stored, await recordBlobs(trx, stored));
            await addPendingBlob(trx, name, digest);
            await trx.deleteFrom('upload_sessions').where('id', '=', id).execute();
          }),
        );
      } catch (e) {
        // refused by a quota: the session goes with its bytes, as for a wrong digest
        if (e instanceof BerthError && e.code === 'DENIED') {
          await this.remove(id);
          released = true;
        }
        throw e;
      }
      released = true;
      // stored already: this upload's object goes, with its folder
      if (extra.length > 0) await this.store.deletePrefix(Keys.objectDir(id));
      await this.store.deletePrefix(Keys.uploadDir(id));
    } finally {
      clearInterval(renewing);
      if (!released) await this.release(id);
    }
  }

  /** A whole blob in one request (POST ?digest=). */
  async monolithic(name: string, digest: Digest, body: Readable, userId?: number): Promise<void> {
    const { id } = await this.start(name, userId);
    try {
      await this.finish(name, id, digest, body);
    } catch (e) {
      // nobody can resume a session never named to the client: its bytes go now (a full disk gets them back)
      await this.remove(id).catch(() => undefined);
      throw e;
    }
  }

  /**
   * Cancels a session (DELETE), removing its bytes. A writer like any other: the session goes only when no request
   * holds its lease (one statement, so a PUT finishing it meanwhile either found it gone or is waited for); while
   * one does, BLOB_UPLOAD_INVALID says to retry, and a finished session answers BLOB_UPLOAD_UNKNOWN.
   */
  async cancel(name: string, id: string): Promise<void> {
    const gone = await this.db
      .deleteFrom('upload_sessions')
      .where('id', '=', id)
      .where('repository', '=', name)
      .where('busy_until', '<', Date.now())
      .returning('id')
      .executeTakeFirst();
    if (!gone) {
      await this.status(name, id); // BLOB_UPLOAD_UNKNOWN when there is no such session (any more)
      throw new BerthError(
        'BLOB_UPLOAD_INVALID',
        `upload ${id} is being written by another request; cancel it once that request has ended`,
      );
    }
    await this.dropBytes(id);
  }

  /** How many sessions are open (finished, cancelled and expired ones are gone). */
  async openCount(): Promise<number> {
    const r = await this.db
      .selectFrom('upload_sessions')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirstOrThrow();
    return Number(r.n);
  }

  /**
   * Removes sessions untouched for longer than the expiry, and their bytes (deletePrefix of the session's folder
   * aborts its multipart upload on S3). Returns how many.
   */
  async expire(now = Date.now()): Promise<number> {
    const gone = await this.db
      .deleteFrom('upload_sessions')
      .where('updated_at', '<', now - this.opts.expireAfterMs)
      .where('busy_until', '<', now)
      .returning('id')
      .execute();
    for (const { id } of gone) {
      await this.dropBytes(id);
    }
    return gone.length;
  }

  private async remove(id: string): Promise<void> {
    await this.db.deleteFrom('upload_sessions').where('id', '=', id).execute();
    await this.dropBytes(id);
  }

  /**
   * The bytes and folders of a session whose row is gone unfinished (no blob row maps its object): its object's
   * folder (with what a store keeps while appending, S3's multipart upload aborted) and its session folder.
   */
  private async dropBytes(id: string): Promise<void> {
    await this.store.deletePrefix(Keys.objectDir(id));
    await this.store.deletePrefix(Keys.uploadDir(id));
  }

  /** Takes the session's writer lease (one writer at a time, across processes); returns where it is. */
  private async lease(name: string, id: string): Promise<SessionState> {
    const now = Date.now();
    const row = await this.db
      .updateTable('upload_sessions')
      .set({ busy_until: now + this.opts.leaseMs, updated_at: now })
      .where('id', '=', id)
      .where('repository', '=', name)
      .where('busy_until', '<', now)
      .returning(['size', 'hash_state', 'store_state'])
      .executeTakeFirst();
    if (row) return { size: row.size, hashState: row.hash_state, storeState: row.store_state };
    await this.status(name, id);
    throw new BerthError(
      'BLOB_UPLOAD_INVALID',
      `upload ${id} is being written by another request; retry later`,
    );
  }

  /**
   * Keeps the lease while a long request writes; a process that dies stops renewing, and the session can be
   * continued elsewhere once the lease runs out.
   */
  private renew(id: string): NodeJS.Timeout {
    const timer = setInterval(() => {
      this.db
        .updateTable('upload_sessions')
        .set({ busy_until: Date.now() + this.opts.leaseMs })
        .where('id', '=', id)
        .where('busy_until', '>', 0)
        .execute()
        .catch(() => undefined); // a failed renewal only shortens the lease
    }, this.opts.leaseMs / 3);
    timer.unref();
    return timer;
  }

  private async release(id: string): Promise<void> {
    await this.db.updateTable('upload_sessions').set({ busy_until: 0 }).where('id', '=', id).execute();
  }

  /**
   * Writes a chunk at the session's end while hashing it; records the new size and state. A final PUT's body on a
   * session with no bytes yet (`finishing`: the digest's algorithm) is the whole blob: written as one object and
   * hashed with node:crypto, nothing to save. Any other chunk is appended (BlobStore.appender) and goes on from the
   * saved sha256 state.
   */
  private async write(
    id: string,
    at: SessionState,
    body: Readable,
    range?: ChunkRange,
    finishing?: Algorithm,
  ): Promise<{ at: SessionState; hash: RunningHash }> {
    const { size } = at;
    if (range && range.start !== size) {
      throw new BerthError(
        'RANGE_INVALID',
        `the chunk starts at byte ${range.start}, but upload ${id} holds ${size} bytes: send the chunk starting at ${size}`,
        { size },
      );
    }
    const whole = finishing !== undefined && size === 0;
    // objects that grow in place: node:crypto, the running hash of this process or the bytes read back once;
    // else (S3) the saved sha256 state (a session with an append state cannot read its bytes back before it is
    // sealed: none to re-hash from)
    const hash = whole
      ? oneShotHash(finishing)
      : this.store.appendsInPlace
        ? (this.hashes.take(id, size) ?? (await rehashSha256(size > 0 ? this.readBack(id, size) : undefined)))
        : await continueSha256(at, at.storeState === null ? this.readBack(id, size) : undefined);
    if (!hash) {
      throw new BerthError(
        'BLOB_UPLOAD_UNKNOWN',
        `upload ${id} cannot go on: its saved hash state is unreadable by this version of berth; start the upload again`,
      );
    }
    let written = 0;
    const hashing = new Transform({
      transform(chunk: Buffer, _e, cb) {
        hash.update(chunk);
        written += chunk.length;
        cb(null, chunk);
      },
    });
    const key = Keys.upload(id);
    const sink = await lostBytes(id, () =>
      whole ? this.store.writer(key) : this.store.appender(key, size, at.storeState),
    );
    try {
      await lostBytes(id, () => pipeline(body, hashing, sink));
    } catch (e) {
      // the failed writer closes first (S3: its parts in flight end), so a retry cannot race a part of this chunk
      if (!sink.closed) await new Promise((resolve) => sink.once('close', resolve));
      // the session stays as the client last saw it: bytes of the failed chunk are cut off (on a full disk,
      // they are its space), best effort; a later chunk or PUT writes from `size` again anyway
      const cut = await this.store.appender(key, size, at.storeState).catch(() => undefined);
      cut?.on('error', () => undefined).end();
      throw e;
    }
    if (range && written !== range.end - range.start + 1) {
      throw new BerthError(
        'BLOB_UPLOAD_INVALID',
        `the chunk has ${written} bytes, but its Content-Range ${range.start}-${range.end} says ${range.end - range.start + 1}`,
      );
    }
    const next: SessionState = {
      size: size + written,
      storeState: whole ? null : (sink as Appender).appended(),
      hashState: hash.save(),
    };
    await this.db
      .updateTable('upload_sessions')
      .set({
        size: next.size,
        hash_state: next.hashState,
        store_state: next.storeState,
        updated_at: Date.now(),
      })
      .where('id', '=', id)
      .execute();
    if (this.store.appendsInPlace) this.hashes.put(id, hash, next.size);
    return { at: next, hash };
  }

  /**
   * Makes the appended bytes the whole object at Keys.upload(id) (BlobStore.seal), and says so in the row (no
   * append state left: a later chunk, after a final PUT that failed, starts from the whole object).
   */
  private async seal(id: string, at: SessionState): Promise<SessionState> {
    if (at.storeState === null) return at;
    await lostBytes(id, () => this.store.seal(Keys.upload(id), at.size, at.storeState));
    await this.db.updateTable('upload_sessions').set({ store_state: null }).where('id', '=', id).execute();
    return { ...at, storeState: null };
  }

  /** The first `size` bytes of the session's whole object (the one re-read, when unavoidable). */
  private readBack(id: string, size: number): () => Promise<AsyncIterable<Buffer>> {
    return () => lostBytes(id, () => this.store.reader(Keys.upload(id), { start: 0, end: size - 1 }));
  }
}
