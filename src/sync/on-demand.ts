// On-demand blobs: the first GET of a blob a repository holds on demand fetches it from the remote, streaming it to the client and into the store.
import { randomUUID } from 'node:crypto';
import { finished, PassThrough, type Readable, type Writable } from 'node:stream';
import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.js';
import { Leases } from '../db/leases.js';
import { BerthError } from '../core/errors.js';
import type { BlobStore } from '../storage/blob-store.js';
import { Keys, promote } from '../storage/cas.js';
import { blobObjectKey } from '../gc/blob-objects.js';
import { CLAIM_TTL_MS } from '../gc/claims.js';
import { realClock, type Clock } from '../gc/clock.js';
import { recordBlobs } from '../repo/catalogue.js';
import type { OnDemandBlob, OnDemandSource } from '../repo/on-demand-port.js';
import type { Upstream } from './upstream.js';
import { teeVerified } from './verified-tee.js';

/** What the client's stream holds before the fetch waits for it to read (1 MiB: a few of upstream's chunks). */
const CLIENT_BUFFER = 1024 * 1024;

/** The client for a remote, by the remote's name (composed in app.ts from the remotes service and the HTTP client). */
export type UpstreamFor = (remote: string) => Promise<Upstream>;

export interface OnDemandLog {
  warn(obj: object, msg: string): void;
}

export interface OnDemandOptions {
  /** the time leases are taken and waits are measured by (tests inject a fake one) */
  clock?: Clock;
  /** how a request waiting for another process's fetch pauses between looks at the database */
  sleep?: (ms: number) => Promise<void>;
  /** a fetch's lease on its digest lasts this long, renewed at a third of it while the fetch goes on (15 s) */
  leaseMs?: number;
  /** a request waits this long at most for another process's fetch before it answers UNAVAILABLE (10 min) */
  waitMs?: number;
  log?: OnDemandLog;
}

/**
 * A fetch of this process ended, for the metrics: `ok` (verified and recorded), `failed` (upstream failed or sent
 * wrong bytes: the client's connection was cut or its request refused); `bytes`: the blob's size when ok, else 0.
 */
export type FetchListener = (event: { remote: string; outcome: 'ok' | 'failed'; bytes: number }) => void;

/** What an on_demand_blobs row says: the blob, and where its bytes come from. */
interface Source extends OnDemandBlob {
  remote: string;
  upstream: string;
}

const leaseOf = (digest: string): string => `on-demand:${digest}`;

/** Destroys a writer and waits until it has let go of its file. */
const closed = (w: Writable): Promise<void> =>
  new Promise((resolve) => {
    finished(w, () => resolve());
    w.destroy();
  });
const FIRST_PAUSE_MS = 25;
const LONGEST_PAUSE_MS = 1000;

/**
 * The OnDemandSource of the repo room. One fetch of a digest at a time across every process: the fetch holds the
 * lease `on-demand:<digest>` (leases table) and a claim on the digest (cleanup leaves its file alone). It streams
 * upstream's bytes to the client and into staging/<id>/0 at once (verified-tee.ts), then moves them into place —
 * or, when berth has those bytes already for another repository, drops its copy (stored once) — and records the
 * blob present and the repository's on_demand_blobs row gone, in one transaction. Requests of this process for
 * the digest wait for the fetch in flight; those of other processes look at the database now and then (with a
 * growing pause) until the row is gone, or take the lease over when its holder died. The row is per repository:
 * another repository holding the same digest on demand still fetches it from its own remote (proof of ownership).
 */
export class OnDemandBlobs implements OnDemandSource {
  /** this process's fetches in flight, by digest: each settles with its failure, or undefined */
  private readonly inflight = new Map<string, Promise<Error | undefined>>();
  private readonly listeners = new Set<FetchListener>();
  private readonly leases: Leases;
  private readonly clock: Clock;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly leaseMs: number;
  private readonly waitMs: number;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly store: BlobStore,
    private readonly upstreamFor: UpstreamFor,
    private readonly opts: OnDemandOptions = {},
  ) {
    this.leases = new Leases(db);
    this.clock = opts.clock ?? realClock;
    this.sleep = opts.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
    this.leaseMs = opts.leaseMs ?? 15_000;
    this.waitMs = opts.waitMs ?? 600_000;
  }

  /** Calls `listener` when a fetch of this process ends (metrics count them); returns its removal. */
  onFetch(listener: FetchListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async open(blob: OnDemandBlob): Promise<Readable | undefined> {
    const deadline = this.clock.now() + this.waitMs;
    let pause = FIRST_PAUSE_MS;
    for (;;) {
      const source = await this.source(blob);
      if (!source) return undefined;
      const local = this.inflight.get(blob.digest);
      if (local) {
        const failed = await local;
        if (failed) {
          throw new BerthError(
            'UNAVAILABLE',
            `blob ${blob.digest} could not be fetched from remote ${source.remote}: ${failed.message}; retry later`,
          );
        }
        continue;
      }
      const holder = randomUUID();
      const now = this.clock.now();
      // a look first: waiting on a live lease reads the database, it does not write to it
      const lease = await this.leases.get(leaseOf(blob.digest));
      const free = !lease || lease.expiresAt <= now;
      if (free && (await this.leases.acquire(leaseOf(blob.digest), holder, now + this.leaseMs, now))) {
        // fetched by another process between the look and the lease: nothing to do
        const still = await this.source(blob);
        if (still) return this.fetch(still, holder);
        await this.leases.release(leaseOf(blob.digest), holder);
        return undefined;
      }
      if (this.clock.now() >= deadline) {
        throw new BerthError(
          'UNAVAILABLE',
          `blob ${blob.digest} has been on its way from remote ${source.remote} for more than ${Math.round(this.waitMs / 1000)} s (another request fetches it); retry later`,
        );
      }
      await this.sleep(pause);
      pause = Math.min(pause * 2, LONGEST_PAUSE_MS);
    }
  }

  /** The repository's on_demand_blobs row for the digest, or undefined when its bytes came. */
  private async source(blob: OnDemandBlob): Promise<Source | undefined> {
    const row = await this.db
      .selectFrom('on_demand_blobs')
      .select(['size', 'remote', 'upstream'])
      .where('repository', '=', blob.repository)
      .where('digest', '=', blob.digest)
      .executeTakeFirst();
    return row && { ...blob, size: row.size, remote: row.remote, upstream: row.upstream };
  }

  /**
   * Starts the fetch under the lease `holder` took: resolves with the stream for the client once upstream
   * answered (a failure before that is an error answered as such, with nothing left behind); the rest goes on
   * behind the stream.
   */
  private async fetch(src: Source, holder: string): Promise<Readable> {
    let settled!: (failure: Error | undefined) => void;
    this.inflight.set(src.digest, new Promise<Error | undefined>((r) => (settled = r)));
    const renewing = this.clock.setInterval(() => {
      this.leases.renew(leaseOf(src.digest), holder, this.clock.now() + this.leaseMs).catch(() => undefined);
    }, this.leaseMs / 3);
    const claim = randomUUID();
    const id = randomUUID();
    // everything the fetch took, given back before its client hears the end: a GET that follows finds it all clear
    const finish = async (failure: Error | undefined) => {
      this.clock.clearInterval(renewing);
      for (const l of this.listeners)
        l({ remote: src.remote, outcome: failure ? 'failed' : 'ok', bytes: failure ? 0 : src.size });
      await Promise.all([
        this.store.deletePrefix(Keys.stagingDir(id)).catch(() => undefined),
        this.db
          .deleteFrom('blob_claims')
          .where('id', '=', claim)
          .execute()
          .catch(() => undefined),
        this.leases.release(leaseOf(src.digest), holder).catch(() => undefined),
      ]);
      this.inflight.delete(src.digest);
      settled(failure);
    };
    let body: Readable;
    let sink: Writable;
    try {
      // claimed before any byte is written: cleanup never takes the file this fetch moves into place
      await this.db
        .insertInto('blob_claims')
        .values({ id: claim, digest: src.digest, expires_at: Date.now() + CLAIM_TTL_MS })
        .execute();
      const upstream = await this.upstreamFor(src.remote);
      // the staging file opens while upstream answers (one round trip less before the first byte)
      const opening = this.store.writer(Keys.staging(id, 0));
      opening.catch(() => undefined);
      try {
        body = await upstream.getBlob(src.upstream, src.digest, src.size);
      } catch (e) {
        // closed before finish deletes the staging folder: no file is created behind its back
        await opening.then(closed, () => undefined);
        throw e;
      }
      // upstream may break off while the sink opens, before the tee listens: an 'error' then must not go unheard
      // (it would end the process); the tee still sees the stream errored
      body.on('error', () => undefined);
      try {
        sink = await opening;
      } catch (e) {
        body.destroy();
        throw e;
      }
    } catch (e) {
      await finish(e as Error);
      throw e;
    }
    // room for a chunk or two of upstream in flight to the client (the default 16 KiB made every chunk wait for a
    // drain, upstream paused between chunks)
    const client = new PassThrough({ highWaterMark: CLIENT_BUFFER });
    void this.complete(src, id, body, sink, client, finish);
    return client;
  }

  /**
   * Streams the fetch to its end: the client gets its last bytes once they were verified and recorded, and the
   * fetch has given back what it took (`finish`); on a failure its connection is cut. Never rejects.
   */
  private async complete(
    src: Source,
    id: string,
    body: Readable,
    sink: Writable,
    client: PassThrough,
    finish: (failure: Error | undefined) => Promise<void>,
  ): Promise<void> {
    let last: Buffer | undefined;
    try {
      // the Upstream's blob stream hashes and checks the bytes itself (the port's promise): hashed once, there
      last = await teeVerified(body, src, sink, client, { sourceVerifies: true });
    } catch (e) {
      this.opts.log?.warn(
        { digest: src.digest, repository: src.repository, remote: src.remote, err: e },
        'on-demand fetch failed; the client connection is cut',
      );
      body.destroy();
      await finish(e as Error);
      client.destroy(e as Error);
      return;
    }
    try {
      await this.record(src, id);
    } catch (e) {
      // the client's bytes are verified: it gets them; the next GET fetches again
      this.opts.log?.warn(
        { digest: src.digest, repository: src.repository, err: e },
        'on-demand blob fetched but not recorded',
      );
    }
    await finish(undefined);
    if (!client.destroyed) client.end(last);
  }

  /**
   * Moves the verified bytes into place (or drops them when berth stores that blob already: stored once), then
   * records the blob present and the repository's row gone, in one transaction.
   */
  private async record(src: Source, id: string): Promise<void> {
    const [row, file] = await Promise.all([
      this.db.selectFrom('blobs').select('state').where('digest', '=', src.digest).executeTakeFirst(),
      blobObjectKey(this.db, src.digest).then((key) => this.store.stat(key)),
    ]);
    if (!(row?.state === 'present' && file?.size === src.size)) {
      await promote(this.store, Keys.staging(id, 0), src.digest);
    }
    await this.db.transaction().execute(async (trx) => {
      await recordBlobs(trx, [{ digest: src.digest, size: src.size }]);
      await trx
        .deleteFrom('on_demand_blobs')
        .where('repository', '=', src.repository)
        .where('digest', '=', src.digest)
        .execute();
    });
  }
}
