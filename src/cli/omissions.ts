// Chooses which entries `upload --only-missing` leaves out: layers the repository holds, and foreign layers.
import { symlinkTarget, type ArchiveLayers, type ArchiveView } from '../archive/layer-refs.js';

export interface Omissions {
  /** entry names to leave out of the stream */
  paths: Set<string>;
  /** distinct layers left out because the repository holds them, and their bytes */
  present: { blobs: number; bytes: number };
  /** distinct foreign layers left out (never uploaded anyway), and their bytes */
  foreign: { blobs: number; bytes: number };
}

export const NO_OMISSIONS: Omissions = {
  paths: new Set(),
  present: { blobs: 0, bytes: 0 },
  foreign: { blobs: 0, bytes: 0 },
};

/**
 * Leaves out the files of every layer whose digest is in `present`, and of every foreign layer, together
 * with symlinks that point at them; never a manifest, index or config.
 */
export function chooseOmissions(
  view: ArchiveView,
  found: ArchiveLayers,
  present: ReadonlySet<string>,
): Omissions {
  const needed = new Set(found.layers.filter((l) => !l.foreign).map((l) => l.digest));
  const out: Omissions = {
    paths: new Set(),
    present: { blobs: 0, bytes: 0 },
    foreign: { blobs: 0, bytes: 0 },
  };
  const counted = new Set<string>();
  for (const layer of found.layers) {
    const tally = present.has(layer.digest)
      ? out.present
      : !needed.has(layer.digest)
        ? out.foreign
        : undefined;
    if (!tally) continue;
    for (const path of layer.paths) {
      const entry = view.entries.get(path);
      if (!entry || found.metadata.has(path) || out.paths.has(path)) continue;
      out.paths.add(path);
      if (entry.type !== 'file') continue;
      tally.bytes += entry.size;
      if (!counted.has(layer.digest)) {
        counted.add(layer.digest);
        tally.blobs += 1;
      }
    }
  }
  for (const entry of view.entries.values()) {
    const target = symlinkTarget(entry);
    if (target !== undefined && out.paths.has(target)) out.paths.add(entry.name);
  }
  return out;
}
