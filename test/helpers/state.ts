// A snapshot of everything an upload could change: every row of every table of the database, and the store's files.
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { sql } from 'kysely';
import type { Berth } from '../../src/app.js';
import type { Database } from '../../src/db/schema.js';

/**
 * Every table of src/db/schema.ts: a Record over `keyof Database`, so that a table added to the schema and not
 * here fails to compile; snapshot() fails when the database holds a table missing here (e.g. one a migration
 * made without the schema type).
 */
const TABLES: Record<keyof Database, true> = {
  repositories: true,
  repository_versions: true,
  repository_content: true,
  blobs: true,
  manifests: true,
  manifest_references: true,
  layer_diff_ids: true,
  upload_sessions: true,
  pending_blobs: true,
  blob_claims: true,
  users: true,
  user_permissions: true,
  public_patterns: true,
  api_tokens: true,
  signing_keys: true,
  login_failures: true,
  audit_log: true,
  leases: true,
  quotas: true,
  immutable_tags: true,
  remotes: true,
  sync_runs: true,
  sync_schedules: true,
  on_demand_blobs: true,
  caches: true,
  cache_tags: true,
  web_sessions: true,
};

export const SNAPSHOT_TABLES = Object.keys(TABLES).sort() as (keyof Database)[];

/** Kysely's own bookkeeping, not berth's data. */
const MIGRATOR_TABLES = new Set(['kysely_migration', 'kysely_migration_lock']);

/** The tables the database holds (in its current schema), the migrator's own left out. */
export async function databaseTables(berth: Berth): Promise<string[]> {
  const { rows } =
    berth.db.dialect === 'sqlite'
      ? await sql<{ name: string }>`
          SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'`.execute(
          berth.db.kysely,
        )
      : await sql<{ name: string }>`
          SELECT table_name AS name FROM information_schema.tables
          WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'`.execute(berth.db.kysely);
  return rows
    .map((r) => r.name)
    .filter((n) => !MIGRATOR_TABLES.has(n))
    .sort();
}

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

/**
 * The bytes of a file, or of every file under a folder, walked (0 when it does not exist; a file removed during
 * the walk counts 0): what a store holds on disk, for tests that measure what cleanup gives back.
 */
export function bytesUnder(path: string): number {
  let names: string[];
  try {
    const s = statSync(path);
    if (!s.isDirectory()) return s.size;
    names = readdirSync(path);
  } catch {
    return 0;
  }
  return names.reduce((n, name) => n + bytesUnder(join(path, name)), 0);
}

/** A row as text, its columns in name order, so that rows compare and sort the same on both backends. */
const rowText = (row: Record<string, unknown>): string =>
  JSON.stringify(Object.fromEntries(Object.entries(row).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))));

export interface Snapshot {
  /** table → its rows (as rowText), sorted */
  rows: Record<string, string[]>;
  files: string[];
}

/** Every row of every table and every file of the store (under `data`/store). */
export async function snapshot(berth: Berth, data: string): Promise<Snapshot> {
  const present = await databaseTables(berth);
  const unknown = present.filter((t) => !(t in TABLES));
  if (unknown.length > 0) {
    throw new Error(`the database holds tables the snapshot does not know: ${unknown.join(', ')}`);
  }
  const rows: Record<string, string[]> = {};
  for (const t of SNAPSHOT_TABLES) {
    const all = await berth.db.kysely.selectFrom(t).selectAll().execute();
    rows[t] = all.map((r) => rowText(r as Record<string, unknown>)).sort();
  }
  return { rows, files: filesUnder(join(data, 'store')) };
}
