// Real skopeo against the real server (`berth serve` in a child process): push from oci, oci-archive, dir and
// docker-archive, pull back into oci:, dir: and docker-archive:, copy --all of an index, delete, list-tags, and
// the foreign-layer image. Every push must make exactly one new repository version per manifest.
import { afterAll, beforeAll, describe, expect } from 'vitest';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileWithBytes } from '../helpers/blob-layout.js';
import type { Digest } from '../../src/core/digest.js';
import { hasCommand, skipUnless } from '../helpers/backend.js';
import { fixture, http } from '../helpers/in-process.js';
import { run, skopeo, startRealServer, type RealServer } from '../helpers/real-server.js';
import { filesUnder, readDir, readDockerArchive, readLayout, sha, versionsOf } from './support.js';

const it = skipUnless(hasCommand('skopeo'), 'skopeo is not installed (apt-get install skopeo)');

let s: RealServer;
let work: string;
beforeAll(async () => {
  s = await startRealServer('skopeo-push');
  work = mkdtempSync(join(tmpdir(), 'skopeo-push-'));
});
afterAll(async () => {
  await s?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

const remote = (ref: string) => `docker://${s.hostPort}/${ref}`;
const push = (src: string, ref: string, ...flags: string[]) =>
  skopeo('copy', '--quiet', '--dest-tls-verify=false', ...flags, src, remote(ref));
const pull = (ref: string, dest: string, ...flags: string[]) =>
  skopeo('copy', '--quiet', '--src-tls-verify=false', ...flags, remote(ref), dest);
/** The digest of the manifest berth serves for REPO:TAG, computed over the bytes skopeo receives. */
const remoteDigest = async (ref: string) =>
  sha(await skopeo('inspect', '--raw', '--tls-verify=false', remote(ref)));
const listTags = async (repo: string): Promise<string[]> =>
  (JSON.parse(await skopeo('list-tags', '--tls-verify=false', remote(repo))).Tags as string[]).sort();
const latest = async (repo: string) => (await versionsOf(s.url, repo)).at(-1)?.number ?? 0;
const unpack = async (tarFile: string, name: string) => {
  const dir = join(work, name);
  mkdirSync(dir, { recursive: true });
  await run('tar', ['-C', dir, '-xf', tarFile]);
  return dir;
};
let seq = 0;
const fresh = (name: string) => join(work, `${name}-${++seq}`);

/** The diff IDs of the app image, the same in every fixture format (all were made from one OCI image). */
let appDiffIds: string[];
const originalDiffIds = async (): Promise<string[]> => {
  appDiffIds ??= JSON.parse(await skopeo('inspect', '--config', `oci-archive:${fixture('app.oci.tar')}`))
    .rootfs.diff_ids;
  return appDiffIds;
};

interface Source {
  format: string;
  /** the skopeo source reference (made on first use) */
  ref: () => Promise<string>;
  /** whether skopeo pushes the manifest bytes unchanged (docker-archive layers are compressed on the way) */
  keepsDigest: boolean;
}

const sources: Source[] = [
  { format: 'oci-archive', ref: async () => `oci-archive:${fixture('app.oci.tar')}:1.0`, keepsDigest: true },
  {
    format: 'oci',
    ref: async () => `oci:${await unpack(fixture('app.oci.tar'), 'app-oci')}:1.0`,
    keepsDigest: true,
  },
  {
    format: 'dir',
    ref: async () => `dir:${await unpack(fixture('app.dir.tar'), 'app-dir')}`,
    keepsDigest: true,
  },
  {
    format: 'docker-archive',
    ref: async () => `docker-archive:${fixture('app.docker.tar')}`,
    keepsDigest: false,
  },
];

describe('skopeo copy into berth and back', () => {
  for (const src of sources) {
    const repo = `fmt/${src.format}`;
    let pushed: string;
    let servedType: string;

    it(`${src.format} → berth: one new version, the manifest served as pushed`, async () => {
      const ref = await src.ref();
      expect(await latest(repo)).toBe(0);
      await push(ref, `${repo}:1.0`);
      expect(await latest(repo)).toBe(1);
      pushed = await remoteDigest(`${repo}:1.0`);
      servedType = JSON.parse(
        await skopeo('inspect', '--raw', '--tls-verify=false', remote(`${repo}:1.0`)),
      ).mediaType;
      // skopeo compresses docker-archive layers on the way, so that image is a docker schema 2 manifest
      expect(servedType).toBe(
        src.keepsDigest
          ? 'application/vnd.oci.image.manifest.v1+json'
          : 'application/vnd.docker.distribution.manifest.v2+json',
      );
      const head = await http('HEAD', `${s.url}/v2/${repo}/manifests/1.0`);
      expect(head.status).toBe(200);
      expect(head.headers['docker-content-digest']).toBe(pushed);
      if (src.keepsDigest) expect(pushed).toBe(sha(await skopeo('inspect', '--raw', ref)));
      const config = JSON.parse(
        await skopeo('inspect', '--config', '--tls-verify=false', remote(`${repo}:1.0`)),
      );
      expect(config.rootfs.diff_ids).toEqual(await originalDiffIds());
      expect(await listTags(repo)).toEqual(['1.0']);
    });

    it(`berth → oci:, dir:, docker-archive: (image pushed from ${src.format})`, async () => {
      const diffIds = await originalDiffIds();
      const oci = fresh('pull-oci');
      await pull(`${repo}:1.0`, `oci:${oci}:x`);
      const layout = readLayout(oci);
      // oci: keeps an OCI manifest as it is, and converts a docker one (new digest, same layers)
      if (servedType.includes('oci')) expect(layout.digest).toBe(pushed);
      else expect(layout.digest).not.toBe(pushed);
      expect(layout.diffIds).toEqual(diffIds);
      expect(layout.configDiffIds).toEqual(diffIds);

      const dir = fresh('pull-dir');
      await pull(`${repo}:1.0`, `dir:${dir}`);
      const d = readDir(dir);
      expect(d.digest).toBe(pushed);
      expect(d.diffIds).toEqual(diffIds);

      const archive = `${fresh('pull-docker')}.tar`;
      await pull(`${repo}:1.0`, `docker-archive:${archive}:example/pulled:1.0`);
      const da = await readDockerArchive(archive, fresh('unpacked-docker'));
      expect(da.diffIds).toEqual(diffIds);
      expect(da.configDiffIds).toEqual(diffIds);
      expect(da.repoTags).toEqual(['docker.io/example/pulled:1.0']);
      // pulls change nothing
      expect(await latest(repo)).toBe(1);
    });
  }

  it('a second tag for a pushed image: one more version; the pull by digest works', async () => {
    const repo = 'fmt/oci-archive';
    const digest = await remoteDigest(`${repo}:1.0`);
    await push(`oci-archive:${fixture('app.oci.tar')}:1.0`, `${repo}:latest`);
    expect(await latest(repo)).toBe(2);
    expect(await listTags(repo)).toEqual(['1.0', 'latest']);
    const dir = fresh('by-digest');
    await pull(`${repo}@${digest}`, `dir:${dir}`);
    expect(readDir(dir).digest).toBe(digest);
  });
});

describe('skopeo copy --all of a two-platform index', () => {
  const repo = 'multi/app';

  it('keeps the index digest and both platform manifests; one version per manifest', async () => {
    const src = `oci-archive:${fixture('multi.oci.tar')}`;
    const indexBytes = await skopeo('inspect', '--raw', src);
    const index = JSON.parse(indexBytes);
    expect(index.manifests).toHaveLength(2);
    await push(src, `${repo}:1.0`, '--all');
    // berth makes one version per manifest PUT: the two platform manifests, then the index with its tag
    const versions = await versionsOf(s.url, repo);
    expect(versions.at(-1)!.number).toBe(3);
    expect(await remoteDigest(`${repo}:1.0`)).toBe(sha(indexBytes));
    for (const child of index.manifests as { digest: string; platform: { architecture: string } }[]) {
      const m = await http('GET', `${s.url}/v2/${repo}/manifests/${child.digest}`, undefined, {
        accept: 'application/vnd.oci.image.manifest.v1+json',
      });
      expect(m.status).toBe(200);
      expect(sha(m.body)).toBe(child.digest);
      const manifest = m.json();
      for (const b of [manifest.config, ...manifest.layers]) {
        expect((await http('HEAD', `${s.url}/v2/${repo}/blobs/${b.digest}`)).status).toBe(200);
      }
      // a single-platform pull picks the right child
      const dir = fresh(`platform-${child.platform.architecture}`);
      await pull(`${repo}:1.0`, `dir:${dir}`, '--override-arch', child.platform.architecture);
      expect(readDir(dir).digest).toBe(child.digest);
    }
    // and --all pulls the whole index back
    const oci = fresh('multi-oci');
    await pull(`${repo}:1.0`, `oci:${oci}:x`, '--all');
    const layout = readLayout(oci);
    expect(layout.digest).toBe(sha(indexBytes));
    for (const child of index.manifests as { digest: string }[]) expect(layout.blobs).toContain(child.digest);
    expect(await listTags(repo)).toEqual(['1.0']);
  });
});

describe('skopeo delete and list-tags', () => {
  const repo = 'del/app';

  it('deleting a tag removes the manifest and every tag on it, as one new version', async () => {
    await push(`oci-archive:${fixture('base.oci.tar')}:1.0`, `${repo}:keep`);
    await push(`oci-archive:${fixture('app.oci.tar')}:1.0`, `${repo}:1.0`);
    await push(`oci-archive:${fixture('app.oci.tar')}:1.0`, `${repo}:also`);
    expect(await latest(repo)).toBe(3);
    expect(await listTags(repo)).toEqual(['1.0', 'also', 'keep']);
    const app = await remoteDigest(`${repo}:1.0`);

    // skopeo resolves the tag and deletes the manifest by digest (DELETE /v2/<name>/manifests/<digest>)
    await skopeo('delete', '--tls-verify=false', remote(`${repo}:1.0`));
    const versions = await versionsOf(s.url, repo);
    expect(versions.at(-1)).toMatchObject({ number: 4, added: 0, removed: 3 }); // the manifest and its two tags
    expect(await listTags(repo)).toEqual(['keep']);
    expect((await http('HEAD', `${s.url}/v2/${repo}/manifests/1.0`)).status).toBe(404);
    expect((await http('HEAD', `${s.url}/v2/${repo}/manifests/also`)).status).toBe(404);
    expect((await http('HEAD', `${s.url}/v2/${repo}/manifests/${app}`)).status).toBe(404);
    await expect(pull(`${repo}:1.0`, `dir:${fresh('deleted')}`)).rejects.toThrow(
      /manifest unknown|not found/i,
    );

    // the other image is untouched and still pulls
    const dir = fresh('kept');
    await pull(`${repo}:keep`, `dir:${dir}`);
    expect(readDir(dir).digest).toBe(
      sha(await skopeo('inspect', '--raw', `oci-archive:${fixture('base.oci.tar')}`)),
    );

    // a second delete of the same image finds nothing and makes no version
    await expect(skopeo('delete', '--tls-verify=false', remote(`${repo}@${app}`))).rejects.toThrow();
    expect(await latest(repo)).toBe(4);
  });

  it('list-tags of a repository that does not exist fails with the registry error', async () => {
    await expect(listTags('no/such/repo')).rejects.toThrow(/NAME_UNKNOWN|name unknown|not found/i);
  });
});

describe('the foreign-layer image (docker schema 2, first layer foreign with urls)', () => {
  const repo = 'win/app';
  let manifest: { layers: { digest: string; mediaType: string; urls?: string[] }[] };
  let foreign: string;

  it('pushes from dir: without the foreign blob; one version; the blob answers 404 and is not stored', async () => {
    const dir = await unpack(fixture('foreign.dir.tar'), 'foreign');
    const raw = readFileSync(join(dir, 'manifest.json'));
    manifest = JSON.parse(raw.toString());
    foreign = manifest.layers[0]!.digest;
    expect(manifest.layers[0]!.urls).toEqual(['https://example.invalid/windows/base-layer']);
    expect(existsSync(join(dir, foreign.slice(7)))).toBe(true); // the dir holds its bytes; skopeo skips them

    await push(`dir:${dir}`, `${repo}:1.0`);
    expect(await latest(repo)).toBe(1);
    expect(await remoteDigest(`${repo}:1.0`)).toBe(sha(raw));

    const get = await http('GET', `${s.url}/v2/${repo}/blobs/${foreign}`);
    expect(get.status).toBe(404);
    expect(get.json().errors[0].code).toBe('BLOB_UNKNOWN');
    expect((await http('HEAD', `${s.url}/v2/${repo}/blobs/${foreign}`)).status).toBe(404);
    expect((await http('HEAD', `${s.url}/v2/${repo}/blobs/${manifest.layers[1]!.digest}`)).status).toBe(200);
    const stored = filesUnder(join(s.data, 'store'));
    expect(stored.filter((f) => f.includes(foreign.slice(7)))).toEqual([]);
    expect(fileWithBytes(join(s.data, 'store'), foreign as Digest)).toBeUndefined();
    expect(fileWithBytes(join(s.data, 'store'), manifest.layers[1]!.digest as Digest)).toBeDefined();
  });

  it('pulls back into oci: (the foreign layer stays a reference with its urls)', async () => {
    const oci = fresh('foreign-oci');
    await pull(`${repo}:1.0`, `oci:${oci}:x`);
    const layout = readLayout(oci);
    expect(layout.blobs).not.toContain(foreign);
    expect(layout.blobs).toContain(manifest.layers[1]!.digest);
    const [f, own] = layout.manifest.layers!;
    expect(f).toMatchObject({
      digest: foreign,
      mediaType: 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
      urls: ['https://example.invalid/windows/base-layer'],
    });
    expect(own!.digest).toBe(manifest.layers[1]!.digest);
    expect(layout.diffIds).toHaveLength(1);
    expect(layout.configDiffIds[1]).toBe(layout.diffIds[0]);
  });

  it('a pull into dir: fails, as on every registry: the foreign blob is not served', async () => {
    await expect(pull(`${repo}:1.0`, `dir:${fresh('foreign-dir')}`)).rejects.toThrow(
      new RegExp(`${foreign}.*404`),
    );
    expect(await latest(repo)).toBe(1);
  });
});
