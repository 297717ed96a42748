// The version of berth that `berth --version` prints: package.json's, read beside src/ or dist/ (both two levels down).
import { readFileSync } from 'node:fs';

/** package.json's `version` (e.g. `0.1.0`). */
export function berthVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    version?: unknown;
  };
  if (typeof pkg.version !== 'string') throw new Error('package.json has no version');
  return pkg.version;
}
