// The filesystem BlobStore: objects are files under a root folder (callers write to a temporary key and move).
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readdir, rename, rm, stat, truncate, unlink } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';
import type { Readable, Writable } from 'node:stream';
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

const isNotFound = (e: unknown): boolean => (e as NodeJS.ErrnoException)?.code === 'ENOENT';

/**
 * Writers buffer up to 2 MiB (the default is 16 KiB): while one write is in flight, the 64 KiB chunks a socket
 * delivers gather and go down in one writev, and the source is not paused and resumed after every chunk (what it
 * saves: docs/benchmarks.md, "Why the code is as it is"). At most 2 MiB per writer: twice the batch that
 * storage/cas.ts gathers, so that one batch can wait while the other is written.
 */
const WRITE_BUFFER = 2 * 1024 * 1024;
const READ_CHUNK = 1024 * 1024;

export class FsBlobStore implements BlobStore {
  readonly appendsInPlace = true;
  constructor(readonly root: string) {}

  private path(key: string): string {
    assertStoreKey(key);
    return join(this.root, ...key.split('/'));
  }

  fileFor(key: string): string {
    return this.path(key);
  }

  async stat(key: string): Promise<StoreStat | null> {
    try {
      const s = await stat(this.path(key));
      return s.isFile() ? { size: s.size, modifiedAt: s.mtime } : null;
    } catch (e) {
      if (isNotFound(e)) return null;
      throw e;
    }
  }

  async reader(key: string, range?: ByteRange): Promise<Readable> {
    const path = this.path(key);
    // Open first so that a missing file is reported here, not as a stream error after headers went out.
    // A range's length is known: it is read in chunks of up to 1 MiB (fewer reads and socket writes for a large
    // blob), and a small one in one read of its exact size.
    const stream = createReadStream(
      path,
      range
        ? {
            start: range.start,
            end: range.end,
            highWaterMark: Math.max(1, Math.min(READ_CHUNK, range.end - range.start + 1)),
          }
        : {},
    );
    await new Promise<void>((resolve, reject) => {
      stream.once('open', () => resolve());
      stream.once('error', (e) => reject(isNotFound(e) ? new StoreNotFoundError(key) : e));
    });
    return stream;
  }

  async writer(key: string, opts: { offset?: number } = {}): Promise<Writable> {
    const path = this.path(key);
    await mkdir(dirname(path), { recursive: true });
    const offset = opts.offset ?? 0;
    if (offset === 0) return createWriteStream(path, { highWaterMark: WRITE_BUFFER });
    try {
      await truncate(path, offset);
    } catch (e) {
      if (isNotFound(e)) throw new StoreNotFoundError(key);
      throw e;
    }
    return createWriteStream(path, { flags: 'r+', start: offset, highWaterMark: WRITE_BUFFER });
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
    const dest = this.path(to);
    await mkdir(dirname(dest), { recursive: true });
    try {
      await rename(this.path(from), dest);
    } catch (e) {
      if (isNotFound(e)) throw new StoreNotFoundError(from);
      throw e;
    }
  }

  async delete(key: string): Promise<void> {
    try {
      await unlink(this.path(key));
    } catch (e) {
      if (!isNotFound(e)) throw e;
    }
  }

  async deletePrefix(prefix: string): Promise<void> {
    const p = prefix.replace(/\/+$/, '');
    await rm(this.path(p), { recursive: true, force: true });
  }

  async *list(prefix: string): AsyncIterable<string> {
    const start = this.path(prefix.replace(/\/+$/, '') || '.');
    const walk = async function* (dir: string, root: string): AsyncIterable<string> {
      let entries;
      try {
        entries = await readdir(dir, { withFileTypes: true });
      } catch (e) {
        if (isNotFound(e)) return;
        throw e;
      }
      for (const ent of entries) {
        const full = join(dir, ent.name);
        if (ent.isDirectory()) yield* walk(full, root);
        else if (ent.isFile()) yield relative(root, full).split(sep).join('/');
      }
    };
    yield* walk(start, this.root);
  }

  /**
   * A walk that reads each folder's names sorted as the keys under them sort (a folder's name with its slash), so
   * that keys come in byte order; one stat per file (a file's size is not in its folder).
   */
  async *entries(prefix: string): AsyncIterable<StoreEntry> {
    const p = prefix.replace(/\/+$/, '');
    const walk = async function* (dir: string, key: string): AsyncIterable<StoreEntry> {
      let ents;
      try {
        ents = await readdir(dir, { withFileTypes: true });
      } catch (e) {
        if (isNotFound(e) || (e as NodeJS.ErrnoException)?.code === 'ENOTDIR') return;
        throw e;
      }
      const named = ents
        .filter((e) => e.isDirectory() || e.isFile())
        .map((e) => ({ e, sortKey: e.isDirectory() ? `${e.name}/` : e.name }))
        .sort((a, b) => compareKeys(a.sortKey, b.sortKey));
      for (const { e } of named) {
        const full = join(dir, e.name);
        const k = key === '' ? e.name : `${key}/${e.name}`;
        if (e.isDirectory()) {
          yield* walk(full, k);
          continue;
        }
        try {
          const st = await stat(full);
          yield { key: k, size: st.size, modifiedAt: st.mtime };
        } catch (err) {
          if (!isNotFound(err)) throw err; // else removed since its folder was read
        }
      }
    };
    yield* walk(this.path(p || '.'), p);
  }

  /** A half-written object is a plain object here, found by `list`: nothing is hidden. */
  // eslint-disable-next-line require-yield
  async *unfinished(prefix: string): AsyncIterable<{ key: string; startedAt: Date }> {
    if (prefix.replace(/\/+$/, '') !== '') assertStoreKey(prefix.replace(/\/+$/, ''));
  }
}
