// Files of a filesystem blob store written and aged directly, for tests of what cleanup and fsck find on disk.
import { mkdirSync, utimesSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** `file`, `put` and `age` for the store under `<data()>/store` (a function, as the folder is made in a hook). */
export function storeFiles(data: () => string) {
  const file = (key: string): string => join(data(), 'store', ...key.split('/'));
  const age = (key: string, ageMs: number): void => {
    const t = new Date(Date.now() - ageMs);
    utimesSync(file(key), t, t);
  };
  const put = (key: string, bytes: Buffer | string, ageMs = 0): void => {
    mkdirSync(dirname(file(key)), { recursive: true });
    writeFileSync(file(key), bytes);
    if (ageMs) age(key, ageMs);
  };
  return { file, put, age };
}
