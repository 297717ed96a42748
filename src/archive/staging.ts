// Receiving an archive: the tar (plain or gzip) streams entry by entry into temporary objects, hashed on the way.
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { randomUUID } from 'node:crypto';
import { posix } from 'node:path';
import tar from 'tar-stream';
import { BerthError } from '../core/errors.js';
import type { Digest } from '../core/digest.js';
import { Keys, type BlobStore } from '../storage/blob-store.js';
import { receive } from '../repo/blobs.js';

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
}

const MAX_ENTRIES = 100_000;

function archiveError(message: string): BerthError {
  return new BerthError('ARCHIVE_INVALID', message);
}

/** Normalizes an entry path; refuses absolute paths and `..`. Returns '' for the archive root. */
export function normalizeEntryName(raw: string): string {
  if (raw.includes('\0')) throw archiveError(`entry name ${JSON.stringify(raw)} contains a NUL byte`);
  if (raw.startsWith('/')) throw archiveError(`entry "${raw}" has an absolute path; archive entries must be relative`);
  const parts = raw.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.includes('..')) throw archiveError(`entry "${raw}" contains "..": archive entries must stay inside the archive`);
  return parts.join('/');
}

/** Resolves a link's target to a normalized archive path; refuses targets that leave the archive. */
export function resolveLinkTarget(linkName: string, target: string, symbolic: boolean): string {
  if (target.startsWith('/')) throw archiveError(`link "${linkName}" points to the absolute path "${target}", outside the archive`);
  const joined = symbolic ? posix.join(posix.dirname(linkName), target) : posix.normalize(target);
  const normal = posix.normalize(joined);
  if (normal === '..' || normal.startsWith('../')) {
    throw archiveError(`link "${linkName}" points to "${target}", outside the archive`);
  }
  return normal.replace(/^\.\//, '').replace(/\/$/, '');
}

/** Yields the body bytes, un-gzipped when they start with the gzip magic number. */
async function tarBytes(body: Readable): Promise<Readable> {
  const it = body[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  const head: Buffer[] = [];
  let length = 0;
  let ended = false;
  while (length < 2) {
    const r = await it.next();
    if (r.done) {
      ended = true;
      break;
    }
    const chunk = Buffer.isBuffer(r.value) ? r.value : Buffer.from(r.value);
    head.push(chunk);
    length += chunk.length;
  }
  const first = Buffer.concat(head);
  if (first.length === 0) throw archiveError('the request body is empty: send a tar archive (plain or gzip-compressed)');
  async function* rest(): AsyncGenerator<Buffer> {
    try {
      yield first;
      if (ended) return;
      for (;;) {
        const r = await it.next();
        if (r.done) return;
        yield r.value;
      }
    } finally {
      await it.return?.();
    }
  }
  const raw = Readable.from(rest(), { objectMode: false });
  if (first[0] === 0x1f && first[1] === 0x8b) {
    const gunzip = createGunzip();
    raw.on('error', (e) => gunzip.destroy(e));
    raw.pipe(gunzip);
    return gunzip;
  }
  return raw;
}

function tarError(e: unknown, entries: number): BerthError {
  if (e instanceof BerthError) return e;
  const msg = (e as Error)?.message ?? String(e);
  const code = (e as NodeJS.ErrnoException)?.code;
  if (code === 'Z_DATA_ERROR' || code === 'Z_BUF_ERROR' || /unexpected end of file/i.test(msg)) {
    return archiveError(`the gzip stream is corrupt or truncated: ${msg}`);
  }
  if (/unexpected end of data/i.test(msg)) {
    return archiveError(`the archive is truncated: it ends in the middle of an entry (after ${entries} complete entries)`);
  }
  if (/invalid tar header/i.test(msg)) {
    return entries === 0
      ? archiveError('the request body is not a tar archive (plain or gzip-compressed)')
      : archiveError(`the archive is corrupt: an invalid tar header follows entry ${entries}`);
  }
  if (code === 'ECONNRESET' || /aborted/i.test(msg)) return archiveError('the client closed the connection before the archive ended');
  return e as BerthError;
}

/**
 * Stages every regular file of the archive into `staging/<id>/…` and records links. Refuses absolute paths,
 * `..`, links leading outside, device files and duplicates. On failure nothing staged remains.
 */
export async function stageArchive(store: BlobStore, body: Readable): Promise<StagedArchive> {
  const staged: StagedArchive = { id: randomUUID(), files: new Map(), links: new Map() };
  let count = 0;
  try {
    const bytes = await tarBytes(body).catch((e) => {
      throw tarError(e, 0);
    });
    const extract = tar.extract();
    const feeding = pipeline(bytes, extract);
    feeding.catch(() => undefined); // reported through the entry loop below
    try {
      for await (const entry of extract) {
        const h = entry.header;
        const name = normalizeEntryName(h.name);
        if (h.type !== 'directory' && (staged.files.has(name) || staged.links.has(name))) {
          throw archiveError(`the archive holds "${name}" twice; every entry must be unique`);
        }
        if (++count > MAX_ENTRIES) throw archiveError(`the archive has more than ${MAX_ENTRIES} entries`);
        switch (h.type) {
          case 'file':
          case 'contiguous-file': {
            const n = staged.files.size;
            const key = Keys.staging(staged.id, n);
            const got = await receive(store, key, entry as AsyncIterable<Buffer>);
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
            throw archiveError(`entry "${name}" is a ${h.type}; archives may hold only files, directories and links`);
          default:
            throw archiveError(`entry "${name}" has the unsupported type ${String(h.type)}`);
        }
      }
    } catch (e) {
      extract.destroy();
      throw tarError(e, count);
    }
    await feeding.catch((e) => {
      throw tarError(e, count);
    });
    return staged;
  } catch (e) {
    body.destroy();
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
export async function readStagedFile(store: BlobStore, file: StagedFile, max: number, what: string): Promise<Buffer> {
  if (file.size > max) throw archiveError(`${what} ("${file.name}") is ${file.size} bytes; at most ${max} are allowed`);
  const chunks: Buffer[] = [];
  for await (const c of await store.reader(file.key)) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}
