// Hints for the common first-hour mistakes: a tar made of the folder instead of its content, a server in the upload
// target, an https:// --server against plain HTTP, a repository name in uppercase.
import { createReadStream, createWriteStream, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBerth } from '../helpers/cli.js';
import { fixture, http, startTestServer, type TestServer } from '../helpers/in-process.js';

let s: TestServer;
let dir: string;
beforeAll(async () => {
  s = await startTestServer('cli-hints');
  dir = mkdtempSync(join(tmpdir(), 'cli-hints-'));
});
afterAll(async () => {
  await s?.close();
  rmSync(dir, { recursive: true, force: true });
});

const berth = (...args: string[]) => runBerth(s.url, ...args);

/** base.dir.tar again with every entry under `app-dir/`: what `tar -cf x.tar app-dir` makes. */
async function underAFolder(): Promise<string> {
  const out = join(dir, 'nested.tar');
  const pack = tar.pack();
  const extract = tar.extract();
  extract.on('entry', (header, stream, next) => {
    const name = `app-dir/${header.name.replace(/^\.\//, '')}`;
    stream.pipe(pack.entry({ ...header, name }, next));
  });
  extract.on('finish', () => pack.finalize());
  await Promise.all([
    pipeline(createReadStream(fixture('base.dir.tar')), extract),
    pipeline(pack, createWriteStream(out)),
  ]);
  return out;
}

describe('hints', () => {
  it('a tar with everything under a top-level folder: names the manifest.json found and how to make the tar', async () => {
    const r = await berth('upload', await underAFolder(), 'team/app:1.0');
    expect(r.code).toBe(1);
    expect(r.err).toContain(
      'ARCHIVE_INVALID: the archive holds no manifest at its top level, but it has app-dir/manifest.json: it was made ' +
        'of the folder app-dir rather than of what is in it; make it again with: tar -C app-dir -cf image.tar .',
    );
    expect((await http('GET', `${s.url}/api/v1/repositories/team/app`)).status).toBe(404);
  });

  it('a server in the upload target says to use --server (exit 2, nothing sent)', async () => {
    const r = await berth('upload', fixture('base.dir.tar'), '127.0.0.1:5000/team/app:1.0');
    expect(r.code).toBe(2);
    expect(r.err).toContain(
      '"127.0.0.1:5000/team/app:1.0" names a server: berth takes the repository alone and the server in --server ' +
        '(berth upload ARCHIVE team/app:1.0 --server http://127.0.0.1:5000, or BERTH_SERVER)',
    );
    const https = await berth('upload', fixture('base.dir.tar'), 'https://registry.example/team/app');
    expect(https.code).toBe(2);
    expect(https.err).toContain('--server https://registry.example');
  });

  it('an https:// server URL against plain HTTP says the server speaks plain HTTP', async () => {
    const url = s.url.replace(/^http:/, 'https:');
    const r = await runBerth(url, 'repo', 'list');
    expect(r.code).toBe(1);
    expect(r.err).toMatch(new RegExp(`^berth: the berth server at ${url} speaks plain HTTP, not HTTPS: `));
    expect(r.err).toContain(
      `berth: use --server ${s.url} (or serve HTTPS: berth serve --tls-cert FILE --tls-key FILE)`,
    );
  });

  it('a repository name in uppercase says names are lowercase, on the command line and from the server', async () => {
    const r = await berth('upload', fixture('base.dir.tar'), 'Team/App:1.0');
    expect(r.code).toBe(2);
    expect(r.err).toContain('repository names are lowercase (as in every registry) — use "team/app"');
    const v2 = await http('GET', `${s.url}/v2/Team/App/manifests/1.0`);
    expect(v2.status).toBe(400);
    expect(v2.json().errors[0].message).toContain('repository names are lowercase');
  });
});
