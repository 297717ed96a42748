// The running hash of an upload session: sha256 whose state is saved with the session, or node:crypto's for one request.
import { createHash } from 'node:crypto';
import { createSHA256, type IHasher } from 'hash-wasm';
import { LRUCache } from 'lru-cache';
import type { Algorithm, Digest } from '../core/digest.js';

/**
 * A hash being fed a session's bytes. On a store whose appended bytes are readable only once sealed (S3), a chunk
 * (PATCH) hashes with hash-wasm's sha256, whose state `save()` gives (116 bytes, base64) to keep with the session,
 * so that the next chunk, on any process, goes on from it without reading the bytes back. node:crypto hashes ~5
 * times as fast (SHA-NI; docs/benchmarks.md) but cannot export its state: it hashes what begins and ends in one
 * request (a whole blob in its final PUT or POST ?digest=), the re-hash of a session finished with another
 * algorithm (sha512), once, and every chunk on a store whose objects grow in place (files, memory), where the
 * running hash is kept by the process that took the chunk (SessionHashes) and a chunk that reaches another process
 * re-reads the bytes once (a shared filesystem: rare, and cheap next to hashing every push 5 times slower).
 */
export interface RunningHash {
  algorithm: Algorithm;
  update(b: Buffer): void;
  /** the digest's hex; the hash is done with */
  hex(): string;
  /** the state to save, or null for a hash that cannot be saved */
  save(): string | null;
}

/** A sha256 that can be saved, from `saved` (base64) or from the start; null when `saved` cannot be loaded. */
export async function resumableSha256(saved: string | null): Promise<RunningHash | null> {
  const h: IHasher = await createSHA256();
  if (saved === null) h.init();
  else {
    try {
      h.load(Buffer.from(saved, 'base64'));
    } catch {
      return null; // saved by another hash-wasm version (a rolling upgrade): the caller re-hashes
    }
  }
  return {
    algorithm: 'sha256',
    update: (b) => void h.update(b),
    hex: () => h.digest('hex'),
    save: () => Buffer.from(h.save()).toString('base64'),
  };
}

/** node:crypto's hash: fast, not saveable. */
export function oneShotHash(algorithm: Algorithm): RunningHash {
  const h = createHash(algorithm);
  return {
    algorithm,
    update: (b) => void h.update(b),
    hex: () => h.digest('hex'),
    save: () => null,
  };
}

/** Where a session's hash is: its size and saved sha256 state (null: none). */
export interface HashedSoFar {
  size: number;
  hashState: string | null;
}

/** The session's bytes from the start, when they can be read back (their object is whole). */
export type ReadBack = () => Promise<AsyncIterable<Buffer>>;

/**
 * The sha256 to go on with: the saved state, else (a session opened before states were saved, finished by a PUT
 * that failed later, or saved by another hash-wasm version) the bytes read back once, if `readBack` can; else null.
 */
export async function continueSha256(at: HashedSoFar, readBack?: ReadBack): Promise<RunningHash | null> {
  if (at.size === 0) return resumableSha256(null);
  const saved = at.hashState !== null ? await resumableSha256(at.hashState) : null;
  if (saved || !readBack) return saved;
  const fresh = (await resumableSha256(null))!;
  for await (const c of await readBack()) fresh.update(c);
  return fresh;
}

/**
 * The digest with `algorithm` of the session's bytes (sealed): from the hash that took the last bytes or the saved
 * sha256 state; finished with another algorithm than its running hash's (sha512), the session is re-hashed once.
 */
export async function finalDigest(
  algorithm: Algorithm,
  at: HashedSoFar,
  last: RunningHash | undefined,
  readBack: ReadBack,
): Promise<Digest> {
  let h = last?.algorithm === algorithm ? last : undefined;
  if (!h && algorithm === 'sha256') h = (await continueSha256(at)) ?? undefined;
  if (!h) {
    h = oneShotHash(algorithm);
    if (at.size > 0) for await (const c of await readBack()) h.update(c);
  }
  return `${algorithm}:${h.hex()}`;
}

/**
 * node:crypto running hashes of the sessions this process took the last chunk of (the last 1 000), by session and
 * size: a cache, not shared state (files and memory stores only; see RunningHash).
 */
export class SessionHashes {
  private readonly map = new LRUCache<string, { hash: RunningHash; size: number }>({ max: 1000 });
  /** The running hash of session `id` at `size` bytes, if this process holds it (with `algorithm`, if given). */
  take(id: string, size: number, algorithm?: Algorithm): RunningHash | undefined {
    const e = this.map.get(id);
    this.map.delete(id);
    return e && e.size === size && (!algorithm || e.hash.algorithm === algorithm) ? e.hash : undefined;
  }
  put(id: string, hash: RunningHash, size: number): void {
    this.map.set(id, { hash, size });
  }
  drop(id: string): void {
    this.map.delete(id);
  }
}

/** A node:crypto sha256 of the session's first bytes, read back once (none to read when `readBack` is absent). */
export async function rehashSha256(readBack?: ReadBack): Promise<RunningHash> {
  const h = oneShotHash('sha256');
  if (readBack) for await (const c of await readBack()) h.update(c);
  return h;
}
