// The in-memory BlobStore: each object is the list of chunks written to it, for tests and throwaway instances.
import { Readable, Writable } from 'node:stream';
import {
  assertStoreKey,
  compareKeys,
  StoreNotFoundError,
  inPlaceAppender,
  type Appender,
  type AppendState,
  type BlobStore,
  type ByteRange,
  type StoreEntry,
  type StoreStat,
} from './blob-store.js';

/** An object: the chunks written to it, in order (copies, so that a writer may reuse its buffers). */
interface StoredObject {
  chunks: Buffer[];
  size: number;
  modifiedAt: Date;
}

/** Drops everything from byte `offset` on. */
function truncate(o: StoredObject, offset: number): void {
  let kept = 0;
  const chunks: Buffer[] = [];
  for (const c of o.chunks) {
    if (kept >= offset) break;
    const part = c.subarray(0, Math.min(c.length, offset - kept));
    chunks.push(part);
    kept += part.length;
  }
  o.chunks = chunks;
  o.size = kept;
  o.modifiedAt = new Date();
}

/** The parts of `chunks` from byte `start` to byte `end` (inclusive), as views of the stored ones. */
function* slices(chunks: readonly Buffer[], start: number, end: number): Generator<Buffer> {
  let at = 0;
  for (const c of chunks) {
    const from = Math.max(start - at, 0);
    const to = Math.min(end + 1 - at, c.length);
    if (to > from) yield c.subarray(from, to);
    at += c.length;
    if (at > end) return;
  }
}

/**
 * Objects live in a Map, as in the filesystem store they live in files: an object exists from the moment its
 * writer is made, grows as it is written, and a writer keeps writing to its object when it is moved or replaced.
 */
export class MemoryBlobStore implements BlobStore {
  readonly appendsInPlace = true;
  private readonly objects = new Map<string, StoredObject>();

  async stat(key: string): Promise<StoreStat | null> {
    assertStoreKey(key);
    const o = this.objects.get(key);
    return o ? { size: o.size, modifiedAt: o.modifiedAt } : null;
  }

  async reader(key: string, range?: ByteRange): Promise<Readable> {
    assertStoreKey(key);
    const o = this.objects.get(key);
    if (!o) throw new StoreNotFoundError(key);
    const chunks = [...o.chunks];
    const end = Math.min(range?.end ?? o.size - 1, o.size - 1);
    return Readable.from(slices(chunks, range?.start ?? 0, end), { objectMode: false });
  }

  async writer(key: string, opts: { offset?: number } = {}): Promise<Writable> {
    assertStoreKey(key);
    const offset = opts.offset ?? 0;
    let o: StoredObject;
    if (offset === 0) {
      o = { chunks: [], size: 0, modifiedAt: new Date() };
      this.objects.set(key, o);
    } else {
      const existing = this.objects.get(key);
      if (!existing) throw new StoreNotFoundError(key);
      truncate(existing, offset);
      o = existing;
    }
    return new Writable({
      write(chunk: Buffer, _enc, cb) {
        o.chunks.push(Buffer.from(chunk));
        o.size += chunk.length;
        o.modifiedAt = new Date();
        cb();
      },
    });
  }

  /** The object grows in place: a writer at `size` (which drops what a failed append left past it). */
  async appender(key: string, size: number, _state: AppendState): Promise<Appender> {
    if (size === 0 && !(await this.stat(key))) throw new StoreNotFoundError(key);
    return inPlaceAppender(await this.writer(key, { offset: size }));
  }

  /** Appended bytes are in the object already. */
  async seal(key: string, _size: number, _state: AppendState): Promise<void> {
    assertStoreKey(key);
  }

  async move(from: string, to: string): Promise<void> {
    assertStoreKey(from);
    assertStoreKey(to);
    const o = this.objects.get(from);
    if (!o) throw new StoreNotFoundError(from);
    this.objects.delete(from);
    this.objects.set(to, o);
  }

  async delete(key: string): Promise<void> {
    assertStoreKey(key);
    this.objects.delete(key);
  }

  async deletePrefix(prefix: string): Promise<void> {
    const p = prefix.replace(/\/+$/, '');
    assertStoreKey(p);
    for (const key of [...this.objects.keys()]) {
      if (key === p || key.startsWith(`${p}/`)) this.objects.delete(key);
    }
  }

  async *list(prefix: string): AsyncIterable<string> {
    const p = prefix.replace(/\/+$/, '');
    if (p !== '') assertStoreKey(p);
    for (const key of [...this.objects.keys()]) {
      if (p === '' || key.startsWith(`${p}/`)) yield key;
    }
  }

  async *entries(prefix: string): AsyncIterable<StoreEntry> {
    const p = prefix.replace(/\/+$/, '');
    if (p !== '') assertStoreKey(p);
    const keys = [...this.objects.keys()].filter((k) => p === '' || k.startsWith(`${p}/`)).sort(compareKeys);
    for (const key of keys) {
      const o = this.objects.get(key);
      if (o) yield { key, size: o.size, modifiedAt: o.modifiedAt };
    }
  }

  /** A half-written object is a plain object here, found by `list`: nothing is hidden. */
  // eslint-disable-next-line require-yield
  async *unfinished(prefix: string): AsyncIterable<{ key: string; startedAt: Date }> {
    if (prefix.replace(/\/+$/, '') !== '') assertStoreKey(prefix.replace(/\/+$/, ''));
  }
}
