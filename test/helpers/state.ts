// A snapshot of everything an upload could change: row counts of every table and the files of the blob store.
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import type { Berth } from '../../src/app.js';

const TABLES = [
  'repositories',
  'repository_versions',
  'repository_content',
  'blobs',
  'manifests',
  'manifest_references',
  'layer_diff_ids',
] as const;

/** Every file under `root`, as paths relative to it, sorted. */
export function filesUnder(root: string): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      return;
    }
    for (const n of names) {
      const p = join(dir, n);
      if (statSync(p).isDirectory()) walk(p);
      else out.push(relative(root, p));
    }
  };
  walk(root);
  return out.sort();
}

export async function snapshot(
  berth: Berth,
  data: string,
): Promise<{ rows: Record<string, number>; files: string[] }> {
  const rows: Record<string, number> = {};
  for (const t of TABLES) {
    const r = await berth.db.kysely
      .selectFrom(t)
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirstOrThrow();
    rows[t] = Number(r.n);
  }
  return { rows, files: filesUnder(join(data, 'store')) };
}
