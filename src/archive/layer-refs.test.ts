// Finding the layers of the sample archives in shared/fixtures, for each of the three formats.
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  findLayers,
  layerDigestsHeld,
  looksLikeJson,
  normalizeName,
  symlinkTarget,
  type ArchiveEntry,
  type ArchiveView,
} from './layer-refs.js';
import { scanTar } from '../cli/tar-file.js';

const FIXTURES = join(import.meta.dirname, '..', '..', '..', 'shared', 'fixtures');
const scanFixture = (name: string): Promise<ArchiveView> => {
  const path = join(FIXTURES, name);
  return scanTar({ path, size: statSync(path).size, gzip: false });
};

// the layers of the fixture images: base has two, app adds one (gzip blobs, and their diff IDs in docker-archive)
const BLOB = {
  base100k: 'sha256:cc4be87afaaf632e496fe6283eafea968186687fbfa89ec759ab50bfe857155e',
  base20k: 'sha256:b0cf0e0c764b27cdb245a32076e0a549e4661034ac32b8fba6a4e4d457d312dd',
  app50k: 'sha256:72430bce010502914e83247f8abe5face2963e7c78fca70499a82d9649ed82ac',
};
const DIFF_ID = {
  base100k: 'sha256:a89790c739c35a84844f0775a672698d5e08d24063560e04646651dd847887ff',
  base20k: 'sha256:724e8b52d9be6140cf60ab34f5ac2dd0fb2618ae105e16ad47797177aefc4dfe',
  app50k: 'sha256:16d86c0ed60a774a5f09b4f2f2f00e9e7a66c329505dfdf8f6a0d918ebe2c6b5',
};
const APP_CONFIG = '80895be1a14c6c47ca80769005d80f073657f763728ec6f25f1a65a05e4971bb';
const hex = (d: string): string => d.slice('sha256:'.length);

describe('findLayers', () => {
  it('reads a skopeo dir tar: manifest.json, blobs named by hex', async () => {
    const found = await findLayers(await scanFixture('app.dir.tar'));
    expect(found.format).toBe('dir');
    expect(found.layers).toEqual(
      [BLOB.base100k, BLOB.base20k, BLOB.app50k].map((d) => ({ digest: d, paths: [hex(d)], foreign: false })),
    );
    expect([...found.metadata]).toEqual(['manifest.json', 'version', APP_CONFIG]);
  });

  it('reads an oci-archive: layers of the manifests reachable from index.json', async () => {
    const found = await findLayers(await scanFixture('app.oci.tar'));
    expect(found.format).toBe('oci-archive');
    expect(found.layers.map((l) => l.digest)).toEqual([BLOB.base100k, BLOB.base20k, BLOB.app50k]);
    expect(found.layers[0]?.paths).toEqual([`blobs/sha256/${hex(BLOB.base100k)}`]);
    expect(found.metadata).toContain(`blobs/sha256/${APP_CONFIG}`);
    expect(found.metadata).toContain(
      'blobs/sha256/7a389252b9fcf7ff716089da44e51a267f0fa2f67d6c35660ef2237c7e31f8fc',
    );
  });

  it('follows an oci-archive index through a nested image index to each platform manifest', async () => {
    const found = await findLayers(await scanFixture('multi.oci.tar'));
    expect(found.layers.map((l) => hex(l.digest))).toEqual([
      '800bea91ae3ced30f4d96d44f4fff9f5babc02fc9dcc415b8229b8f588e3cb8e',
      '05b6a5572c65dd28734319ed81a155e8a893c43215dd40272086295d818c80cb',
    ]);
    // the nested index, both manifests and both configs are metadata
    expect(found.metadata.size).toBe(2 + 5);
  });

  it('reads a docker-archive: Layers paths, known by the diff IDs of the config', async () => {
    const found = await findLayers(await scanFixture('app.docker.tar'));
    expect(found.format).toBe('docker-archive');
    expect(found.layers).toEqual(
      [DIFF_ID.base100k, DIFF_ID.base20k, DIFF_ID.app50k].map((d) => ({
        digest: d,
        paths: [`${hex(d)}.tar`],
        foreign: false,
      })),
    );
    expect([...found.metadata]).toEqual(['manifest.json', `${APP_CONFIG}.json`]);
  });

  it('marks foreign layers and does not ask about them', async () => {
    const view = await scanFixture('foreign.dir.tar');
    const found = await findLayers(view);
    expect(found.layers.map((l) => [hex(l.digest).slice(0, 8), l.foreign])).toEqual([
      ['b37e7b32', true],
      ['0359efbf', false],
    ]);
    expect(layerDigestsHeld(view, found).map((d) => hex(d).slice(0, 8))).toEqual(['0359efbf']);
  });

  it('asks only about layers the archive holds bytes for', async () => {
    const view = await scanFixture('app.dir.partial.tar');
    expect(layerDigestsHeld(view, await findLayers(view))).toEqual([BLOB.app50k]);
  });

  it('reads a docker save of Docker 25+ (index.json beside a manifest.json list) as a docker-archive, as the server does', async () => {
    const layer = { digest: DIFF_ID.app50k, path: `blobs/sha256/${hex(DIFF_ID.app50k)}` };
    const config = Buffer.from(JSON.stringify({ rootfs: { type: 'layers', diff_ids: [layer.digest] } }));
    const configPath = `blobs/sha256/${APP_CONFIG}`;
    const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, config: {}, layers: [] }));
    const json: Record<string, Buffer> = {
      'manifest.json': Buffer.from(JSON.stringify([{ Config: configPath, Layers: [layer.path] }])),
      'index.json': Buffer.from(JSON.stringify({ schemaVersion: 2, manifests: [] })),
      'oci-layout': Buffer.from('{"imageLayoutVersion":"1.0.0"}'),
      [configPath]: config,
      [`blobs/sha256/${'e'.repeat(64)}`]: manifest,
    };
    const entries = new Map<string, ArchiveEntry>(
      [...Object.keys(json), layer.path].map((name) => [name, { name, type: 'file', size: 1 }]),
    );
    const found = await findLayers({ entries, readJson: async (n) => json[n] });
    expect(found.format).toBe('docker-archive');
    expect(found.layers).toEqual([{ digest: layer.digest, paths: [layer.path], foreign: false }]);
    expect([...found.metadata]).toEqual(['manifest.json', configPath]);
  });

  it('says what it expected of an archive it does not recognise', async () => {
    const view: ArchiveView = { entries: new Map(), readJson: async () => undefined };
    await expect(findLayers(view)).rejects.toMatchObject({
      code: 'ARCHIVE_INVALID',
      message: expect.stringContaining('found neither index.json'),
    });
  });

  it('names the docker-archive entry whose config is missing', async () => {
    const manifest = Buffer.from(JSON.stringify([{ Config: 'nope.json', Layers: [] }]));
    const entries = new Map([
      ['manifest.json', { name: 'manifest.json', type: 'file', size: 1 } as ArchiveEntry],
    ]);
    const view: ArchiveView = {
      entries,
      readJson: async (n) => (n === 'manifest.json' ? manifest : undefined),
    };
    await expect(findLayers(view)).rejects.toThrow('manifest.json[0].Config "nope.json" is not a JSON file');
  });
});

describe('entry names', () => {
  it('normalizes tar names', () => {
    expect(normalizeName('./manifest.json')).toBe('manifest.json');
    expect(normalizeName('./')).toBe('');
    expect(normalizeName('blobs/sha256/')).toBe('blobs/sha256');
    expect(normalizeName('/abs/x')).toBe('abs/x');
  });

  it('resolves a symlink relative to its folder', () => {
    const link: ArchiveEntry = { name: 'abc/layer.tar', type: 'symlink', size: 0, linkname: '../def.tar' };
    expect(symlinkTarget(link)).toBe('def.tar');
    expect(symlinkTarget({ name: 'x', type: 'file', size: 1 })).toBeUndefined();
  });

  it('tells JSON from layer bytes', () => {
    expect(looksLikeJson(Buffer.from('  \n{"a":1}'))).toBe(true);
    expect(looksLikeJson(Buffer.from('[1]'))).toBe(true);
    expect(looksLikeJson(Buffer.from([0x1f, 0x8b, 8, 0]))).toBe(false);
    expect(looksLikeJson(Buffer.from('Directory Transport Version: 1.1'))).toBe(false);
  });
});
