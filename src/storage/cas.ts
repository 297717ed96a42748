// Content-addressed storage over a BlobStore: the key layout, written down once, and blobs in and out by digest.
import { buffer } from 'node:stream/consumers';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { algorithmOf, DigestCounter, hexOf, type Algorithm, type Digest } from '../core/digest.js';
import { configDiffIds, type Descriptor } from '../core/manifests.js';
import { MediaTypes } from '../core/media-types.js';
import { StoreNotFoundError, type BlobStore } from './blob-store.js';

/**
 * The key layout, written down once:
 *   blobs/sha256/<2 hex>/<64 hex>       content, addressed by digest (layers, configs, manifests)
 *   blobs/sha512/<2 hex>/<128 hex>      the same for sha512 digests (<2 hex>: the first two of the digest's hex)
 *   objects/<2 chars>/<id>/data         the bytes of upload session <id> (<2 chars>: the first two of the id),
 *                                       written where they stay: once the digest is verified, the blob row maps
 *                                       the digest to this key (blobs.object_key), and the object never moves;
 *                                       its folder objects/<2 chars>/<id>/ also holds what a store keeps while
 *                                       the session appends (S3: the tail, the multipart upload), and goes whole
 *                                       with a session that never finished
 *   uploads/<id>/                       the session's other state (none today; a multipart upload's), swept
 *                                       with the session; never the bytes a row maps
 *   staging/<id>/<n>                    entries of an archive upload being received; staging/<id>/0 is also
 *                                       a blob being fetched from a remote (on demand), not yet verified
 *   staging/<id>/written-<n>            a manifest an archive import made itself, before it moves into blobs/
 *   trash/<id>/<64 or 128 hex>          a blob cleanup is letting go of (deleted, or put back if re-claimed);
 *                                       the length of the hex tells the algorithm (64: sha256, 128: sha512)
 *   probes/<id>                         a few bytes GET /readyz writes, reads back and deletes
 */
export const Keys = {
  blob: (d: Digest): string => {
    const hex = hexOf(d);
    return `blobs/${algorithmOf(d)}/${hex.slice(0, 2)}/${hex}`;
  },
  blobsRoot: 'blobs/',
  /** where an upload session's bytes are written and, once verified, stay (outside its folder uploadDir) */
  upload: (id: string): string => `${Keys.objectDir(id)}data`,
  objectDir: (id: string): string => `objects/${id.slice(0, 2)}/${id}/`,
  objectsRoot: 'objects/',
  uploadDir: (id: string): string => `uploads/${id}/`,
  staging: (id: string, n: number): string => `staging/${id}/${n}`,
  stagingDir: (id: string): string => `staging/${id}/`,
  trash: (id: string, d: Digest): string => `trash/${id}/${hexOf(d)}`,
  trashDir: (id: string): string => `trash/${id}/`,
  probe: (id: string): string => `probes/${id}`,
};

export interface Received {
  digest: Digest;
  size: number;
}

/**
 * Streams `source` into the store at `key`, hashing as it goes with `algorithm` (sha256 unless told). On any
 * error the partial object is deleted.
 */
export async function receive(
  store: BlobStore,
  key: string,
  source: Readable | AsyncIterable<Buffer> | Iterable<Buffer>,
  algorithm: Algorithm = 'sha256',
): Promise<Received> {
  const counter = new DigestCounter(algorithm);
  const hashing = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      counter.update(chunk);
      cb(null, chunk);
    },
  });
  const sink = await store.writer(key);
  // Streams of other libraries (tar-stream's entries) are read through their async iterator.
  const input = source instanceof Readable || Array.isArray(source) ? source : Readable.from(source);
  try {
    await pipeline(input, hashing, sink);
  } catch (e) {
    sink.destroy();
    await store.delete(key);
    throw e;
  }
  return { digest: counter.digest(), size: counter.size };
}

/** The id of the upload session whose folder objects/<2 chars>/<id>/ holds `key`, if it is one. */
export function objectIdOf(key: string): string | undefined {
  const m = /^objects\/([^/]{1,2})\/([^/]+)\/[^/]+$/.exec(key);
  return m && m[2]!.startsWith(m[1]!) ? m[2] : undefined;
}

/** The key of a blob's bytes, given its row's object_key: that object, or its content address (null). */
export const storedKey = (digest: Digest, objectKey: string | null | undefined): string =>
  objectKey ?? Keys.blob(digest);

/** Where a blob's bytes are, through its row (its content address when it has none): see gc/blob-objects.ts. */
export type Locate = (digest: Digest) => Promise<string>;

/** Moves a verified temporary object to its content address. */
export async function promote(store: BlobStore, tempKey: string, digest: Digest): Promise<void> {
  await store.move(tempKey, Keys.blob(digest));
}

/** Reads a small stored blob (a config) whole, or undefined when it is larger than `max` or absent. */
export async function readSmallBlob(
  store: BlobStore,
  locate: Locate,
  digest: Digest,
  max: number,
): Promise<Buffer | undefined> {
  const key = await locate(digest);
  const st = await store.stat(key);
  if (!st || st.size > max) return undefined;
  try {
    return await buffer(await store.reader(key));
  } catch (e) {
    // gone since the stat (cleanup took it): as if absent; a commit relying on it re-checks it under its lock
    if (e instanceof StoreNotFoundError) return undefined;
    throw e;
  }
}

const MAX_CONFIG_BYTES = 8 * 1024 * 1024;

/** The diff IDs of an image manifest's layers, from its stored config; none for other manifests. */
export async function storedDiffIds(
  store: BlobStore,
  locate: Locate,
  config: Descriptor | undefined,
): Promise<Digest[] | undefined> {
  if (
    !config ||
    (config.mediaType !== MediaTypes.ociConfig && config.mediaType !== MediaTypes.dockerConfig)
  ) {
    return undefined;
  }
  const bytes = await readSmallBlob(store, locate, config.digest, MAX_CONFIG_BYTES);
  try {
    return bytes && configDiffIds(bytes);
  } catch {
    return undefined; // a config that is not an image config: nothing to learn
  }
}
