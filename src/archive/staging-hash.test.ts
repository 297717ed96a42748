// Covers src/archive/staging.ts with a hashing thread: large entries hash there (right digests), and a failing entry drops its hash job.
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import tar from 'tar-stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { sha256, type Algorithm } from '../core/digest.js';
import { BerthError } from '../core/errors.js';
import { HashWorker, type Hasher } from '../core/hash-worker.js';
import { FsBlobStore } from '../storage/fs-blob-store.js';
import { stageArchive } from './staging.js';

/** A tar of regular files, built in memory with tar-stream's pack. */
async function tarOf(files: [string, Buffer][]): Promise<Buffer> {
  const pack = tar.pack();
  for (const [name, content] of files) pack.entry({ name, size: content.length }, content);
  pack.finalize();
  const out: Buffer[] = [];
  for await (const c of pack) out.push(c as Buffer);
  return Buffer.concat(out);
}

const chunks = (b: Buffer, size = 64 * 1024): Readable => {
  const parts: Buffer[] = [];
  for (let i = 0; i < b.length; i += size) parts.push(b.subarray(i, i + size));
  return Readable.from(parts);
};

describe('stageArchive with a hashing thread', () => {
  let root: string;
  let store: FsBlobStore;
  let worker: HashWorker;
  /** the sizes the staging asked the hasher for, in order */
  let asked: (number | undefined)[];
  let hasher: Hasher;

  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'berth-staging-hash-'));
    store = new FsBlobStore(root);
    worker = new HashWorker({ batchBytes: 64 * 1024, maxPendingBytes: 128 * 1024, inlineBelow: 100_000 });
    asked = [];
    hasher = {
      hash: (algorithm: Algorithm, size?: number) => {
        asked.push(size);
        return worker.hash(algorithm, size);
      },
    };
  });

  afterEach(async () => {
    await worker.close();
    await rm(root, { recursive: true, force: true });
  });

  async function stagingKeys(): Promise<string[]> {
    const keys: string[] = [];
    for await (const k of store.list('staging/')) keys.push(k);
    return keys;
  }

  const layer = randomBytes(1_000_000);
  const manifest = Buffer.from('{"schemaVersion":2}');

  it('hashes a large entry on the thread and a small one here, with the right digests (plain and gzip)', async () => {
    for (const body of [
      await tarOf([
        ['manifest.json', manifest],
        ['layer.tar', layer],
      ]),
    ]) {
      for (const bytes of [body, gzipSync(body, { level: 1 })]) {
        asked = [];
        const staged = await stageArchive(store, chunks(bytes), { hasher });
        expect(staged.files.get('layer.tar')).toMatchObject({ digest: sha256(layer), size: layer.length });
        expect(staged.files.get('manifest.json')).toMatchObject({
          digest: sha256(manifest),
          size: manifest.length,
        });
        // each entry's size is given, so that the hasher can keep the small one on this thread
        expect(asked).toEqual([manifest.length, layer.length]);
      }
    }
    expect(worker.running).toBe(true);
    expect(worker.jobsInFlight).toBe(0);
  });

  it('drops the hash job of an entry cut short by the end of the body, and keeps nothing staged', async () => {
    const whole = await tarOf([
      ['manifest.json', manifest],
      ['layer.tar', layer],
    ]);
    const e = await stageArchive(store, chunks(whole.subarray(0, 600_000)), { hasher }).catch((x) => x);
    expect(e).toBeInstanceOf(BerthError);
    expect((e as BerthError).message).toMatch(/truncated/);
    expect(asked).toEqual([manifest.length, layer.length]);
    expect(worker.jobsInFlight).toBe(0);
    expect(await stagingKeys()).toEqual([]);
  });

  it('drops the hash job of the entry being received when the client goes, and keeps nothing staged', async () => {
    const whole = await tarOf([['layer.tar', layer]]);
    const body = new PassThrough();
    const gone = new AbortController();
    let started!: () => void;
    const hashing = new Promise<void>((r) => (started = r));
    const watching: Hasher = {
      hash: (algorithm, size) => {
        const h = hasher.hash(algorithm, size);
        started();
        return h;
      },
    };
    const staging = stageArchive(store, body, { hasher: watching, signal: gone.signal }).catch((x) => x);
    body.write(whole.subarray(0, 300_000)); // the header and part of the layer; the rest never comes
    await hashing;
    expect(worker.jobsInFlight).toBe(1);
    gone.abort();
    const e = await staging;
    expect(e).toBeInstanceOf(BerthError);
    expect(worker.jobsInFlight).toBe(0);
    expect(await stagingKeys()).toEqual([]);
  });
});
