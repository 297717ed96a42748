// `upload --only-missing` without a server: which entries are left out of each format, and what is streamed instead.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { pipeline } from 'node:stream/promises';
import { gzipSync } from 'node:zlib';
import tar from 'tar-stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bytesToSend, scanDir, tarOfDir } from './image-dir.js';
import { findLayers, layerDigestsHeld, normalizeName, type ArchiveView } from '../archive/layer-refs.js';
import { chooseOmissions } from './omissions.js';
import { filteredTar, isGzip, scanTar, type TarFile } from './tar-file.js';

const FIXTURES = join(import.meta.dirname, '..', '..', '..', 'shared', 'fixtures');
const work = mkdtempSync(join(tmpdir(), 'berth-cli-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const tarFile = async (path: string): Promise<TarFile> => ({
  path,
  size: statSync(path).size,
  gzip: await isGzip(path),
});
const fixture = (name: string): Promise<TarFile> => tarFile(join(FIXTURES, name));

interface Item {
  type: string;
  body: Buffer;
  linkname?: string;
}

/** The entries of a tar stream by normalized name. */
async function entriesOf(stream: Readable): Promise<Map<string, Item>> {
  const out = new Map<string, Item>();
  const extract = tar.extract();
  const reading = pipeline(stream, extract);
  reading.catch(() => {}); // awaited below, unless the iteration fails first
  for await (const e of extract) {
    const { name, type, linkname } = e.header;
    out.set(normalizeName(name), { type, body: await buffer(e), ...(linkname ? { linkname } : {}) });
  }
  await reading;
  return out;
}

type Spec = { name: string; body?: string | Buffer; linkname?: string };

/** Writes a tar made in code (optionally gzip-compressed) and returns it as an upload source. */
async function writeTar(fileName: string, specs: Spec[], gzip = false): Promise<TarFile> {
  const pack = tar.pack();
  for (const s of specs) {
    if (s.linkname) pack.entry({ name: s.name, type: 'symlink', linkname: s.linkname });
    else pack.entry({ name: s.name }, s.body ?? '');
  }
  pack.finalize();
  const bytes = await buffer(Readable.from(pack));
  const path = join(work, fileName);
  writeFileSync(path, gzip ? gzipSync(bytes) : bytes);
  return tarFile(path);
}

/** What the tar file would stream when the repository holds the layers `present`. */
async function leaveOut(file: TarFile, present: Iterable<string>) {
  const view = await scanTar(file);
  const omissions = chooseOmissions(view, await findLayers(view), new Set(present));
  const sent = await entriesOf(filteredTar(file, omissions.paths));
  return { view, omissions, sent };
}

const layersOf = async (file: TarFile): Promise<string[]> => {
  const view = await scanTar(file);
  return layerDigestsHeld(view, await findLayers(view));
};

const APP_CONFIG_HEX = '80895be1a14c6c47ca80769005d80f073657f763728ec6f25f1a65a05e4971bb';
const D = (c: string): string => `sha256:${c.repeat(64)}`;
const hex = (d: string): string => d.slice('sha256:'.length);
const ociManifest = (
  config: string,
  layers: string[],
  layerType = 'application/vnd.oci.image.layer.v1.tar+gzip',
) =>
  JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: config, size: 2 },
    layers: layers.map((digest) => ({ mediaType: layerType, digest, size: 4 })),
  });

describe('the sample archives, when the repository already holds base', () => {
  it('skopeo dir: app.dir.tar is sent as app.dir.partial.tar', async () => {
    const app = await fixture('app.dir.tar');
    const { omissions, sent } = await leaveOut(app, await layersOf(await fixture('base.dir.tar')));
    const partial = await entriesOf(Readable.from(readFileSync(join(FIXTURES, 'app.dir.partial.tar'))));
    expect([...sent.keys()].filter((n) => n !== '').sort()).toEqual([...partial.keys()].sort());
    for (const [name, item] of partial) expect(sent.get(name)?.body.equals(item.body), name).toBe(true);
    expect(omissions.present).toEqual({ blobs: 2, bytes: 102708 + 20760 });
    expect(omissions.foreign).toEqual({ blobs: 0, bytes: 0 });
  });

  it('oci-archive: leaves out the two blobs, keeps index, manifest, config and the own layer', async () => {
    const { omissions, sent } = await leaveOut(
      await fixture('app.oci.tar'),
      await layersOf(await fixture('base.oci.tar')),
    );
    expect(omissions.present.blobs).toBe(2);
    expect([...sent.keys()].sort()).toEqual([
      'blobs',
      'blobs/sha256',
      'blobs/sha256/72430bce010502914e83247f8abe5face2963e7c78fca70499a82d9649ed82ac',
      'blobs/sha256/7a389252b9fcf7ff716089da44e51a267f0fa2f67d6c35660ef2237c7e31f8fc',
      'blobs/sha256/80895be1a14c6c47ca80769005d80f073657f763728ec6f25f1a65a05e4971bb',
      'index.json',
      'oci-layout',
    ]);
  });

  it('docker-archive: leaves out the layer files by diff ID, and the symlinks to them', async () => {
    const app = await fixture('app.docker.tar');
    const { view, omissions, sent } = await leaveOut(app, await layersOf(await fixture('base.docker.tar')));
    expect(omissions.present).toEqual({ blobs: 2, bytes: 112640 + 30720 });
    const gone = [...view.entries.keys()].filter((n) => !sent.has(n)).sort();
    expect(gone).toEqual([
      '2e5cac3c6ea8056ef51955902b2e8fe149e959c4c284afe213002b0e95b1ed73/layer.tar',
      '3bf348a5fec803e74655bc0b57116a110cd755a2efe76d25d6700ad62d3afe3d/layer.tar',
      '724e8b52d9be6140cf60ab34f5ac2dd0fb2618ae105e16ad47797177aefc4dfe.tar',
      'a89790c739c35a84844f0775a672698d5e08d24063560e04646651dd847887ff.tar',
    ]);
    // what app.docker.partial.tar holds is all still there, byte for byte
    const partial = await entriesOf(Readable.from(readFileSync(join(FIXTURES, 'app.docker.partial.tar'))));
    for (const [name, item] of partial) expect(sent.get(name)?.body.equals(item.body), name).toBe(true);
  });

  it('reads a gzip-compressed archive and sends it uncompressed', async () => {
    const gz = join(work, 'app.oci.tar.gz');
    writeFileSync(gz, gzipSync(readFileSync(join(FIXTURES, 'app.oci.tar'))));
    const file = await tarFile(gz);
    expect(file.gzip).toBe(true);
    const { omissions, sent } = await leaveOut(file, await layersOf(await fixture('base.oci.tar')));
    expect(omissions.present.blobs).toBe(2);
    expect(sent.get('index.json')?.body.toString()).toContain('"schemaVersion":2');
  });

  it('leaves out a foreign layer even when the repository holds nothing', async () => {
    const { omissions, sent } = await leaveOut(await fixture('foreign.dir.tar'), []);
    expect(omissions.foreign).toEqual({ blobs: 1, bytes: 65795 });
    expect(omissions.present.blobs).toBe(0);
    const without = await entriesOf(
      Readable.from(readFileSync(join(FIXTURES, 'foreign.dir.without-foreign.tar'))),
    );
    expect([...sent.keys()].sort()).toEqual([...without.keys()].sort());
  });

  it('leaves out nothing when the repository holds nothing', async () => {
    const app = await fixture('app.docker.tar');
    const { view, omissions, sent } = await leaveOut(app, []);
    expect(omissions.paths.size).toBe(0);
    expect(sent.size).toBe(view.entries.size);
  });
});

describe('archives made in code', () => {
  it('skopeo dir version 1.0: blobs are named <hex>.tar', async () => {
    const [config, l1, l2] = [D('c'), D('1'), D('2')];
    const file = await writeTar('v10.tar', [
      { name: 'version', body: 'Directory Transport Version: 1.0\n' },
      { name: 'manifest.json', body: ociManifest(config, [l1, l2]) },
      { name: `${hex(config)}.tar`, body: '{}' },
      { name: `${hex(l1)}.tar`, body: 'one!' },
      { name: `${hex(l2)}.tar`, body: 'two!' },
    ]);
    const { sent } = await leaveOut(file, [l1, config]);
    expect([...sent.keys()]).toEqual(['version', 'manifest.json', `${hex(config)}.tar`, `${hex(l2)}.tar`]);
  });

  it('skopeo dir of several images: child manifests are <hex>.manifest.json', async () => {
    const [m1, m2, c1, c2, l1, l2] = [D('a'), D('b'), D('c'), D('d'), D('1'), D('2')];
    const index = JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: [m1, m2].map((digest) => ({
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        digest,
        size: 9,
      })),
    });
    const file = await writeTar('multi-dir.tar', [
      { name: './version', body: 'Directory Transport Version: 1.1\n' },
      { name: './manifest.json', body: index },
      { name: `./${hex(m1)}.manifest.json`, body: ociManifest(c1, [l1]) },
      { name: `./${hex(m2)}.manifest.json`, body: ociManifest(c2, [l2]) },
      { name: `./${hex(c1)}`, body: '{}' },
      { name: `./${hex(c2)}`, body: '{}' },
      { name: `./${hex(l1)}`, body: 'one!' },
      { name: `./${hex(l2)}`, body: 'two!' },
    ]);
    const { sent, omissions } = await leaveOut(file, [l2]);
    expect(sent.has(hex(l1))).toBe(true);
    expect(sent.has(hex(l2))).toBe(false);
    expect(sent.size).toBe(7);
    expect(omissions.present).toEqual({ blobs: 1, bytes: 4 });
  });

  it('docker-archive whose Layers path is a symlink: leaves out the link and its target', async () => {
    const [d1, d2] = [D('1'), D('2')];
    const file = await writeTar('docker-links.tar', [
      {
        name: 'manifest.json',
        body: JSON.stringify([{ Config: 'c.json', Layers: ['x/layer.tar', 'y/layer.tar'] }]),
      },
      { name: 'c.json', body: JSON.stringify({ rootfs: { type: 'layers', diff_ids: [d1, d2] } }) },
      { name: `${hex(d1)}.tar`, body: 'one!' },
      { name: 'x/layer.tar', linkname: `../${hex(d1)}.tar` },
      { name: 'y/layer.tar', body: 'two!' },
    ]);
    const { sent, omissions } = await leaveOut(file, [d1]);
    expect([...sent.keys()]).toEqual(['manifest.json', 'c.json', 'y/layer.tar']);
    expect(omissions.present).toEqual({ blobs: 1, bytes: 4 });
  });

  it('never leaves out a manifest or config, even one that shares a layer digest', async () => {
    const same = D('e');
    const file = await writeTar('shared-digest.tar', [
      { name: 'manifest.json', body: ociManifest(same, [same]) },
      { name: hex(same), body: '{}' },
    ]);
    const { sent, omissions } = await leaveOut(file, [same]);
    expect(omissions.paths.size).toBe(0);
    expect(sent.size).toBe(2);
  });

  it('names the file when a tar is damaged', async () => {
    const path = join(work, 'damaged.tar');
    writeFileSync(path, readFileSync(join(FIXTURES, 'app.oci.tar')).subarray(0, 100_000));
    await expect(scanTar(await tarFile(path))).rejects.toThrow(`${path} is not a readable tar archive`);
    await expect(entriesOf(filteredTar(await tarFile(path), new Set()))).rejects.toThrow(
      'is not a readable tar archive',
    );
  });

  it('keeps only small JSON files in memory while scanning', async () => {
    const view = await scanTar(await fixture('app.dir.tar'));
    expect(await view.readJson('manifest.json')).toBeDefined();
    expect(await view.readJson(APP_CONFIG_HEX)).toBeDefined();
    expect(await view.readJson('version')).toBeUndefined();
    expect(
      await view.readJson('cc4be87afaaf632e496fe6283eafea968186687fbfa89ec759ab50bfe857155e'),
    ).toBeUndefined();
  });
});

describe('a skopeo dir given as a directory', () => {
  const dir = join(work, 'app-dir');

  let view: ArchiveView;
  beforeAll(async () => {
    mkdirSync(join(dir, 'sub'), { recursive: true });
    for (const [name, item] of await entriesOf(Readable.from(readFileSync(join(FIXTURES, 'app.dir.tar'))))) {
      if (item.type === 'file') writeFileSync(join(dir, name), item.body);
    }
    writeFileSync(join(dir, 'sub', 'extra'), 'x');
    symlinkSync('manifest.json', join(dir, 'link'));
    view = await scanDir(dir);
  });

  it('streams its regular files, small ones first, named without "./"', async () => {
    expect(view.entries.has('link')).toBe(false);
    const sent = await entriesOf(tarOfDir(dir, view, new Set()));
    const names = [...sent.keys()];
    expect(names.slice(0, 4)).toEqual(['sub/extra', 'version', APP_CONFIG_HEX, 'manifest.json']);
    expect(names).toHaveLength(7);
    expect(sent.get('manifest.json')?.body.equals(readFileSync(join(dir, 'manifest.json')))).toBe(true);
  });

  it('leaves out the layers the repository holds', async () => {
    const found = await findLayers(view);
    const omissions = chooseOmissions(view, found, new Set(await layersOf(await fixture('base.dir.tar'))));
    const counted: number[] = [];
    const sent = await entriesOf(tarOfDir(dir, view, omissions.paths, (n) => counted.push(n)));
    expect(sent.has('cc4be87afaaf632e496fe6283eafea968186687fbfa89ec759ab50bfe857155e')).toBe(false);
    expect(sent.has('72430bce010502914e83247f8abe5face2963e7c78fca70499a82d9649ed82ac')).toBe(true);
    expect(counted.reduce((a, b) => a + b, 0)).toBe(bytesToSend(view, omissions.paths));
  });
});
