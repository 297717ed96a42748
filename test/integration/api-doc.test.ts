// docs/api.md's error table lists every code the server answers with: each of the catalogue (src/core/errors.ts), and no other.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ERROR_CATALOGUE } from '../../src/core/errors.js';
import { ROOT } from '../helpers/real-server.js';

/** The codes in the first column of the table under docs/api.md's `## Errors`. */
function documentedCodes(): Set<string> {
  const doc = readFileSync(join(ROOT, 'docs', 'api.md'), 'utf8');
  const section = /\n## Errors\n([\s\S]*?)\n## /.exec(doc)?.[1];
  if (!section) throw new Error('docs/api.md has no ## Errors section');
  const codes = new Set<string>();
  for (const row of section.split('\n').filter((l) => l.startsWith('| `'))) {
    const cell = row.split('|')[1]!;
    for (const m of cell.matchAll(/`([A-Z_]+)`/g)) codes.add(m[1]!);
    // a code answered as another is named in its row's text (BLOB_IN_USE, answered as DENIED)
    for (const m of row.matchAll(/berth's own code for it is `([A-Z_]+)`/g)) codes.add(m[1]!);
  }
  return codes;
}

describe('docs/api.md', () => {
  it('lists every error code of the catalogue in its error table', () => {
    const documented = documentedCodes();
    const missing = Object.keys(ERROR_CATALOGUE).filter((c) => !documented.has(c));
    expect(missing, 'codes the server sends that docs/api.md does not list').toEqual([]);
  });

  it('lists no code the server never sends', () => {
    const unknown = [...documentedCodes()].filter((c) => !(c in ERROR_CATALOGUE));
    expect(unknown).toEqual([]);
  });
});
