// Archive layouts beyond the sample fixtures: dir 1.0, both docker save layouts, gzip, OCI indexes leaving out children.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gzipSync } from 'node:zlib';
import { execFileSync } from 'node:child_process';
import { startTestServer, http, fixture, type TestServer } from '../helpers/in-process.js';
import { dirImage, dockerImage, hex, sha, tarOf, type Entry } from '../helpers/images.js';

let s: TestServer;
beforeAll(async () => {
  s = await startTestServer('formats');
});
afterAll(async () => s?.close());

const upload = (repo: string, body: Buffer, tag?: string) =>
  http('POST', `${s.url}/api/v1/repositories/${repo}/-/archives${tag ? `?tag=${tag}` : ''}`, body);
const manifest = async (repo: string, ref: string) => {
  const r = await http('GET', `${s.url}/v2/${repo}/manifests/${ref}`);
  expect(r.status).toBe(200);
  return { digest: r.headers['docker-content-digest'], json: r.json(), bytes: r.body };
};

/** The layers of a docker image as the manifest berth writes must list them: uncompressed, by diff ID. */
const uncompressed = (layers: Buffer[]) =>
  layers.map((l) => ({
    mediaType: 'application/vnd.oci.image.layer.v1.tar',
    digest: sha(l),
    size: l.length,
  }));

describe('archive formats', () => {
  it('skopeo dir version 1.0: blobs named <hex>.tar, entries with ./', async () => {
    const img = dirImage();
    const entries = img.entries.map((e) =>
      e.name === 'version'
        ? { name: './version', data: 'Directory Transport Version: 1.0\n' }
        : { ...e, name: e.name === 'manifest.json' ? './manifest.json' : `./${e.name}.tar` },
    );
    const r = await upload('fmt/dir10', await tarOf([{ name: './', type: 'directory' }, ...entries]), 'v');
    expect(r.status, r.body.toString()).toBe(201);
    expect((await manifest('fmt/dir10', 'v')).digest).toBe(img.digest);
  });

  it('a gzip-compressed tar', async () => {
    const img = dirImage();
    const r = await upload('fmt/gz', gzipSync(await tarOf(img.entries)), 'v');
    expect(r.status, r.body.toString()).toBe(201);
    expect(r.json().manifests[0].digest).toBe(img.digest);
  });

  it('docker save before Docker 25: <id>/layer.tar files, json, VERSION, repositories', async () => {
    const layers = [Buffer.from('first layer tar bytes'), Buffer.from('second layer tar bytes')];
    const diffIds = layers.map((l) => sha(l));
    const config = Buffer.from(
      JSON.stringify({ os: 'linux', architecture: 'amd64', rootfs: { type: 'layers', diff_ids: diffIds } }),
    );
    const ids = ['a'.repeat(64), 'b'.repeat(64)];
    const entries: Entry[] = [
      ...ids.flatMap((id, i) => [
        { name: `${id}/`, type: 'directory' as const },
        { name: `${id}/VERSION`, data: '1.0' },
        { name: `${id}/json`, data: '{}' },
        { name: `${id}/layer.tar`, data: layers[i]! },
      ]),
      { name: `${hex(sha(config))}.json`, data: config },
      { name: 'repositories', data: JSON.stringify({ 'example/old': { v1: ids[1] } }) },
      {
        name: 'manifest.json',
        data: JSON.stringify([
          {
            Config: `${hex(sha(config))}.json`,
            RepoTags: ['example/old:v1'],
            Layers: ids.map((id) => `${id}/layer.tar`),
          },
        ]),
      },
    ];
    const r = await upload('fmt/oldsave', await tarOf(entries));
    expect(r.status, r.body.toString()).toBe(201);
    expect(r.json().manifests[0].tags).toEqual(['v1']);
    const m = await manifest('fmt/oldsave', 'v1');
    expect(m.json.layers).toEqual(uncompressed(layers));
    expect(m.json.config.digest).toBe(sha(config));
    const blob = await http('GET', `${s.url}/v2/fmt/oldsave/blobs/${diffIds[1]}`);
    expect(blob.body.equals(layers[1]!)).toBe(true);
  });

  it('docker save of Docker 25+: blobs/sha256, index.json and oci-layout beside manifest.json', async () => {
    const layers = [Buffer.from('layer one'), Buffer.from('layer two')];
    const config = Buffer.from(
      JSON.stringify({
        os: 'linux',
        architecture: 'arm64',
        rootfs: { type: 'layers', diff_ids: layers.map((l) => sha(l)) },
      }),
    );
    const ociManifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: {
          mediaType: 'application/vnd.oci.image.config.v1+json',
          digest: sha(config),
          size: config.length,
        },
        layers: uncompressed(layers),
      }),
    );
    const blob = (b: Buffer): Entry => ({ name: `blobs/sha256/${hex(sha(b))}`, data: b });
    const entries: Entry[] = [
      blob(config),
      ...layers.map(blob),
      blob(ociManifest),
      { name: 'oci-layout', data: '{"imageLayoutVersion":"1.0.0"}' },
      {
        name: 'index.json',
        data: JSON.stringify({
          schemaVersion: 2,
          manifests: [
            {
              mediaType: 'application/vnd.oci.image.manifest.v1+json',
              digest: sha(ociManifest),
              size: ociManifest.length,
              annotations: {
                'io.containerd.image.name': 'docker.io/example/new:v25',
                'org.opencontainers.image.ref.name': 'v25',
              },
            },
          ],
        }),
      },
      {
        name: 'manifest.json',
        data: JSON.stringify([
          {
            Config: `blobs/sha256/${hex(sha(config))}`,
            RepoTags: ['example/new:v25'],
            Layers: layers.map((l) => `blobs/sha256/${hex(sha(l))}`),
          },
        ]),
      },
    ];
    const r = await upload('fmt/newsave', await tarOf(entries));
    expect(r.status, r.body.toString()).toBe(201);
    expect(r.json().format).toBe('docker-archive');
    const m = await manifest('fmt/newsave', 'v25');
    expect(m.json.layers).toEqual(uncompressed(layers));
  });

  it('a docker-archive of two images applies both images’ RepoTags', async () => {
    const a = dockerImage({ repoTags: ['x/a:one', 'x/a:uno'] });
    const b = dockerImage({ repoTags: ['x/b:two'] });
    const list = [
      ...JSON.parse(a.entries.at(-1)!.data as string),
      ...JSON.parse(b.entries.at(-1)!.data as string),
    ];
    const entries = [
      ...a.entries.slice(0, -1),
      ...b.entries.slice(0, -1),
      { name: 'manifest.json', data: JSON.stringify(list) },
    ];
    const r = await upload('fmt/two', await tarOf(entries));
    expect(r.status, r.body.toString()).toBe(201);
    const tags = (await http('GET', `${s.url}/v2/fmt/two/tags/list`)).json().tags;
    expect(tags).toEqual(['one', 'two', 'uno']);
    expect((await manifest('fmt/two', 'one')).digest).toBe((await manifest('fmt/two', 'uno')).digest);
    expect((await manifest('fmt/two', 'one')).digest).not.toBe((await manifest('fmt/two', 'two')).digest);
  });

  it('an oci-archive index whose child manifests are left out: accepted, as a registry push of a sparse index is', async () => {
    const full = await http('POST', `${s.url}/api/v1/repositories/fmt/multi/-/archives`, {
      file: fixture('multi.oci.tar'),
    });
    expect(full.status).toBe(201);
    // keep only the index itself
    const names = execFileSync('tar', ['-tf', fixture('multi.oci.tar')], { encoding: 'utf8' })
      .trim()
      .split('\n');
    const read = (n: string) => execFileSync('tar', ['-xOf', fixture('multi.oci.tar'), n]);
    const index = JSON.parse(read('index.json').toString());
    const indexDigest: string = index.manifests[0].digest;
    const entries: Entry[] = names
      .filter((n) => ['oci-layout', 'index.json', `blobs/sha256/${hex(indexDigest)}`].includes(n))
      .map((n) => ({ name: n, data: read(n) }));
    const r = await upload('fmt/multi', await tarOf(entries), 'again');
    expect(r.status, r.body.toString()).toBe(201);
    expect((await manifest('fmt/multi', 'again')).digest).toBe(indexDigest);
    // elsewhere the children are unknown: the index is accepted as a sparse one, and its children answer 404 there
    const sparse = await upload('fmt/elsewhere', await tarOf(entries), 'sparse');
    expect(sparse.status, sparse.body.toString()).toBe(201);
    expect((await manifest('fmt/elsewhere', 'sparse')).digest).toBe(indexDigest);
    const children = JSON.parse(read(`blobs/sha256/${hex(indexDigest)}`).toString()).manifests;
    expect(children).toHaveLength(2);
    for (const c of children) {
      expect((await http('GET', `${s.url}/v2/fmt/elsewhere/manifests/${c.digest}`)).status).toBe(404);
    }
  });
});
