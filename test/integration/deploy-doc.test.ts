// docs/deploy.md shows the nginx configuration the nginx test runs with (test/helpers/nginx.ts), word for word, and TLS as it is.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { nginxConfig } from '../helpers/nginx.js';
import { ROOT } from '../helpers/real-server.js';

/** The values docs/deploy.md shows in place of the test's free port, process ports and temp dir. */
const DOC_EXAMPLE = {
  listen: '0.0.0.0:8080',
  upstreams: ['10.0.0.11:5000', '10.0.0.12:5000'],
  dir: '/var/lib/berth-nginx',
};

describe('docs/deploy.md', () => {
  it('shows the nginx configuration of test/e2e/nginx.test.ts in full', () => {
    const doc = readFileSync(join(ROOT, 'docs', 'deploy.md'), 'utf8');
    // (the page has other nginx blocks, e.g. a proxy in front of S3 for redirects: one of them is the whole file)
    const blocks = [...doc.matchAll(/```nginx\n([\s\S]*?)```/g)].map((m) => m[1]);
    expect(blocks, 'the ```nginx blocks').toContain(nginxConfig(DOC_EXAMPLE));
  });

  it('describes TLS as it is: berth serves HTTPS itself (test/e2e/https.test.ts), nothing is "being added"', () => {
    const doc = readFileSync(join(ROOT, 'docs', 'deploy.md'), 'utf8');
    expect(doc).not.toMatch(/being added|once that lands/);
    expect(doc).toMatch(/^\| TLS +\| `--tls-cert`, `--tls-key` \/ `BERTH_TLS_CERT`, `BERTH_TLS_KEY` +\|/m);
  });
});
