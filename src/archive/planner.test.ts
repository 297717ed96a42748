// The import planner over an in-memory read port: DESIGN.md's table of the archive upload, blob by blob.
import { describe, expect, it } from 'vitest';
import { sha256, type Digest } from '../core/digest.js';
import { parseManifest, type Descriptor } from '../core/manifests.js';
import { MediaTypes } from '../core/media-types.js';
import { BerthError } from '../core/errors.js';
import type { ArchiveContents, ArchiveManifest, DockerImage } from './contents.js';
import { planImport, type HeldContent, type HeldLayer } from './planner.js';
import type { StagedFile } from './staging.js';

/** The destination repository's latest version, as a plain object implementing the port. */
class HeldInMemory implements HeldContent {
  readonly asked: { holds: Digest[][]; layersByDiffId: Digest[][]; checkChildren: Digest[][] } = {
    holds: [],
    layersByDiffId: [],
    checkChildren: [],
  };
  constructor(
    private readonly digests: Digest[] = [],
    private readonly layers: Record<Digest, HeldLayer> = {},
    /** children the port refuses (in berth: digests the repository holds only as blobs) */
    private readonly refusedChildren: Digest[] = [],
  ) {}
  async checkChildren(children: Digest[]): Promise<void> {
    this.asked.checkChildren.push(children);
    const bad = children.filter((d) => this.refusedChildren.includes(d));
    if (bad.length > 0) throw new BerthError('MANIFEST_BLOB_UNKNOWN', 'not manifests', { missing: bad });
  }
  async holds(digests: Digest[]): Promise<ReadonlySet<string>> {
    this.asked.holds.push(digests);
    return new Set(digests.filter((d) => this.digests.includes(d)));
  }
  async layersByDiffId(diffIds: Digest[]): Promise<Map<Digest, HeldLayer>> {
    this.asked.layersByDiffId.push(diffIds);
    return new Map(diffIds.filter((d) => this.layers[d]).map((d) => [d, this.layers[d]!]));
  }
}

let n = 0;
const file = (bytes: string | Buffer): StagedFile => ({
  name: `f${n}`,
  key: `staging/test/${n++}`,
  digest: sha256(bytes),
  size: Buffer.byteLength(bytes),
});
const desc = (f: StagedFile, mediaType: string): Descriptor => ({
  mediaType,
  digest: f.digest,
  size: f.size,
});

const config = file('{"rootfs":{"type":"layers","diff_ids":[]}}');
const layerA = file('layer a');
const layerB = file('layer b');
const foreign = file('foreign bytes');

/** An OCI image manifest naming `config` and `layers`, as an archive would carry it. */
function manifestOf(layers: Descriptor[]): ArchiveManifest {
  const bytes = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaTypes.ociManifest,
      config: desc(config, MediaTypes.ociConfig),
      layers,
    }),
  );
  const f = file(bytes);
  return { digest: f.digest, size: f.size, parsed: parseManifest(bytes), file: f };
}

/** An oci-archive of the given manifests (the first the root, tagged `tags`) holding the files `held`. */
function ociArchive(manifests: ArchiveManifest[], inTar: StagedFile[], tags: string[] = []): ArchiveContents {
  return {
    format: 'oci-archive',
    roots: [{ digest: manifests[0]!.digest, tags }],
    manifests: new Map(manifests.map((m) => [m.digest, m])),
    absentManifests: new Set(),
    docker: [],
    blob: (d) => inTar.find((f) => f.digest === d),
  };
}

describe('planImport', () => {
  it('uploads the blobs the archive holds, and asks the repository about nothing', async () => {
    const m = manifestOf([desc(layerA, MediaTypes.ociLayerGzip)]);
    const held = new HeldInMemory();
    const plan = await planImport(held, 'r', ociArchive([m], [config, layerA], ['v1']));
    expect([...plan.upload.keys()].sort()).toEqual([config.digest, layerA.digest].sort());
    expect(plan.fromRepository.size).toBe(0);
    expect(plan.manifests).toMatchObject([{ digest: m.digest, tags: ['v1'], root: true, source: m.file }]);
    expect(held.asked.holds).toEqual([]);
  });

  it('reuses a blob left out of the archive that the repository holds', async () => {
    const m = manifestOf([desc(layerA, MediaTypes.ociLayerGzip), desc(layerB, MediaTypes.ociLayerGzip)]);
    const plan = await planImport(new HeldInMemory([layerA.digest]), 'r', ociArchive([m], [config, layerB]));
    expect([...plan.fromRepository]).toEqual([layerA.digest]);
    expect(plan.reused).toBe(1);
    expect([...plan.upload.keys()]).not.toContain(layerA.digest);
  });

  it('fails naming every blob that is neither in the archive nor in the repository', async () => {
    const m = manifestOf([desc(layerA, MediaTypes.ociLayerGzip), desc(layerB, MediaTypes.ociLayerGzip)]);
    // the port answers for the destination repository only: bytes berth holds for others do not count
    const e = planImport(new HeldInMemory([]), 'dest', ociArchive([m], [config]));
    await expect(e).rejects.toMatchObject({
      code: 'BLOB_UNKNOWN',
      detail: { repository: 'dest', missing: [layerA.digest, layerB.digest] },
    });
  });

  it('neither stores nor requires a foreign layer, even when the tar holds its bytes', async () => {
    const m = manifestOf([
      { ...desc(foreign, MediaTypes.dockerForeignLayer), urls: ['https://example.com/l'] },
      desc(layerA, MediaTypes.ociLayerGzip),
    ]);
    const held = new HeldInMemory();
    const plan = await planImport(held, 'r', ociArchive([m], [config, layerA, foreign]));
    expect([...plan.foreign]).toEqual([foreign.digest]);
    expect([...plan.upload.keys()]).not.toContain(foreign.digest);
    expect(plan.fromRepository.size).toBe(0);
    expect(held.asked.holds).toEqual([]);
  });

  it('refuses a blob whose size in the archive differs from the manifest', async () => {
    const m = manifestOf([{ ...desc(layerA, MediaTypes.ociLayerGzip), size: layerA.size + 1 }]);
    await expect(
      planImport(new HeldInMemory(), 'r', ociArchive([m], [config, layerA])),
    ).rejects.toMatchObject({
      code: 'SIZE_INVALID',
    });
  });

  it('plans child manifests before the index; children left out are checked by the port, not required', async () => {
    const child = manifestOf([desc(layerA, MediaTypes.ociLayerGzip)]);
    const absent: Digest = `sha256:${'c'.repeat(64)}`;
    const indexBytes = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MediaTypes.ociIndex,
        manifests: [
          { mediaType: MediaTypes.ociManifest, digest: child.digest, size: child.size },
          { mediaType: MediaTypes.ociManifest, digest: absent, size: 10 },
        ],
      }),
    );
    const f = file(indexBytes);
    const index: ArchiveManifest = {
      digest: f.digest,
      size: f.size,
      parsed: parseManifest(indexBytes),
      file: f,
    };
    const contents = { ...ociArchive([index, child], [config, layerA]), absentManifests: new Set([absent]) };
    const held = new HeldInMemory();
    const plan = await planImport(held, 'r', contents);
    expect(plan.manifests.map((m) => m.digest)).toEqual([child.digest, index.digest]);
    expect([...plan.absentChildren]).toEqual([absent]);
    expect(plan.fromRepository.size).toBe(0); // a child manifest is not a blob
    expect(plan.reused).toBe(0);
    expect(held.asked.checkChildren).toEqual([[absent]]);
    await expect(planImport(new HeldInMemory([], {}, [absent]), 'r', contents)).rejects.toMatchObject({
      code: 'MANIFEST_BLOB_UNKNOWN',
      detail: { missing: [absent] },
    });
  });

  it('adds the tag of the request to the one image, and refuses it for several', async () => {
    const m = manifestOf([desc(layerA, MediaTypes.ociLayerGzip)]);
    const plan = await planImport(new HeldInMemory(), 'r', ociArchive([m], [config, layerA], ['a']), 'b');
    expect(plan.manifests[0]!.tags).toEqual(['a', 'b']);
    const two = ociArchive([m, manifestOf([])], [config, layerA]);
    two.roots.push({ digest: [...two.manifests.keys()][1]!, tags: [] });
    await expect(planImport(new HeldInMemory(), 'r', two, 'b')).rejects.toMatchObject({
      code: 'TAG_INVALID',
      message: expect.stringContaining('holds 2 images'),
    });
    const bad = ociArchive([m], [config, layerA], ['bad tag!']);
    await expect(planImport(new HeldInMemory(), 'r', bad)).rejects.toMatchObject({ code: 'TAG_INVALID' });
  });
});

describe('planImport of a docker-archive', () => {
  const diffA = layerA.digest; // an uncompressed layer's digest is its diff ID
  const diffB = layerB.digest;
  const image = (layers: DockerImage['layers']): ArchiveContents => ({
    format: 'docker-archive',
    roots: [],
    manifests: new Map(),
    absentManifests: new Set(),
    docker: [{ config, configBytes: Buffer.alloc(0), layers, tags: ['latest'] }],
    blob: () => undefined,
  });

  it('writes an OCI manifest: layers of the tar as they are, a layer left out as the repository holds it', async () => {
    const gz: HeldLayer = { digest: sha256('b gzip'), mediaType: MediaTypes.dockerLayer, size: 6 };
    const held = new HeldInMemory([gz.digest], { [diffB]: gz });
    const plan = await planImport(
      held,
      'r',
      image([{ diffId: diffA, file: layerA }, { diffId: diffB }]),
      'v2',
    );
    expect(held.asked.layersByDiffId).toEqual([[diffB]]);
    const [m] = plan.manifests;
    expect(m!.source).toBeInstanceOf(Buffer);
    expect(m!.digest).toBe(sha256(m!.source as Buffer));
    expect(m!.tags).toEqual(['latest', 'v2']);
    expect(m!.parsed.config?.digest).toBe(config.digest);
    expect(m!.parsed.layers).toEqual([
      { mediaType: MediaTypes.ociLayer, digest: layerA.digest, size: layerA.size },
      { mediaType: MediaTypes.ociLayerGzip, digest: gz.digest, size: gz.size },
    ]);
    expect([...plan.upload.keys()].sort()).toEqual([config.digest, layerA.digest].sort());
    expect([...plan.fromRepository]).toEqual([gz.digest]);
    expect(plan.reused).toBe(1);
  });

  it('fails naming every diff ID the repository has no layer for', async () => {
    const e = planImport(new HeldInMemory(), 'r', image([{ diffId: diffA }, { diffId: diffB }]));
    await expect(e).rejects.toMatchObject({
      code: 'BLOB_UNKNOWN',
      message: expect.stringContaining('(by diff ID)'),
      detail: { missing: [diffA, diffB] },
    });
  });

  it('keeps a foreign layer in the manifest with its urls, and does not ask about it', async () => {
    const source = { ...desc(foreign, MediaTypes.dockerForeignLayer), urls: ['https://example.com/f'] };
    const held = new HeldInMemory();
    const plan = await planImport(held, 'r', image([{ diffId: diffA, foreign: source }]));
    expect(held.asked.layersByDiffId).toEqual([]);
    expect(plan.manifests[0]!.parsed.layers[0]).toMatchObject({ digest: foreign.digest, urls: source.urls });
    expect([...plan.foreign]).toEqual([foreign.digest]);
    expect([...plan.upload.keys()]).toEqual([config.digest]);
  });
});
