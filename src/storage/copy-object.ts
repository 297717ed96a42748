// Copying one object from a store to another, streaming, checked for size (and digest) before it is kept.
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { algorithmOf, DigestCounter, type Digest } from '../core/digest.js';
import type { BlobStore } from './blob-store.js';

/** The bytes of a copy were not those expected: the destination kept nothing of them. */
export class CopyMismatchError extends Error {
  constructor(
    readonly key: string,
    readonly problem: 'size' | 'digest',
    message: string,
  ) {
    super(message);
    this.name = 'CopyMismatchError';
  }
}

export interface Expected {
  size: number;
  /** checked too when given (the bytes are hashed as they pass) */
  digest?: Digest;
}

/** Told of the bytes as they pass (progress). */
export type OnBytes = (n: number) => void;

/** A pass-through that counts (and hashes) the bytes, and fails before their end when they are not `want`. */
function checker(key: string, want: Expected, onBytes?: OnBytes): Transform {
  const counter = want.digest ? new DigestCounter(algorithmOf(want.digest)) : undefined;
  let size = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      size += chunk.length;
      if (size > want.size) {
        return cb(
          new CopyMismatchError(key, 'size', `${key} holds more than the ${want.size} bytes of its row`),
        );
      }
      counter?.update(chunk);
      onBytes?.(chunk.length);
      cb(null, chunk);
    },
    flush(cb) {
      if (size !== want.size) {
        return cb(
          new CopyMismatchError(key, 'size', `${key} holds ${size} bytes, its row says ${want.size}`),
        );
      }
      const got = counter?.digest();
      if (got !== undefined && got !== want.digest) {
        return cb(new CopyMismatchError(key, 'digest', `${key} hashes to ${got}, not ${want.digest}`));
      }
      cb();
    },
  });
}

/**
 * Streams the object at `key` of `from` into `to` at the same key. The checks end before the writer does: bytes
 * of the wrong size (or digest) fail the copy and the writer is destroyed unfinished, so the destination keeps
 * what it held (on S3 the multipart upload is aborted; this waits until it is) — a property of S3's writers, not
 * of the files store's, which is why `to` is an S3 store where this is used. A missing source is the reader's
 * StoreNotFoundError, before anything is written.
 */
export async function copyObject(
  from: BlobStore,
  to: BlobStore,
  key: string,
  want: Expected,
  onBytes?: OnBytes,
): Promise<void> {
  const source = await from.reader(key);
  const sink = await to.writer(key);
  try {
    await pipeline(source, checker(key, want, onBytes), sink);
  } catch (e) {
    source.destroy();
    if (!sink.closed) {
      const closed = new Promise((resolve) => sink.once('close', resolve));
      sink.destroy();
      await closed;
    }
    throw e;
  }
}

/** Whether the object at `key` has exactly the expected bytes (read whole and hashed when a digest is given). */
export async function holds(store: BlobStore, key: string, want: Expected): Promise<boolean> {
  const st = await store.stat(key);
  if (!st || st.size !== want.size) return false;
  if (!want.digest) return true;
  const counter = new DigestCounter(algorithmOf(want.digest));
  for await (const c of await store.reader(key)) counter.update(c as Buffer);
  return counter.size === want.size && counter.digest() === want.digest;
}
