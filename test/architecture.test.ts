// The dependency rule of docs/architecture.md, read from the imports of src/: each folder imports only the rooms below it.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const SRC = resolve(import.meta.dirname, '../src');

/**
 * The folders of src/ each folder may import (besides itself). The files at the top (app.ts, server.ts, jobs.ts)
 * compose the rest and may import anything; `app` stands for app.ts (the Berth type the adapters are given).
 */
const MAY_IMPORT: Record<string, string[]> = {
  core: [],
  storage: ['core'],
  db: ['core'],
  archive: ['core', 'storage'],
  gc: ['core', 'db', 'storage'],
  auth: ['core', 'db'],
  repo: ['core', 'db', 'storage', 'archive', 'gc'],
  sync: ['core', 'db', 'storage', 'gc', 'repo'],
  http: ['core', 'db', 'storage', 'gc', 'auth', 'app'],
  registry: ['core', 'auth', 'http', 'repo', 'app'],
  api: ['core', 'auth', 'http', 'app'],
  ui: ['core', 'auth', 'http', 'app'],
  cli: ['core', 'archive', 'gc', 'api', 'app', 'server'],
};

/** The npm packages only some folders may import: SQL in the database-facing rooms, HTTP in the adapters. */
const PACKAGE_ROOMS: Record<string, string[]> = {
  kysely: ['db', 'auth', 'gc', 'repo', 'sync'],
  pg: ['db'],
  'better-sqlite3': ['db'],
  fastify: ['http', 'registry', 'api', 'ui', 'server'],
};

interface Import {
  file: string;
  room: string;
  spec: string;
}

function sourceFiles(dir: string, tests: boolean): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    if (statSync(p).isDirectory()) return sourceFiles(p, tests);
    if (!p.endsWith('.ts')) return [];
    return tests || !p.endsWith('.test.ts') ? [p] : [];
  });
}

/** The room of a path under src/: its top folder, or the file's name for the files at the top. */
function roomOf(path: string): string {
  const parts = relative(SRC, path).split('/');
  return parts.length > 1 ? parts[0]! : parts[0]!.replace(/\.(ts|js)$/, '');
}

function importsOf(file: string): Import[] {
  const text = readFileSync(file, 'utf8');
  return [...text.matchAll(/\b(?:from|import)\s*\(?\s*'([^']+)'/g)].map((m) => ({
    file: relative(SRC, file),
    room: roomOf(file),
    spec: m[1]!,
  }));
}

const code = sourceFiles(SRC, false);
const imports = code.flatMap(importsOf);

describe('the dependency rule', () => {
  it('reads the imports of every room', () => {
    const rooms = new Set(imports.map((i) => i.room));
    for (const room of Object.keys(MAY_IMPORT)) expect(rooms, room).toContain(room);
    expect(imports.length).toBeGreaterThan(300);
  });

  it('each folder imports only the folders below it', () => {
    const broken = imports
      .filter((i) => i.spec.startsWith('.') && i.room in MAY_IMPORT)
      .map((i) => ({ ...i, to: roomOf(resolve(dirname(join(SRC, i.file)), i.spec)) }))
      .filter((i) => i.to !== i.room && !MAY_IMPORT[i.room]!.includes(i.to))
      .map((i) => `${i.file} imports ${i.spec} (${i.room} -> ${i.to})`);
    expect(broken).toEqual([]);
  });

  it('SQL drivers and kysely stay in the database-facing rooms, fastify in the HTTP adapters', () => {
    const broken = imports
      .filter((i) => i.spec in PACKAGE_ROOMS && !PACKAGE_ROOMS[i.spec]!.includes(i.room))
      .map((i) => `${i.file} imports ${i.spec}`);
    expect(broken).toEqual([]);
  });

  it('nothing but the composition root (src/app.ts) and db/ itself reaches the database handle of a Berth', () => {
    const broken = code
      .filter((f) => relative(SRC, f) !== 'app.ts' && roomOf(f) !== 'db')
      .filter((f) => /\bdb\.kysely\b/.test(readFileSync(f, 'utf8')))
      .map((f) => relative(SRC, f));
    expect(broken).toEqual([]);
  });

  it('the rule catches a forbidden import', () => {
    // the same check over a made-up import, so the filter above cannot pass by matching nothing
    const fake: Import = { file: 'archive/x.ts', room: 'archive', spec: '../repo/held.js' };
    const to = roomOf(resolve(dirname(join(SRC, fake.file)), fake.spec));
    expect(to).toBe('repo');
    expect(MAY_IMPORT[fake.room]).not.toContain(to);
  });
});

describe('the files of src/', () => {
  const all = sourceFiles(SRC, true);

  it('are at most 400 lines each', () => {
    const long = all
      .map((f) => ({ f: relative(SRC, f), lines: readFileSync(f, 'utf8').split('\n').length }))
      .filter((x) => x.lines > 400);
    expect(long).toEqual([]);
  });

  it('each begin with a one-line comment saying what lives there', () => {
    const bare = all.filter((f) => !/^\/\/ \S/.test(readFileSync(f, 'utf8'))).map((f) => relative(SRC, f));
    expect(bare).toEqual([]);
  });
});
