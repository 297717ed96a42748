// The BlobStore port (modelled on CNCF Distribution's storage driver): plain keys and bytes; the layout is in cas.ts.
import type { Readable, Writable } from 'node:stream';

export interface StoreStat {
  size: number;
  modifiedAt: Date;
}

/** An object as a listing gives it: its key, size and time (no request per object). */
export interface StoreEntry extends StoreStat {
  key: string;
}

/** A byte range, both ends inclusive, as in HTTP. */
export interface ByteRange {
  start: number;
  end: number;
}

/**
 * A flat store of byte objects under slash-separated keys. It knows nothing of digests, locking, dedupe or
 * cleanup: callers decide what to write where and when to delete.
 */
export interface BlobStore {
  /** Size and time of the object at `key`, or null when there is none. */
  stat(key: string): Promise<StoreStat | null>;
  /** A stream of the object's bytes, or of `range` of them. Throws a NotFound error when absent. */
  reader(key: string, range?: ByteRange): Promise<Readable>;
  /**
   * A writable stream that creates (or replaces) the object at `key`; with `offset`, one that continues an
   * existing object at that byte, dropping whatever it held from there on (a resumed upload).
   */
  writer(key: string, opts?: { offset?: number }): Promise<Writable>;
  /** Moves an object to a new key, replacing what is there, atomically where the backend can. */
  move(from: string, to: string): Promise<void>;
  /** Deletes the object at `key`; deleting what is not there is not an error. */
  delete(key: string): Promise<void>;
  /** Deletes every object under `prefix` (a "folder"). */
  deletePrefix(prefix: string): Promise<void>;
  /** Keys of the objects under `prefix`, recursively. */
  list(prefix: string): AsyncIterable<string>;
  /**
   * The objects under `prefix`, recursively, with their sizes and times as the backend's listing gives them (S3:
   * ListObjectsV2 pages, no HEAD per object), in the byte order of their keys (`compareKeys`), as S3 lists them.
   */
  entries(prefix: string): AsyncIterable<StoreEntry>;
  /**
   * Writes under `prefix` begun but never finished that `list` does not show (S3: incomplete multipart uploads of
   * a writer whose process died), with when each began; `deletePrefix` of their folder removes them. Stores whose
   * unfinished writes are plain objects (files, memory) yield none.
   */
  unfinished(prefix: string): AsyncIterable<{ key: string; startedAt: Date }>;
  /**
   * A writable stream that appends to an object built across requests and processes (a chunked upload): the
   * object at `key` holds `size` bytes as `state` says (null at first; then what the last appender's `appended()`
   * gave, kept by the caller with its session). Bytes past `size` (of an append that failed) are dropped. What an
   * appender keeps between appends lives in the store, under `key`'s folder, never in this process. Until `seal`, the
   * object at `key` may not show the appended bytes (S3: they are parts of one multipart upload and a tail object).
   */
  appender(key: string, size: number, state: AppendState): Promise<Appender>;
  /** Makes the bytes appended so far (`size`, as `state` says) the object at `key`. Done again, it does nothing. */
  seal(key: string, size: number, state: AppendState): Promise<void>;
  /**
   * True when an object being appended to grows in place and can be read back at any time (files, memory: the
   * state is always null); false when its bytes are readable only once sealed (S3).
   */
  readonly appendsInPlace: boolean;
  /**
   * The path of the local file that holds the object at `key` (the files store), for a caller that sends its bytes
   * with sendfile(2); absent on stores whose objects are not local files. Whether the file is there is found by
   * opening it (then the bytes are held however the object changes); the store keeps no account of it.
   */
  fileFor?(key: string): string;
}

/** What a store keeps of an object being appended to, between appends: opaque to callers (S3: JSON; else null). */
export type AppendState = string | null;

/** A writer of `appender`: once it has finished, `appended()` is the state to give the next appender. */
export interface Appender extends Writable {
  appended(): AppendState;
}

/** An appender of a store whose objects grow in place (files, memory): a writer at the offset, with no state. */
export function inPlaceAppender(w: Writable): Appender {
  return Object.assign(w, { appended: (): AppendState => null });
}

export class StoreNotFoundError extends Error {
  constructor(readonly key: string) {
    super(`no object at ${key}`);
    this.name = 'StoreNotFoundError';
  }
}

/** Throws unless `key` is a store key: slash-separated segments, none of them empty or "..". */
export function assertStoreKey(key: string): void {
  if (key.split('/').some((p) => p === '..' || p === '')) throw new Error(`bad store key ${key}`);
}

/** The order of `entries`: keys compared as UTF-8 bytes (S3's listing order). */
export function compareKeys(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}
