// An archive given as a directory (written by `skopeo copy … dir:`): scanning it, and streaming a tar of its files.
import { createReadStream } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { looksLikeJson, MAX_JSON_BYTES, type ArchiveEntry, type ArchiveView } from '../archive/layer-refs.js';
import { countBytes, packTar, type ByteCounter } from './tar-file.js';

/** Lists the directory's regular files (recursively; symlinks and others are not part of an upload). */
export async function scanDir(dir: string): Promise<ArchiveView> {
  const entries = new Map<string, ArchiveEntry>();
  for (const d of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!d.isFile()) continue;
    const full = join(d.parentPath, d.name);
    const name = relative(dir, full).split(sep).join('/');
    entries.set(name, { name, type: 'file', size: (await stat(full)).size });
  }
  const readJson = async (name: string): Promise<Buffer | undefined> => {
    const entry = entries.get(name);
    if (!entry || entry.size > MAX_JSON_BYTES) return undefined;
    const bytes = await readFile(join(dir, name));
    return looksLikeJson(bytes) ? bytes : undefined;
  };
  return { entries, readJson };
}

/** The files of `view` except `omit`, as a tar stream; small files (manifests, configs) go first. */
export function tarOfDir(
  dir: string,
  view: ArchiveView,
  omit: ReadonlySet<string>,
  onBytes: ByteCounter = () => {},
): Readable {
  const files = [...view.entries.values()]
    .filter((e) => e.type === 'file' && !omit.has(e.name))
    .sort((a, b) => a.size - b.size || a.name.localeCompare(b.name));
  return packTar(async (pack) => {
    for (const file of files) {
      const full = join(dir, file.name);
      const { size, mtime } = await stat(full);
      if (size !== file.size) throw new Error(`${full} changed size while it was being uploaded`);
      await pipeline(
        createReadStream(full),
        countBytes(onBytes),
        pack.entry({ name: file.name, size, mtime }),
      );
    }
  });
}

/** The byte count `tarOfDir` reports as it reads: the total size of the files it sends. */
export function bytesToSend(view: ArchiveView, omit: ReadonlySet<string>): number {
  let total = 0;
  for (const e of view.entries.values()) if (e.type === 'file' && !omit.has(e.name)) total += e.size;
  return total;
}
