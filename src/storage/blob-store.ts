// The BlobStore interface (modelled on CNCF Distribution's storage driver) and the one place the key layout lives.
import type { Readable, Writable } from 'node:stream';
import { hexOf, type Digest } from '../core/digest.js';

export interface StoreStat {
  size: number;
  modifiedAt: Date;
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
}

export class StoreNotFoundError extends Error {
  constructor(readonly key: string) {
    super(`no object at ${key}`);
    this.name = 'StoreNotFoundError';
  }
}

/**
 * The key layout, written down once:
 *   blobs/sha256/<2 hex>/<64 hex>       content, addressed by digest (layers, configs, manifests)
 *   uploads/<id>/data                   a blob being received (push session), not yet verified
 *   staging/<id>/<n>                    entries of an archive upload being received
 *   trash/<id>/<64 hex>                 a blob cleanup is letting go of (deleted, or put back if re-claimed)
 *   probes/<id>                         a few bytes GET /readyz writes, reads back and deletes
 */
export const Keys = {
  blob: (d: Digest): string => {
    const hex = hexOf(d);
    return `blobs/sha256/${hex.slice(0, 2)}/${hex}`;
  },
  blobsRoot: 'blobs/',
  upload: (id: string): string => `uploads/${id}/data`,
  uploadDir: (id: string): string => `uploads/${id}/`,
  staging: (id: string, n: number): string => `staging/${id}/${n}`,
  stagingDir: (id: string): string => `staging/${id}/`,
  trash: (id: string, d: Digest): string => `trash/${id}/${hexOf(d)}`,
  trashDir: (id: string): string => `trash/${id}/`,
  probe: (id: string): string => `probes/${id}`,
};
