// On-demand blobs on every backend: fetched once from a real (loopback) upstream, verified, stored once, per repository.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openBerth, type Berth } from '../app.js';
import { Blobs } from '../repo/blobs.js';
import { countStatements } from '../../test/helpers/statements.js';
import { sha256, type Digest } from '../core/digest.js';
import { Keys } from '../storage/cas.js';
import { FakeClock } from '../../test/helpers/fake-clock.js';
import { backends, removeTestDatabase, testDatabaseUrl } from '../../test/helpers/backend.js';
import { startBlobServer, type BlobServer } from '../../test/helpers/blob-server.js';
import { seedOnDemand } from '../../test/helpers/on-demand.js';
import { createUpstream } from './upstream-http.js';
import type { Upstream } from './upstream.js';

const REPO = 'od/app';
const UPSTREAM = 'library/app';

/** Reads a stream whole, or the bytes it gave before it failed, and how it ended. */
async function drain(s: Readable): Promise<{ bytes: Buffer; error?: Error }> {
  const parts: Buffer[] = [];
  try {
    for await (const c of s) parts.push(c as Buffer);
    return { bytes: Buffer.concat(parts) };
  } catch (e) {
    return { bytes: Buffer.concat(parts), error: e as Error };
  }
}

describe.each(backends())('on-demand blobs on %s', (backend) => {
  let data: string;
  let database: string;
  let berth: Berth;
  let upstream: BlobServer;
  const others: Berth[] = [];
  let blob: Buffer;
  let digest: Digest;

  const upstreamFor = async (remote: string): Promise<Upstream> => {
    expect(remote).toBe('hub');
    return createUpstream({ name: 'hub', url: upstream.url, tlsVerify: true, concurrency: 4 });
  };
  const open = (extra: Parameters<typeof openBerth>[0] extends infer C ? Partial<C> : never = {}) =>
    openBerth({ data, database, upstreamFor, ...extra });
  const rowOf = (d: string) =>
    berth.db.kysely.selectFrom('blobs').selectAll().where('digest', '=', d).executeTakeFirst();
  const onDemandRows = (repository = REPO) =>
    berth.db.kysely.selectFrom('on_demand_blobs').selectAll().where('repository', '=', repository).execute();
  const get = async (b: Berth, repository = REPO, d: Digest = digest) =>
    drain(await b.blobs.open(await b.blobs.stat(repository, d)));
  const staging = async () => {
    const keys: string[] = [];
    for await (const k of berth.store.list('staging/')) keys.push(k);
    return keys;
  };

  beforeEach(async () => {
    data = mkdtempSync(join(tmpdir(), 'on-demand-'));
    database = await testDatabaseUrl(`on-demand-${backend}`, backend);
    upstream = await startBlobServer();
    blob = randomBytes(300_000);
    digest = sha256(blob);
    upstream.blobs.set(`${UPSTREAM}/${digest}`, blob);
    berth = await open();
    await seedOnDemand(berth, REPO, [{ digest, size: blob.length }], 'hub', UPSTREAM);
  });

  afterEach(async () => {
    upstream.release();
    await upstream.close();
    for (const b of others.splice(0)) await b.close();
    await berth.close();
    rmSync(data, { recursive: true, force: true });
    await removeTestDatabase(database);
  });

  it('HEAD (stat) answers from the database: the size, and no request upstream', async () => {
    const held = await berth.blobs.stat(REPO, digest);
    expect(held).toEqual({ digest, size: blob.length, onDemand: { repository: REPO } });
    expect(upstream.gets.size).toBe(0);
  });

  it('HEAD (stat) is one statement, for a blob held on demand, one stored, one pushed and awaiting a manifest', async () => {
    // a HEAD on PostgreSQL waits on each round trip: the on-demand row and the stored blob are asked at once
    const counted = countStatements(berth.db.kysely);
    const blobs = new Blobs(counted.db, berth.store, undefined, berth.onDemand);
    expect(await blobs.stat(REPO, digest)).toEqual({
      digest,
      size: blob.length,
      onDemand: { repository: REPO },
    });
    expect(counted.count).toBe(1);
    const pushed = randomBytes(1000);
    const pushedDigest = sha256(pushed);
    await berth.uploads.monolithic(REPO, pushedDigest, Readable.from([pushed]));
    counted.reset();
    expect(await blobs.stat(REPO, pushedDigest)).toEqual({ digest: pushedDigest, size: pushed.length });
    expect(counted.count).toBe(1);
    await get(berth); // fetched: now stored, in the latest version
    counted.reset();
    expect(await blobs.stat(REPO, digest)).toEqual({ digest, size: blob.length });
    expect(counted.count).toBe(1);
  });

  it('the first GET fetches from the remote and streams the bytes; then the blob is stored and no longer on demand', async () => {
    const { bytes, error } = await get(berth);
    expect(error).toBeUndefined();
    expect(bytes.equals(blob)).toBe(true);
    expect(upstream.gets.get(`${UPSTREAM}/${digest}`)).toBe(1);
    expect((await rowOf(digest))?.state).toBe('present');
    expect(await onDemandRows()).toEqual([]);
    expect((await berth.store.stat(Keys.blob(digest)))?.size).toBe(blob.length);
    expect(await staging()).toEqual([]);
    // the next GET reads the store: no second request upstream, and a range works again
    expect((await berth.blobs.stat(REPO, digest)).onDemand).toBeUndefined();
    expect((await get(berth)).bytes.equals(blob)).toBe(true);
    expect(upstream.gets.get(`${UPSTREAM}/${digest}`)).toBe(1);
  });

  it('wrong bytes under the digest: the stream fails short of the size, nothing is stored, the blob stays on demand', async () => {
    upstream.mode = 'wrong';
    const { bytes, error } = await get(berth);
    expect(error).toBeDefined();
    expect(bytes.length).toBeLessThan(blob.length);
    expect((await rowOf(digest))?.state).toBe('remote');
    expect(await onDemandRows()).toHaveLength(1);
    expect(await berth.store.stat(Keys.blob(digest))).toBeNull();
    expect(await staging()).toEqual([]);
    // upstream mended: the next GET fetches again
    upstream.mode = 'ok';
    expect((await get(berth)).bytes.equals(blob)).toBe(true);
  });

  it('proof of ownership: bytes berth stores for another repository are fetched and verified anyway, and stored once', async () => {
    const other = randomBytes(1000);
    const otherDigest = sha256(other);
    upstream.blobs.set(`${UPSTREAM}/${otherDigest}`, other);
    await berth.uploads.monolithic('team/private', otherDigest, Readable.from([other]));
    const before = await berth.store.stat(Keys.blob(otherDigest));
    await seedOnDemand(berth, 'od/thief', [{ digest: otherDigest, size: other.length }], 'hub', UPSTREAM);
    expect((await berth.blobs.stat('od/thief', otherDigest)).onDemand).toEqual({ repository: 'od/thief' });
    const { bytes } = await get(berth, 'od/thief', otherDigest);
    expect(bytes.equals(other)).toBe(true);
    expect(upstream.gets.get(`${UPSTREAM}/${otherDigest}`)).toBe(1);
    expect(await onDemandRows('od/thief')).toEqual([]);
    // stored once: the file berth had is the one that stays (the download was dropped)
    const after = await berth.store.stat(Keys.blob(otherDigest));
    expect(after?.modifiedAt.getTime()).toBe(before?.modifiedAt.getTime());
    expect(await staging()).toEqual([]);
  });

  it('a remote that fails: the GET answers an error before any byte, and nothing changes', async () => {
    upstream.blobs.clear();
    await expect(get(berth)).rejects.toThrow();
    expect(await onDemandRows()).toHaveLength(1);
    expect((await rowOf(digest))?.state).toBe('remote');
    expect(await staging()).toEqual([]);
    const leases = await berth.db.kysely.selectFrom('leases').selectAll().execute();
    expect(leases).toEqual([]);
  });

  it('concurrent first GETs in one process: one fetch upstream, every client gets the bytes', async () => {
    upstream.mode = 'hold';
    const gets = Array.from({ length: 5 }, () => get(berth));
    await upstream.holding(1);
    upstream.mode = 'ok';
    upstream.release();
    for (const r of await Promise.all(gets)) expect(r.bytes.equals(blob)).toBe(true);
    expect(upstream.gets.get(`${UPSTREAM}/${digest}`)).toBe(1);
  });

  it('concurrent first GETs in two processes: one fetch; the other process waits on the database', async () => {
    let polls = 0;
    // no timer: each pause is one turn of the event loop (SQLite answers without I/O, so a pause that only
    // resolved a promise would never let the first process's fetch run)
    const second = await open({
      onDemand: { sleep: () => new Promise((r) => setImmediate(() => r(void polls++))) },
    });
    others.push(second);
    upstream.mode = 'hold';
    const first = get(berth);
    await upstream.holding(1);
    const waiting = get(second);
    // the second process looks at the database a few times while the first one's fetch is held
    while (polls < 3) await new Promise((r) => setImmediate(r));
    upstream.mode = 'ok';
    upstream.release();
    expect((await first).bytes.equals(blob)).toBe(true);
    expect((await waiting).bytes.equals(blob)).toBe(true);
    expect(upstream.gets.get(`${UPSTREAM}/${digest}`)).toBe(1);
  });

  it('a lease whose holder died: taken over once its time is up, and the blob fetched', async () => {
    const clock = new FakeClock(Date.now());
    const second = await open({
      clock,
      onDemand: { leaseMs: 15_000, sleep: async (ms) => clock.advanceTo(clock.now() + ms) },
    });
    others.push(second);
    await berth.leases.acquire(`on-demand:${digest}`, 'a-dead-process', clock.now() + 15_000, clock.now());
    const start = clock.now();
    expect((await get(second)).bytes.equals(blob)).toBe(true);
    expect(clock.now() - start).toBeGreaterThanOrEqual(15_000);
    expect(upstream.gets.get(`${UPSTREAM}/${digest}`)).toBe(1);
  });

  it('a fetch that takes longer than the wait: UNAVAILABLE, saying to retry', async () => {
    const clock = new FakeClock(Date.now());
    const second = await open({
      clock,
      onDemand: { waitMs: 60_000, sleep: async (ms) => clock.advanceTo(clock.now() + ms) },
    });
    others.push(second);
    // a live holder: renews its lease as the clock moves
    await berth.leases.acquire(`on-demand:${digest}`, 'a-live-process', Number.MAX_SAFE_INTEGER, clock.now());
    await expect(get(second)).rejects.toMatchObject({ code: 'UNAVAILABLE', message: /retry later/ });
    expect(upstream.gets.size).toBe(0);
  });
});
