// archive/ reads and plans only: it imports the domain (core/) and the blob store, never repo/, db/ or SQL.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const ALLOWED = [/^\.\/[\w-]+\.js$/, /^\.\.\/core\//, /^\.\.\/storage\//, /^node:/, /^tar-stream$/];

/** The modules each non-test file of src/archive imports. */
function importsOf(): { file: string; from: string }[] {
  const dir = import.meta.dirname;
  return readdirSync(dir)
    .filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'))
    .flatMap((file) =>
      [...readFileSync(join(dir, file), 'utf8').matchAll(/\bfrom\s+'([^']+)'/g)].map((m) => ({
        file,
        from: m[1]!,
      })),
    );
}

describe('src/archive', () => {
  it('imports nothing of repo/, db/, kysely, HTTP or the CLI', () => {
    const found = importsOf();
    expect(found.length).toBeGreaterThan(10);
    expect(found.filter(({ from }) => !ALLOWED.some((a) => a.test(from)))).toEqual([]);
  });
});
