// What the build ships (tsconfig.build.json: src/ without *.test.ts) holds no test code: nothing there imports vitest.
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { expect, it } from 'vitest';

const SRC = join(import.meta.dirname, '..', '..', 'src');

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    if (e.isDirectory()) return sourceFiles(p);
    return e.name.endsWith('.ts') && !e.name.endsWith('.test.ts') ? [p] : [];
  });
}

it('no file of src/ that the build compiles imports vitest (the Docker image prunes dev dependencies)', () => {
  const files = sourceFiles(SRC);
  expect(files.length).toBeGreaterThan(50);
  const importing = files
    .filter((f) => /from\s+['"]vitest(\/[^'"]*)?['"]/.test(readFileSync(f, 'utf8')))
    .map((f) => relative(SRC, f));
  expect(importing).toEqual([]);
});
