// Content-addressed storage over a BlobStore: the key layout, written down once, and blobs in and out by digest.
import { buffer } from 'node:stream/consumers';
import type { Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { algorithmOf, hexOf, type Algorithm, type Digest } from '../core/digest.js';
import { inlineHash, type Hasher, type StreamHash } from '../core/hash-worker.js';
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

export interface ReceiveOptions {
  /** the digest's algorithm (default sha256) */
  algorithm?: Algorithm;
  /** a hashing thread (core/hash-worker.ts): the bytes are hashed there while this thread receives and writes */
  hasher?: Hasher;
  /** the size the source should have, when known: lets the hasher hash a small source on this thread */
  size?: number;
}

/**
 * Streams `source` into the store at `key`, hashing as it goes (on `opts.hasher`'s thread when given). One loop
 * over the source's chunks: each goes to the hash and to the store's writer, waiting only when the writer asks
 * for room or the hashing thread lags. On any error the hash is dropped and the partial object is deleted.
 */
export async function receive(
  store: BlobStore,
  key: string,
  source: AsyncIterable<Buffer> | Iterable<Buffer>,
  opts: ReceiveOptions = {},
): Promise<Received> {
  const algorithm = opts.algorithm ?? 'sha256';
  const hash = opts.hasher ? opts.hasher.hash(algorithm, opts.size) : inlineHash(algorithm);
  let sink: Writable;
  try {
    sink = await store.writer(key);
  } catch (e) {
    hash.abort();
    throw e;
  }
  try {
    await writeAll(source, hash, sink);
    return { digest: await hash.digest(), size: hash.size };
  } catch (e) {
    hash.abort();
    sink.destroy();
    await store.delete(key);
    throw e;
  }
}

/**
 * The writer is corked while this many bytes gather: they go down in one writev, not one write (and one thread-pool
 * round trip on files) per chunk of the source — a socket's are 64 KiB or less. Under the files' 2 MiB buffer. On a
 * virtual machine each hand-over to another thread costs the event loop about 50 µs (the wake-up of a sleeping vCPU):
 * 1 MiB rather than 512 KiB took a 1 GiB upload's from 2 048 writevs to 1 024.
 */
const WRITE_BATCH = 1024 * 1024;

/** Writes every chunk of `source` to the hash and to `sink`, then ends `sink` and waits until it has finished. */
async function writeAll(
  source: AsyncIterable<Buffer> | Iterable<Buffer>,
  hash: StreamHash,
  sink: Writable,
): Promise<void> {
  let failed: Error | undefined;
  // An error of the writer between two waits is kept and thrown at the next chunk (or at the end). The listener
  // stays: a writer destroyed with a write in flight still reports that write's failure afterwards.
  sink.on('error', (e: Error) => void (failed ??= e));
  let corked = 0;
  sink.cork();
  for await (const chunk of source) {
    if (failed) throw failed;
    const lag = hash.update(chunk);
    const room = sink.write(chunk);
    corked += chunk.length;
    // uncorked before any wait for room: corked bytes are never written, so no 'drain' would come
    if (!room || corked >= WRITE_BATCH) {
      sink.uncork();
      corked = 0;
      if (!room) await drained(sink);
      sink.cork();
    }
    if (lag) await lag;
  }
  if (failed) throw failed;
  sink.uncork();
  sink.end();
  await finished(sink);
}

/** Resolves when `sink` has room again; rejects when it fails or closes first. */
function drained(sink: Writable): Promise<void> {
  return new Promise((resolve, reject) => {
    const settle = (e?: Error) => {
      sink.off('drain', onDrain);
      sink.off('error', settle);
      sink.off('close', onClose);
      if (e) reject(e);
      else resolve();
    };
    const onDrain = () => settle();
    const onClose = () => settle(new Error('the writer closed before its end'));
    sink.on('drain', onDrain);
    sink.once('error', settle);
    sink.once('close', onClose);
  });
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

/**
 * Moves a verified temporary object to its content address. When the address holds the blob already, that object
 * stays (the same digest: the same bytes) and the temporary one is deleted: replacing it would make the store let
 * go of the old object within the move (ext4: 0.2 s per 256 MiB file, inside rename) or, on S3, copy every byte.
 * Callers hold a claim on the digest (gc/claims.ts), so cleanup, which re-checks claims before it deletes a file it
 * moved aside, puts back an object it was letting go of while this relied on it.
 */
export async function promote(store: BlobStore, tempKey: string, digest: Digest): Promise<void> {
  const key = Keys.blob(digest);
  if (await store.stat(key)) await store.delete(tempKey);
  else await store.move(tempKey, key);
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
