// The `berth` command against a running server: upload (tar, dir, --only-missing, --json), repo commands, serve.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { buffer } from 'node:stream/consumers';
import tar from 'tar-stream';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { runBerth } from '../helpers/cli.js';
import { fixture, startTestServer, type TestServer, ADMIN } from '../helpers/in-process.js';
import { BIN, ROOT, startRealServer } from '../helpers/real-server.js';
import { testDatabaseUrl } from '../helpers/backend.js';

let s: TestServer;
let work: string;
beforeAll(async () => {
  s = await startTestServer('cli');
  work = mkdtempSync(join(tmpdir(), 'berth-cli-'));
});
afterAll(async () => {
  await s?.close();
  if (work) rmSync(work, { recursive: true, force: true });
});

const berth = (...args: string[]) => runBerth(s.url, ...args);

/** Unpacks a fixture tar into a fresh directory, as `skopeo copy … dir:` would have left it. */
async function unpack(name: string): Promise<string> {
  const dir = join(work, name.replace(/\W/g, '-'));
  mkdirSync(dir, { recursive: true });
  const extract = tar.extract();
  const reading = pipeline(Readable.from(readFileSync(fixture(name))), extract);
  for await (const e of extract) {
    const body = await buffer(e);
    if (e.header.type === 'file') writeFileSync(join(dir, e.header.name), body);
  }
  await reading;
  return dir;
}

describe('berth upload', () => {
  it('uploads a tar and prints a one-line summary', async () => {
    const r = await berth('upload', fixture('base.dir.tar'), 'library/app:base');
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(
      /^library\/app version 1: sha256:[0-9a-f]{12}… tagged base; 3 blobs uploaded, 0 reused, 0 foreign\n$/,
    );
  });

  it('--only-missing leaves out the layers the repository holds; --json prints only the result', async () => {
    const r = await berth('upload', '--only-missing', '--json', fixture('app.docker.tar'), 'library/app:1.0');
    expect(r.code, r.err).toBe(0);
    const result = JSON.parse(r.out);
    expect(result).toMatchObject({ repository: 'library/app', version: 2, format: 'docker-archive' });
    expect(result.manifests[0].tags).toContain('1.0');
    expect(result.blobs.reused).toBe(2);
  });

  // the repository holds base's two gzip layers; app's own was uploaded by the docker-archive, uncompressed
  it('uploads a skopeo dir, leaving out what the repository holds', async () => {
    const dir = await unpack('app.dir.tar');
    const r = await berth('upload', '--only-missing', dir, 'library/app:dir');
    expect(r.code, r.err).toBe(0);
    expect(r.out.split('\n')[0]).toMatch(/^left out 2 of 3 layers \(\d+ KiB\) already in library\/app$/);
    expect(r.out.split('\n')[1]).toMatch(/^library\/app version 3: .* tagged dir; /);
  });

  it('uploads a skopeo dir as a whole', async () => {
    const r = await berth('upload', await unpack('foreign.dir.tar'), 'win/app:1');
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/^win\/app version 1: .* 1 foreign\n$/);
  });

  it('prints the server’s error when a layer is missing, and exits 1', async () => {
    const r = await berth('upload', fixture('app.dir.partial.tar'), 'other/app');
    expect(r.code).toBe(1);
    expect(r.out).toBe('');
    expect(r.err).toMatch(/^berth: BLOB_UNKNOWN: .*sha256:/);
  });
});

describe('berth repo', () => {
  it('lists repositories', async () => {
    const r = await berth('repo', 'list');
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/^NAME +LATEST VERSION +CREATED\n/);
    expect(r.out).toMatch(/\nlibrary\/app +3 +\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ\n/);
    const json = JSON.parse((await berth('repo', 'list', '--json')).out);
    expect(json.repositories.map((x: { name: string }) => x.name)).toContain('library/app');
  });

  it('shows a repository with its tags', async () => {
    const r = await berth('repo', 'show', 'library/app');
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/^name +library\/app\n/m);
    expect(r.out).toMatch(/^latest version +3 /m);
    expect(r.out).toMatch(/^ {2}base +sha256:[0-9a-f]{64}$/m);
    const json = JSON.parse((await berth('repo', 'show', 'library/app', '--json')).out);
    expect(json.repository.name).toBe('library/app');
    expect(json.latestVersion.number).toBe(3);
  });

  it('lists versions and compares two', async () => {
    const v = await berth('repo', 'versions', 'library/app');
    expect(v.code, v.err).toBe(0);
    expect(v.out).toMatch(/^VERSION +CREATED +ADDED +REMOVED\n/);
    expect(v.out).toMatch(/^3 /m);
    const d = await berth('repo', 'diff', 'library/app', '1', '2');
    expect(d.code, d.err).toBe(0);
    expect(d.out).toMatch(/^library\/app: version 1 → 2\n/);
    expect(d.out).toMatch(/^\+ tag 1\.0 → sha256:/m);
    expect(JSON.parse((await berth('repo', 'diff', 'library/app', '1', '2', '--json')).out)).toMatchObject({
      from: 1,
      to: 2,
    });
  });

  it('says when a repository does not exist', async () => {
    const r = await berth('repo', 'show', 'no/such');
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^berth: NAME_UNKNOWN: /);
  });
});

// `berth serve` itself needs the built command (npm test builds it first).
describe.skipIf(!existsSync(join(ROOT, 'dist', 'cli', 'main.js')))('berth serve', () => {
  it('takes its settings from the environment, serves uploads, and stops cleanly on SIGTERM', async () => {
    const data = join(work, 'env-data');
    const child = spawn(process.execPath, [BIN, 'serve'], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        ...process.env,
        BERTH_LISTEN: '127.0.0.1:0',
        BERTH_DATA: data,
        BERTH_DATABASE: await testDatabaseUrl('cli-serve'),
        BERTH_LOG_LEVEL: 'warn',
        BERTH_ADMIN_PASSWORD: ADMIN.password,
      },
    });
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr.on('data', (b: Buffer) => (out += b.toString()));
    const exited = new Promise<number | null>((r) => child.once('exit', r));
    await vi.waitFor(() => expect(out).toMatch(/berth listening on http:\/\/127\.0\.0\.1:\d+/), {
      timeout: 30_000,
    });
    const url = /berth listening on (\S+)/.exec(out)![1]!;

    const upload = spawn(process.execPath, [BIN, 'upload', fixture('base.oci.tar'), 'env/app:1.0'], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, BERTH_SERVER: url, BERTH_USERNAME: ADMIN.user, BERTH_PASSWORD: ADMIN.password },
    });
    let uploaded = '';
    upload.stdout.on('data', (b: Buffer) => (uploaded += b.toString()));
    upload.stderr.on('data', (b: Buffer) => (uploaded += b.toString()));
    expect(await new Promise((r) => upload.once('exit', r)), uploaded).toBe(0);
    expect(uploaded).toMatch(/^env\/app version 1: /);
    expect(existsSync(join(data, 'store'))).toBe(true);

    child.kill('SIGTERM');
    expect(await exited, out).toBe(0);
  });

  it('exits 1 with the reason when it cannot start', async () => {
    const srv = await startRealServer('cli-taken');
    try {
      const child = spawn(
        process.execPath,
        [BIN, 'serve', '--listen', srv.hostPort, '--data', join(work, 'taken')],
        {
          stdio: ['ignore', 'pipe', 'pipe'],
          env: {
            ...process.env,
            BERTH_DATABASE: await testDatabaseUrl('cli-taken2'),
            BERTH_LOG_LEVEL: 'warn',
          },
        },
      );
      let err = '';
      child.stderr.on('data', (b: Buffer) => (err += b.toString()));
      expect(await new Promise((r) => child.once('exit', r))).toBe(1);
      expect(err).toMatch(/^berth: .*EADDRINUSE/m);
    } finally {
      await srv.stop();
    }
  });
});
