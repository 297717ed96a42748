// The one detection order of image layouts, which the server's readers and the CLI's layer listing share.
import { describe, expect, it } from 'vitest';
import { detectLayout, dockerEntries, type LayoutProbe } from './layout.js';

/** An archive of the given files (top-level unless named with a folder); manifest.json's reads are counted. */
function probe(files: Record<string, unknown>): LayoutProbe & { reads: number } {
  const p = {
    reads: 0,
    has: (name: string) => name in files,
    manifestJson: async () => {
      p.reads += 1;
      return Buffer.from(JSON.stringify(files['manifest.json']));
    },
    names: () => Object.keys(files),
  };
  return p;
}

const dockerList = [{ Config: 'c.json', Layers: ['l.tar'], RepoTags: ['a:b'] }];

describe('detectLayout', () => {
  it('reads a manifest.json list as a docker-archive even beside index.json (docker save of Docker 25+)', async () => {
    const found = await detectLayout(
      probe({ 'manifest.json': dockerList, 'index.json': {}, 'oci-layout': {} }),
    );
    expect(found.format).toBe('docker-archive');
    expect(found.format === 'docker-archive' && found.list).toEqual(dockerList);
  });

  it('reads a manifest.json object as a skopeo dir, even beside index.json', async () => {
    const found = await detectLayout(probe({ 'manifest.json': { schemaVersion: 2 }, 'index.json': {} }));
    expect(found.format).toBe('dir');
  });

  it('reads index.json without manifest.json as an oci-archive, without asking for manifest.json', async () => {
    const p = probe({ 'index.json': {}, 'oci-layout': {} });
    expect((await detectLayout(p)).format).toBe('oci-archive');
    expect(p.reads).toBe(0);
  });

  it('says what it expected of an archive holding neither', async () => {
    await expect(detectLayout(probe({ version: 'x' }))).rejects.toMatchObject({
      code: 'ARCHIVE_INVALID',
      message: expect.stringMatching(/holds no manifest: found neither index\.json .* nor manifest\.json/),
    });
  });

  it('an archive made of the folder rather than its content: names the manifest.json found and how to make it again', async () => {
    const p = probe({
      'app-dir/': {},
      'app-dir/blobs/sha256/aa/index.json': {},
      'app-dir/manifest.json': {},
      'app-dir/version': 'x',
    });
    await expect(detectLayout(p)).rejects.toMatchObject({
      code: 'ARCHIVE_INVALID',
      message:
        'the archive holds no manifest at its top level, but it has app-dir/manifest.json: it was made of the ' +
        'folder app-dir rather than of what is in it; make it again with: tar -C app-dir -cf image.tar .',
    });
  });

  it('refuses a manifest.json that is not JSON', async () => {
    const p: LayoutProbe = {
      has: (n) => n === 'manifest.json',
      manifestJson: async () => Buffer.from('{'),
      names: () => ['manifest.json'],
    };
    await expect(detectLayout(p)).rejects.toMatchObject({ code: 'MANIFEST_INVALID' });
  });
});

describe('dockerEntries', () => {
  it('checks the fields berth reads', () => {
    expect(dockerEntries(dockerList)).toEqual(dockerList);
    expect(() => dockerEntries([])).toThrow('lists no images');
    expect(() => dockerEntries([{ Layers: [] }])).toThrow('manifest.json[0].Config is missing');
    expect(() => dockerEntries([{ Config: 'c', Layers: [1] }])).toThrow('Layers must be a list');
    expect(() => dockerEntries([{ Config: 'c', Layers: [], RepoTags: 'a' }])).toThrow('RepoTags');
  });
});
