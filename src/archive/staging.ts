// Receiving an archive: the tar (plain or gzip) streams entry by entry into temporary objects, hashed on the way.
import { buffer } from 'node:stream/consumers';
import type { Duplex, Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { randomUUID } from 'node:crypto';
import { posix } from 'node:path';
import tar from 'tar-stream';
import { BerthError } from '../core/errors.js';
import type { Digest } from '../core/digest.js';
import type { Hasher } from '../core/hash-worker.js';
import type { BlobStore } from '../storage/blob-store.js';
import { Keys, receive } from '../storage/cas.js';
import { ARCHIVE_LIMITS, ByteCounter, GzipGuard, TarGuard, type ArchiveLimits } from './tar-guard.js';

export interface StagedFile {
  name: string;
  key: string;
  digest: Digest;
  size: number;
}

export interface StagedArchive {
  id: string;
  files: Map<string, StagedFile>;
  /** link entries (symbolic or hard), name → target name, both normalized archive paths */
  links: Map<string, string>;
  /** aborted when the client has gone: the readers stop their work on it (stopIfGone) */
  signal?: AbortSignal;
}

export interface StageOptions {
  /** the archive limits (default: ARCHIVE_LIMITS) */
  limits?: ArchiveLimits;
  /** aborted when the client has gone: every stage stops at once and what was staged is removed */
  signal?: AbortSignal;
  /** the hashing thread entries of 1 MiB or more are hashed on (smaller ones hash on this thread); none: all here */
  hasher?: Hasher;
}

const GUNZIP_CHUNK = 256 * 1024;

function archiveError(message: string): BerthError {
  return new BerthError('ARCHIVE_INVALID', message);
}

/** The error an upload ends with when its client has gone (nobody reads it; it names what happened in the log). */
export function clientGoneError(): BerthError {
  return archiveError('the client closed the connection before the archive upload was committed');
}

/** Throws clientGoneError() when the client has gone. */
export function stopIfGone(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw clientGoneError();
}

/** Normalizes an entry path; refuses absolute paths and `..`. Returns '' for the archive root. */
export function normalizeEntryName(raw: string): string {
  if (raw.includes('\0')) throw archiveError(`entry name ${JSON.stringify(raw)} contains a NUL byte`);
  if (raw.startsWith('/'))
    throw archiveError(`entry "${raw}" has an absolute path; archive entries must be relative`);
  const parts = raw.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.includes('..'))
    throw archiveError(`entry "${raw}" contains "..": archive entries must stay inside the archive`);
  return parts.join('/');
}

/** Resolves a link's target to a normalized archive path; refuses targets that leave the archive. */
export function resolveLinkTarget(linkName: string, target: string, symbolic: boolean): string {
  if (target.startsWith('/'))
    throw archiveError(`link "${linkName}" points to the absolute path "${target}", outside the archive`);
  const joined = symbolic ? posix.join(posix.dirname(linkName), target) : posix.normalize(target);
  const normal = posix.normalize(joined);
  if (normal === '..' || normal.startsWith('../')) {
    throw archiveError(`link "${linkName}" points to "${target}", outside the archive`);
  }
  return normal.replace(/^\.\//, '').replace(/\/$/, '');
}

/**
 * Resolves with the first `n` bytes of `body` (fewer if it ends sooner), leaving them unread in the stream, so
 * that the body can still be piped whole. The body itself is never destroyed here: a refused upload must still
 * be answered.
 */
function peek(body: Readable, n: number): Promise<{ head: Buffer; ended: boolean }> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let length = 0;
    const done = (ended: boolean) => {
      body.off('data', onData);
      body.off('end', onEnd);
      body.off('error', onError);
      body.pause();
      const all = Buffer.concat(chunks);
      if (!ended && all.length > 0) body.unshift(all);
      resolve({ head: all.subarray(0, n), ended });
    };
    const onData = (c: Buffer) => {
      chunks.push(c);
      length += c.length;
      if (length >= n) done(false);
    };
    const onEnd = () => done(true);
    const onError = (e: Error) => {
      body.off('data', onData);
      body.off('end', onEnd);
      reject(e);
    };
    body.on('data', onData);
    body.once('end', onEnd);
    body.once('error', onError);
  });
}

/**
 * Pipes the body into the tar extractor through the guard of tar metadata (tar-guard.ts), and through gunzip and
 * the guard of its output when it starts with the gzip magic number. Returns how to stop every stage at once.
 */
async function feed(body: Readable, extract: tar.Extract, opts: StageOptions): Promise<() => void> {
  const { head, ended } = await peek(body, 512);
  if (head.length === 0)
    throw archiveError('the request body is empty: send a tar archive (plain or gzip-compressed)');
  const gzip = head[0] === 0x1f && head[1] === 0x8b;
  if (ended && !gzip && head.length < 512)
    throw archiveError('the request body is not a tar archive (plain or gzip-compressed)');
  const counter = new ByteCounter();
  const limits = opts.limits ?? ARCHIVE_LIMITS;
  // gunzip works on the thread pool, one round trip per write and per output chunk: ByteCounter writes 256 KiB at a
  // time (a socket gives 64 KiB) and 256 KiB output chunks (the default is 16 KiB) take 16 times fewer of them
  const stages: Duplex[] = gzip
    ? [counter, createGunzip({ chunkSize: GUNZIP_CHUNK }), new GzipGuard(counter, limits)]
    : [];
  stages.push(new TarGuard(limits));
  const stop = () => {
    body.unpipe();
    for (const s of stages) s.destroy();
  };
  const fail = (e: Error) => {
    extract.destroy(e);
    stop();
  };
  for (const s of stages) s.once('error', fail);
  for (let i = 0; i + 1 < stages.length; i++) stages[i]!.pipe(stages[i + 1]!);
  stages.at(-1)!.pipe(extract);
  if (ended) {
    // the whole body was smaller than one tar block and is already read
    stages[0]!.end(head);
    return stop;
  }
  body.once('error', fail);
  // The client went away: every stage stops at once, whatever the parser still holds.
  const gone = () => fail(Object.assign(new Error('aborted'), { code: 'ECONNRESET' }));
  body.once('aborted', gone);
  if (opts.signal?.aborted) gone();
  else opts.signal?.addEventListener('abort', gone, { once: true });
  body.pipe(stages[0]!);
  body.resume();
  return stop;
}

function tarError(e: unknown, entries: number): BerthError {
  if (e instanceof BerthError) return e;
  const msg = (e as Error)?.message ?? String(e);
  const code = (e as NodeJS.ErrnoException)?.code;
  if (code === 'Z_DATA_ERROR' || code === 'Z_BUF_ERROR' || /unexpected end of file/i.test(msg)) {
    return archiveError(`the gzip stream is corrupt or truncated: ${msg}`);
  }
  if (/unexpected end of data/i.test(msg) || code === 'STREAM_DESTROYED') {
    return archiveError(
      `the archive is truncated: it ends in the middle of an entry (after ${entries} complete entries)`,
    );
  }
  // tar-stream: a bad checksum or magic is "Invalid tar header…"; a bad size (e.g. from a pax record) is
  // "Invalid header"; an oversized pax/GNU long-name record is "Header exceeds max size".
  if (/invalid (tar )?header|header exceeds max size/i.test(msg)) {
    return entries === 0
      ? archiveError('the request body is not a tar archive (plain or gzip-compressed)')
      : archiveError(`the archive is corrupt: an invalid tar header follows entry ${entries}`);
  }
  if (code === 'ECONNRESET' || /aborted/i.test(msg))
    return archiveError('the client closed the connection before the archive ended');
  return e as BerthError;
}

/**
 * Stages every regular file of the archive into `staging/<id>/…` and records links. Refuses absolute paths,
 * `..`, links leading outside, device files and duplicates. On failure nothing staged remains.
 */
export async function stageArchive(
  store: BlobStore,
  body: Readable,
  opts: StageOptions = {},
): Promise<StagedArchive> {
  const staged: StagedArchive = {
    id: randomUUID(),
    files: new Map(),
    links: new Map(),
    ...(opts.signal ? { signal: opts.signal } : {}),
  };
  let count = 0;
  const extract = tar.extract();
  let stop = (): void => void body.unpipe();
  try {
    stop = await feed(body, extract, opts).catch((e) => {
      throw tarError(e, 0);
    });
    try {
      for await (const entry of extract) {
        const h = entry.header;
        const name = normalizeEntryName(h.name);
        if (h.type !== 'directory' && (staged.files.has(name) || staged.links.has(name))) {
          throw archiveError(`the archive holds "${name}" twice; every entry must be unique`);
        }
        count++;
        switch (h.type) {
          case 'file':
          case 'contiguous-file': {
            const n = staged.files.size;
            const key = Keys.staging(staged.id, n);
            const got = await receive(store, key, entry as AsyncIterable<Buffer>, {
              hasher: opts.hasher,
              size: h.size,
            });
            if (got.size !== h.size) throw archiveError(`the archive is truncated inside "${name}"`);
            staged.files.set(name, { name, key, ...got });
            break;
          }
          case 'directory':
            entry.resume();
            break;
          case 'symlink':
          case 'link':
            staged.links.set(name, resolveLinkTarget(name, h.linkname ?? '', h.type === 'symlink'));
            entry.resume();
            break;
          case 'character-device':
          case 'block-device':
          case 'fifo':
            throw archiveError(
              `entry "${name}" is a ${h.type}; archives may hold only files, directories and links`,
            );
          default:
            throw archiveError(`entry "${name}" has the unsupported type ${String(h.type)}`);
        }
      }
    } catch (e) {
      throw tarError(e, count);
    }
    stopIfGone(opts.signal);
    return staged;
  } catch (e) {
    // Stop reading: what is left of the body is drained and dropped, so that the refusal can still be answered.
    stop();
    extract.destroy();
    body.resume();
    await discardStaged(store, staged);
    throw e;
  }
}

export async function discardStaged(store: BlobStore, staged: StagedArchive): Promise<void> {
  await store.deletePrefix(Keys.stagingDir(staged.id));
}

/** The file an archive path names, following links (bounded, to refuse loops). */
export function resolveFile(staged: StagedArchive, name: string): StagedFile | undefined {
  let n = name;
  for (let hops = 0; hops < 16; hops++) {
    const f = staged.files.get(n);
    if (f) return f;
    const next = staged.links.get(n);
    if (next === undefined) return undefined;
    n = next;
  }
  throw archiveError(`links starting at "${name}" form a loop or a chain too long to follow`);
}

/** Reads a small staged file (a manifest, a config, an index) into memory, refusing anything larger than `max`. */
export async function readStagedFile(
  store: BlobStore,
  file: StagedFile,
  max: number,
  what: string,
): Promise<Buffer> {
  if (file.size > max)
    throw archiveError(`${what} ("${file.name}") is ${file.size} bytes; at most ${max} are allowed`);
  return buffer(await store.reader(file.key));
}
