// The hashing thread: the same digests as node:crypto, bounded lag, failures that reach the caller, and a clean stop.
import { createHash, randomBytes, randomInt } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { HashWorker } from './hash-worker.js';

const pools: HashWorker[] = [];
function pool(opts?: ConstructorParameters<typeof HashWorker>[0]): HashWorker {
  const p = new HashWorker(opts);
  pools.push(p);
  return p;
}
afterEach(async () => {
  await Promise.all(pools.splice(0).map((p) => p.close()));
});

/** Splits `b` into pieces of random sizes (0 to `max` bytes). */
function pieces(b: Buffer, max: number): Buffer[] {
  const out: Buffer[] = [];
  for (let at = 0; at < b.length;) {
    const n = Math.min(b.length - at, randomInt(0, max + 1));
    out.push(b.subarray(at, at + n));
    at += n;
  }
  return out;
}

describe('HashWorker', () => {
  it('digests equal node:crypto, for random chunk sizes across batch edges, sha256 and sha512, several at once', async () => {
    const p = pool({ batchBytes: 64 * 1024, maxPendingBytes: 256 * 1024, inlineBelow: 0 });
    const blobs = [0, 1, 65_535, 65_536, 65_537, 3 * 1024 * 1024 + 7].map((n) => randomBytes(n));
    const results = await Promise.all(
      blobs.flatMap((b) =>
        (['sha256', 'sha512'] as const).map(async (alg) => {
          const h = p.hash(alg);
          for (const c of pieces(b, 200_000)) await h.update(c);
          expect(h.size).toBe(b.length);
          return { got: await h.digest(), want: `${alg}:${createHash(alg).update(b).digest('hex')}` };
        }),
      ),
    );
    expect(p.running).toBe(true);
    for (const r of results) expect(r.got).toBe(r.want);
  });

  it('the caller may reuse its chunk at once: the bytes were copied', async () => {
    const p = pool({ inlineBelow: 0 });
    const b = randomBytes(300_000);
    const h = p.hash('sha256');
    const chunk = Buffer.alloc(100_000);
    for (let i = 0; i < 3; i++) {
      b.copy(chunk, 0, i * 100_000, (i + 1) * 100_000);
      await h.update(chunk);
      chunk.fill(0);
    }
    expect(await h.digest()).toBe(`sha256:${createHash('sha256').update(b).digest('hex')}`);
  });

  it('asks the caller to wait once the thread lags more than its bound (memory stays bounded)', async () => {
    const p = pool({ batchBytes: 64 * 1024, maxPendingBytes: 128 * 1024, inlineBelow: 0 });
    const h = p.hash('sha256');
    const waits: (Promise<void> | undefined)[] = [];
    // given in one go, with no turn of the event loop: the thread cannot have acknowledged any batch
    for (let i = 0; i < 4; i++) waits.push(h.update(randomBytes(64 * 1024)));
    expect(waits.slice(0, 2)).toEqual([undefined, undefined]);
    expect(waits[2]).toBeInstanceOf(Promise);
    await Promise.all(waits);
    expect(await h.digest()).toMatch(/^sha256:[a-f0-9]{64}$/);
  });

  it('small streams of a known size are hashed on the calling thread (no thread started)', async () => {
    const p = pool();
    const b = randomBytes(1000);
    const h = p.hash('sha256', b.length);
    expect(h.update(b)).toBeUndefined();
    expect(await h.digest()).toBe(`sha256:${createHash('sha256').update(b).digest('hex')}`);
    expect(p.running).toBe(false);
  });

  it('a thread that fails fails the hashes in flight (their digest rejects), and the next hash gets a new thread', async () => {
    const p = pool({ inlineBelow: 0 });
    const h = p.hash('sha256');
    await h.update(randomBytes(10_000));
    // the thread is killed under the hash (as by an out-of-memory crash)
    await (p as unknown as { worker: { terminate(): Promise<number> } }).worker.terminate();
    await expect(h.digest()).rejects.toThrow(/hashing thread exited/);
    expect(() => h.update(Buffer.from('x'))).toThrow(/hashing thread exited/);
    const again = p.hash('sha256');
    await again.update(Buffer.from('abc'));
    expect(await again.digest()).toBe(`sha256:${createHash('sha256').update('abc').digest('hex')}`);
  });

  it('an algorithm the thread does not know: the digest rejects naming it', async () => {
    const p = pool({ inlineBelow: 0 });
    const h = p.hash('md4x' as 'sha256');
    await h.update(Buffer.from('abc'));
    await expect(h.digest()).rejects.toThrow(/hashing failed/);
  });

  it('close stops the thread and fails what is in flight; later hashes run on the calling thread', async () => {
    const p = pool({ inlineBelow: 0 });
    const h = p.hash('sha256');
    await h.update(randomBytes(10_000));
    const worker = (p as unknown as { worker: { threadId: number; once(e: 'exit', f: () => void): void } })
      .worker;
    const exited = new Promise<void>((r) => worker.once('exit', r));
    const digest = h.digest().then(
      () => 'digest',
      (e: Error) => e.message,
    );
    await p.close();
    await exited;
    expect(p.running).toBe(false);
    expect(await digest).toMatch(/hashing thread was closed/);
    const after = p.hash('sha256');
    await after.update(Buffer.from('abc'));
    expect(await after.digest()).toBe(`sha256:${createHash('sha256').update('abc').digest('hex')}`);
    expect(p.running).toBe(false);
  });

  it('abort drops a hash: a caller waiting for room goes on, nothing settles later', async () => {
    const p = pool({ batchBytes: 64 * 1024, maxPendingBytes: 64 * 1024, inlineBelow: 0 });
    const h = p.hash('sha256');
    h.update(randomBytes(64 * 1024));
    const wait = h.update(randomBytes(64 * 1024));
    h.abort();
    await wait;
    // the thread still serves others
    const other = p.hash('sha256');
    await other.update(Buffer.from('abc'));
    expect(await other.digest()).toBe(`sha256:${createHash('sha256').update('abc').digest('hex')}`);
  });
});
