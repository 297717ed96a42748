// An archive given as a tar file (maybe gzip-compressed): scanning it, and streaming it whole or with entries left out.
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { Readable, Transform } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import tar, { type ExtractEvents } from 'tar-stream';
import {
  looksLikeJson,
  MAX_JSON_BYTES,
  normalizeName,
  type ArchiveEntry,
  type ArchiveView,
} from '../archive/layer-refs.js';

export interface TarFile {
  path: string;
  size: number;
  gzip: boolean;
}

type TarEntry = ExtractEvents['entry'][1];

export type ByteCounter = (n: number) => void;

/** A pass-through that reports the bytes flowing through it. */
export function countBytes(onBytes: ByteCounter): Transform {
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      onBytes(chunk.length);
      cb(null, chunk);
    },
  });
}

export async function isGzip(path: string): Promise<boolean> {
  const fh = await open(path, 'r');
  try {
    const { buffer: magic, bytesRead } = await fh.read(Buffer.alloc(2), 0, 2, 0);
    return bytesRead === 2 && magic[0] === 0x1f && magic[1] === 0x8b;
  } finally {
    await fh.close();
  }
}

/** The file's bytes as they are on disk (no decompression), for an upload that leaves nothing out. */
export function rawTar(file: TarFile, onBytes: ByteCounter = () => {}): Readable {
  return createReadStream(file.path).pipe(countBytes(onBytes));
}

/**
 * Calls `onEntry` for each entry of the tar in turn, decompressing if needed; `onBytes` counts the bytes read
 * from disk. A damaged file is reported as such, naming it.
 */
async function forEachEntry(
  file: TarFile,
  onEntry: (e: TarEntry) => Promise<void>,
  onBytes: ByteCounter = () => {},
) {
  const extract = tar.extract();
  const stages = [createReadStream(file.path), countBytes(onBytes), ...(file.gzip ? [createGunzip()] : [])];
  const feeding = pipeline([...stages, extract]);
  feeding.catch(() => {}); // surfaced by the await below, or by the iteration failing
  try {
    for await (const entry of extract) await onEntry(entry);
    await feeding;
  } catch (e) {
    const what = `${file.gzip ? 'gzip-compressed ' : ''}tar archive`;
    throw new Error(`${file.path} is not a readable ${what}: ${(e as Error).message}`);
  }
}

/** Pass 1: lists every entry and keeps only the small JSON files (manifests, indexes, configs) in memory. */
export async function scanTar(file: TarFile): Promise<ArchiveView> {
  const entries = new Map<string, ArchiveEntry>();
  const json = new Map<string, Buffer>();
  await forEachEntry(file, async (entry) => {
    const h = entry.header;
    const name = normalizeName(h.name);
    const type =
      h.type === 'file' || h.type === 'contiguous-file' ? 'file' : h.type === 'symlink' ? 'symlink' : 'other';
    const size = h.size ?? 0;
    if (name) entries.set(name, { name, type, size, ...(h.linkname ? { linkname: h.linkname } : {}) });
    json.delete(name);
    if (name && type === 'file' && size <= MAX_JSON_BYTES) {
      const bytes = await buffer(entry);
      if (looksLikeJson(bytes)) json.set(name, bytes);
    } else {
      entry.resume();
    }
  });
  return { entries, readJson: async (name) => json.get(name) };
}

/**
 * A tar stream of the entries `fill` adds to it. If `fill` fails, the stream fails with fill's error (not with
 * whatever broke inside the packer first), so the user reads what went wrong.
 */
export function packTar(fill: (pack: tar.Pack) => Promise<void>): Readable {
  const pack = tar.pack();
  const filling = fill(pack).then(() => pack.finalize());
  filling.catch((e: unknown) => pack.destroy(e as Error));
  async function* chunks(): AsyncGenerator<Buffer> {
    try {
      for await (const chunk of pack) yield chunk as Buffer;
    } catch (e) {
      await filling;
      throw e;
    }
  }
  return Readable.from(chunks(), { objectMode: false });
}

/** Pass 2: re-streams the tar (uncompressed) without the entries `omit` names. */
export function filteredTar(
  file: TarFile,
  omit: ReadonlySet<string>,
  onBytes: ByteCounter = () => {},
): Readable {
  return packTar((pack) => {
    const copy = async (entry: TarEntry): Promise<void> => {
      if (omit.has(normalizeName(entry.header.name))) entry.resume();
      else await pipeline(entry, pack.entry(entry.header));
    };
    return forEachEntry(file, copy, onBytes);
  });
}
