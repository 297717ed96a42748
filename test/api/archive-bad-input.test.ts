// Every kind of bad archive upload gets a 4xx naming the problem and changes nothing in the database or the store.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gzipSync } from 'node:zlib';
import { connect } from 'node:net';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { startTestServer, http, fixture, type TestServer } from '../helpers/in-process.js';
import { dirImage, dockerImage, hex, sha, tarOf, type Entry } from '../helpers/images.js';
import { snapshot } from '../helpers/state.js';

let s: TestServer;
beforeAll(async () => {
  s = await startTestServer('badinput');
  // Content for the refusals to leave alone: base in good/app, the whole app in held/app.
  for (const [repo, file] of [
    ['good/app', 'base.dir.tar'],
    ['held/app', 'app.dir.tar'],
  ]) {
    const r = await http('POST', `${s.url}/api/v1/repositories/${repo}/-/archives?tag=t`, {
      file: fixture(file!),
    });
    expect(r.status).toBe(201);
  }
});
afterAll(async () => s?.close());

const post = (body: Buffer, repo = 'good/app', query = '') =>
  http('POST', `${s.url}/api/v1/repositories/${repo}/-/archives${query}`, body, {
    'content-type': 'application/x-tar',
  });

/** Uploads `body`, expects the status, code and message, and that nothing changed. */
async function refused(
  body: Buffer,
  status: number,
  code: string,
  message: RegExp,
  repo = 'good/app',
  query = '',
) {
  const before = await snapshot(s.berth, s.data);
  const r = await post(body, repo, query);
  expect(r.status, r.body.toString()).toBe(status);
  const err = r.json().errors[0];
  expect(err.code).toBe(code);
  expect(err.message).toMatch(message);
  expect(await snapshot(s.berth, s.data)).toEqual(before);
  return err;
}

const without = (entries: Entry[], name: string) => entries.filter((e) => e.name !== name);

describe('bad archive uploads', () => {
  it('not a tar', async () => {
    await refused(
      Buffer.from('this is not a tar archive\n'.repeat(100)),
      400,
      'ARCHIVE_INVALID',
      /not a tar archive/,
    );
  });
  it('an empty body', async () => {
    await refused(Buffer.alloc(0), 400, 'ARCHIVE_INVALID', /empty/);
  });
  it('a tar that ends in the middle of an entry', async () => {
    const img = dirImage({ layers: [Buffer.alloc(64 * 1024, 7)] });
    const whole = await tarOf(img.entries);
    const layerAt = whole.indexOf(Buffer.alloc(512, 7));
    await refused(whole.subarray(0, layerAt + 10_000), 400, 'ARCHIVE_INVALID', /truncated/);
  });
  it('a gzip-compressed tar cut short', async () => {
    const gz = gzipSync(await tarOf(dirImage().entries));
    await refused(gz.subarray(0, gz.length - 20), 400, 'ARCHIVE_INVALID', /gzip|truncated/);
  });
  it('no manifest', async () => {
    const img = dirImage();
    await refused(await tarOf(without(img.entries, 'manifest.json')), 400, 'ARCHIVE_INVALID', /no manifest/);
  });
  it('a manifest that is not JSON', async () => {
    const img = dirImage();
    const entries = [
      ...without(img.entries, 'manifest.json'),
      { name: 'manifest.json', data: '{"schemaVersion": 2,' },
    ];
    await refused(await tarOf(entries), 400, 'MANIFEST_INVALID', /manifest\.json is not valid JSON/);
  });
  it('a manifest of an unknown media type', async () => {
    const img = dirImage({ mediaType: 'application/vnd.example.thing.v1+json' });
    await refused(
      await tarOf(img.entries),
      400,
      'MANIFEST_INVALID',
      /unknown media type "application\/vnd\.example\.thing\.v1\+json"/,
    );
  });
  it('a Docker schema 1 manifest', async () => {
    const img = dirImage();
    const entries = [
      ...without(img.entries, 'manifest.json'),
      { name: 'manifest.json', data: '{"schemaVersion":1,"name":"x"}' },
    ];
    await refused(await tarOf(entries), 400, 'MANIFEST_INVALID', /schema 1/);
  });
  it('a blob whose bytes do not match its name', async () => {
    const img = dirImage();
    const name = hex(img.layerDigests[0]!);
    const entries = img.entries.map((e) =>
      e.name === name ? { name, data: Buffer.from('other bytes') } : e,
    );
    const err = await refused(await tarOf(entries), 400, 'DIGEST_INVALID', /does not match its name/);
    expect(err.message).toContain(name);
  });
  it("a blob whose size is not the manifest's", async () => {
    const img = dirImage();
    const m = structuredClone(img.manifest) as { layers: { size: number }[] };
    m.layers[0]!.size += 1;
    const entries = [
      ...without(img.entries, 'manifest.json'),
      { name: 'manifest.json', data: JSON.stringify(m) },
    ];
    await refused(await tarOf(entries), 400, 'SIZE_INVALID', new RegExp(`${img.layerDigests[0]}.*says`));
  });
  it("a docker-archive layer whose bytes do not match the config's diff ID", async () => {
    const img = dockerImage();
    const name = `${hex(img.layerDigests[1]!)}.tar`;
    const entries = img.entries.map((e) => (e.name === name ? { name, data: Buffer.from('tampered') } : e));
    await refused(await tarOf(entries), 400, 'DIGEST_INVALID', /does not match its name|diff ID/);
  });
  it('layers missing from both the tar and the repository: every digest named', async () => {
    const img = dirImage({ n: 3 });
    const entries = img.entries.filter(
      (e) => e.name !== hex(img.layerDigests[0]!) && e.name !== hex(img.layerDigests[2]!),
    );
    const err = await refused(
      await tarOf(entries),
      404,
      'BLOB_UNKNOWN',
      /neither in the archive nor in repository good\/app/,
    );
    expect(err.detail.missing.sort()).toEqual([img.layerDigests[0], img.layerDigests[2]].sort());
    expect(err.message).toContain(img.layerDigests[0]);
    expect(err.message).toContain(img.layerDigests[2]);
  });
  it('a layer held by another repository is refused exactly like an unknown one (no leak)', async () => {
    const held = await refused(
      await tarOf(await partialAppEntries()),
      404,
      'BLOB_UNKNOWN',
      /neither in the archive/,
      'new/repo',
    );
    const img = dirImage({ n: 2 });
    const unknown = await refused(
      await tarOf(img.entries.filter((e) => !img.layerDigests.map(hex).includes(e.name))),
      404,
      'BLOB_UNKNOWN',
      /neither in the archive/,
      'new/repo',
    );
    const shape = (m: string) => m.replace(/sha256:[a-f0-9]{64}/g, 'D');
    expect(shape(held.message)).toBe(shape(unknown.message));
    expect(Object.keys(held.detail).sort()).toEqual(Object.keys(unknown.detail).sort());
  });
  it('an entry with an absolute path', async () => {
    const img = dirImage();
    await refused(
      await tarOf([{ name: '/etc/passwd', data: 'x' }, ...img.entries]),
      400,
      'ARCHIVE_INVALID',
      /absolute path/,
    );
  });
  it('an entry with ..', async () => {
    const img = dirImage();
    await refused(
      await tarOf([...img.entries, { name: 'blobs/../../evil', data: 'x' }]),
      400,
      'ARCHIVE_INVALID',
      /"\.\."/,
    );
  });
  it('a symbolic link pointing outside the archive', async () => {
    const img = dirImage();
    const entries = [
      ...img.entries,
      { name: 'x/layer.tar', type: 'symlink' as const, linkname: '../../etc/passwd' },
    ];
    await refused(await tarOf(entries), 400, 'ARCHIVE_INVALID', /outside the archive/);
  });
  it('a symbolic link to an absolute path', async () => {
    const img = dirImage();
    const entries = [
      ...img.entries,
      { name: 'layer.tar', type: 'symlink' as const, linkname: '/etc/shadow' },
    ];
    await refused(await tarOf(entries), 400, 'ARCHIVE_INVALID', /absolute path "\/etc\/shadow"/);
  });
  it('a hard link pointing outside the archive', async () => {
    const img = dirImage();
    const entries = [...img.entries, { name: 'l', type: 'link' as const, linkname: '../outside' }];
    await refused(await tarOf(entries), 400, 'ARCHIVE_INVALID', /outside the archive/);
  });
  it('a device file', async () => {
    const img = dirImage();
    const entries = [...img.entries, { name: 'dev/null', type: 'character-device' as const }];
    await refused(await tarOf(entries), 400, 'ARCHIVE_INVALID', /character-device/);
  });
  it('a fifo', async () => {
    const img = dirImage();
    await refused(
      await tarOf([...img.entries, { name: 'pipe', type: 'fifo' as const }]),
      400,
      'ARCHIVE_INVALID',
      /fifo/,
    );
  });
  it('duplicate entries', async () => {
    const img = dirImage();
    const entries = [...img.entries, { name: './manifest.json', data: img.manifestBytes }];
    await refused(await tarOf(entries), 400, 'ARCHIVE_INVALID', /"manifest\.json" twice/);
  });
  it('an invalid repository name', async () => {
    await refused(
      await tarOf(dirImage().entries),
      400,
      'NAME_INVALID',
      /invalid repository name "Bad\/Name"/,
      'Bad/Name',
    );
  });
  it('an invalid tag in the request', async () => {
    await refused(
      await tarOf(dirImage().entries),
      400,
      'TAG_INVALID',
      /invalid tag "-bad"/,
      'good/app',
      '?tag=-bad',
    );
  });
  it('an invalid tag in the archive', async () => {
    const img = dockerImage({ repoTags: ['example/app:bad tag!'] });
    await refused(await tarOf(img.entries), 400, 'TAG_INVALID', /invalid tag "bad tag!"/);
  });
  it('a request tag for an archive of several images', async () => {
    const a = dockerImage({ repoTags: ['x/a:1'] });
    const b = dockerImage({ repoTags: ['x/b:1'] });
    const manifest = JSON.stringify([
      ...JSON.parse(a.entries.at(-1)!.data as string),
      ...JSON.parse(b.entries.at(-1)!.data as string),
    ]);
    const entries = [
      ...a.entries.slice(0, -1),
      ...b.entries.slice(0, -1),
      { name: 'manifest.json', data: manifest },
    ];
    await refused(await tarOf(entries), 400, 'TAG_INVALID', /holds 2 images/, 'good/app', '?tag=one');
  });
  it('a client that disconnects mid-upload leaves no temporary file and changes nothing', async () => {
    const before = await snapshot(s.berth, s.data);
    const img = dirImage({ layers: [Buffer.alloc(4 * 1024 * 1024, 3)] });
    const body = await tarOf(img.entries);
    const { port } = new URL(s.url);
    await new Promise<void>((resolve, reject) => {
      const sock = connect(Number(port), '127.0.0.1', () => {
        sock.write(
          `POST /api/v1/repositories/good/app/-/archives HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-tar\r\n` +
            `Content-Length: ${body.length}\r\n\r\n`,
        );
        sock.write(body.subarray(0, 2 * 1024 * 1024), () =>
          setTimeout(() => (sock.destroy(), resolve()), 200),
        );
      });
      sock.on('error', reject);
    });
    const staging = join(s.data, 'store', 'staging');
    for (let i = 0; i < 50 && readdirSync(staging).length > 0; i++)
      await new Promise((r) => setTimeout(r, 100));
    expect(readdirSync(staging)).toEqual([]);
    expect(await snapshot(s.berth, s.data)).toEqual(before);
  });
});

/** app.dir.partial.tar's entries: base's two layers left out; good/app lacks them under another repo name. */
async function partialAppEntries(): Promise<Entry[]> {
  const { execFileSync } = await import('node:child_process');
  const list = execFileSync('tar', ['-tf', fixture('app.dir.partial.tar')], { encoding: 'utf8' })
    .trim()
    .split('\n');
  return list.map((name) => ({
    name,
    data: execFileSync('tar', ['-xOf', fixture('app.dir.partial.tar'), name]),
  }));
}
void sha;
