// Covers src/core/manifests.ts: parsing OCI and Docker manifests and indexes, refusals with their messages, requiredBlobs, configDiffIds.
import { describe, expect, it } from 'vitest';
import { sha256, type Digest } from './digest.js';
import { MediaTypes } from './media-types.js';
import {
  configDiffIds,
  MAX_MANIFEST_BYTES,
  parseManifest,
  requiredBlobs,
  type ParsedManifest,
} from './manifests.js';
import { errorOf } from '../../test/helpers/errors.js';

const json = (o: unknown): Buffer => Buffer.from(JSON.stringify(o));

/** A copy of `o` without the field `key`. */
function without(o: Record<string, unknown>, key: string): Record<string, unknown> {
  const copy = { ...o };
  delete copy[key];
  return copy;
}

const desc = (mediaType: string, content: string, extra: Record<string, unknown> = {}) => ({
  mediaType,
  digest: sha256(content),
  size: Buffer.byteLength(content),
  ...extra,
});

const config = desc(MediaTypes.ociConfig, '{"config":1}');
const layer1 = desc(MediaTypes.ociLayerGzip, 'layer one');
const layer2 = desc(MediaTypes.ociLayer, 'layer two', { annotations: { 'org.example': 'x' } });

function ociManifest(extra: Record<string, unknown> = {}) {
  return { schemaVersion: 2, mediaType: MediaTypes.ociManifest, config, layers: [layer1, layer2], ...extra };
}

describe('parseManifest: OCI', () => {
  it('parses an image manifest into its config and layers', () => {
    const p = parseManifest(json(ociManifest({ annotations: { a: 'b' } })));
    expect(p.mediaType).toBe(MediaTypes.ociManifest);
    expect(p.kind).toBe('image');
    expect(p.config).toEqual(config);
    expect(p.layers).toEqual([layer1, layer2]);
    expect(p.manifests).toEqual([]);
    expect(p.annotations).toEqual({ a: 'b' });
  });

  it('keeps subject and artifactType', () => {
    const subject = desc(MediaTypes.ociManifest, 'subject manifest');
    const p = parseManifest(json(ociManifest({ subject, artifactType: 'application/vnd.example.sbom' })));
    expect(p.subject).toEqual(subject);
    expect(p.artifactType).toBe('application/vnd.example.sbom');
  });

  it('parses an index into its child manifests, keeping platforms', () => {
    const platform = { architecture: 'amd64', os: 'linux' };
    const child = desc(MediaTypes.ociManifest, 'child', { platform });
    const p = parseManifest(json({ schemaVersion: 2, mediaType: MediaTypes.ociIndex, manifests: [child] }));
    expect(p.kind).toBe('index');
    expect(p.mediaType).toBe(MediaTypes.ociIndex);
    expect(p.manifests).toEqual([child]);
    expect(p.manifests[0]!.platform).toEqual(platform);
    expect(p.config).toBeUndefined();
    expect(p.layers).toEqual([]);
  });

  it('without a mediaType field, takes the declared type', () => {
    const body = without(ociManifest(), 'mediaType');
    expect(parseManifest(json(body), MediaTypes.ociManifest).mediaType).toBe(MediaTypes.ociManifest);
  });

  it('without any type, tells an index from a manifest by its shape', () => {
    const image = without(ociManifest(), 'mediaType');
    expect(parseManifest(json(image)).mediaType).toBe(MediaTypes.ociManifest);
    const index = { schemaVersion: 2, manifests: [desc(MediaTypes.ociManifest, 'c')] };
    expect(parseManifest(json(index)).mediaType).toBe(MediaTypes.ociIndex);
    expect(parseManifest(json(index), 'application/json').kind).toBe('index');
  });

  it('accepts the declared type equal to the field', () => {
    expect(parseManifest(json(ociManifest()), MediaTypes.ociManifest).kind).toBe('image');
  });
});

describe('parseManifest: Docker schema 2', () => {
  it('parses a schema 2 manifest', () => {
    const dockerConfig = desc(MediaTypes.dockerConfig, 'cfg');
    const dockerLayer = desc(MediaTypes.dockerLayer, 'l');
    const p = parseManifest(
      json({
        schemaVersion: 2,
        mediaType: MediaTypes.dockerManifest,
        config: dockerConfig,
        layers: [dockerLayer],
      }),
      MediaTypes.dockerManifest,
    );
    expect(p.mediaType).toBe(MediaTypes.dockerManifest);
    expect(p.kind).toBe('image');
    expect(p.config).toEqual(dockerConfig);
    expect(p.layers).toEqual([dockerLayer]);
  });

  it('parses a manifest list', () => {
    const children = [
      desc(MediaTypes.dockerManifest, 'amd64', { platform: { architecture: 'amd64', os: 'linux' } }),
      desc(MediaTypes.dockerManifest, 'arm64', { platform: { architecture: 'arm64', os: 'linux' } }),
    ];
    const p = parseManifest(
      json({ schemaVersion: 2, mediaType: MediaTypes.dockerManifestList, manifests: children }),
    );
    expect(p.kind).toBe('index');
    expect(p.mediaType).toBe(MediaTypes.dockerManifestList);
    expect(p.manifests.map((m) => m.digest)).toEqual(children.map((c) => c.digest));
  });
});

describe('parseManifest: refusals', () => {
  it('refuses schema 1 with a message that says how to convert', () => {
    const body = { schemaVersion: 1, name: 'app', tag: 'latest', fsLayers: [], history: [] };
    const e = errorOf(() => parseManifest(json(body), MediaTypes.dockerSchema1Signed));
    expect(e.code).toBe('MANIFEST_INVALID');
    expect(e.message).toContain('schema 1');
    expect(e.message).toContain('schema 2 or OCI');
  });

  it('refuses a schema 2 body declared as schema 1', () => {
    const body = without(ociManifest(), 'mediaType');
    const e = errorOf(() => parseManifest(json(body), MediaTypes.dockerSchema1));
    expect(e.message).toContain('schema 1');
  });

  it('refuses an unknown media type and says what is accepted', () => {
    const e = errorOf(() => parseManifest(json(ociManifest({ mediaType: 'application/vnd.example.thing' }))));
    expect(e.code).toBe('MANIFEST_INVALID');
    expect(e.message).toContain('"application/vnd.example.thing"');
    expect(e.message).toContain('unknown media type');
  });

  it('refuses a mediaType field that differs from the declared type, naming both', () => {
    const e = errorOf(() => parseManifest(json(ociManifest()), MediaTypes.dockerManifest));
    expect(e.code).toBe('MANIFEST_INVALID');
    expect(e.message).toContain(MediaTypes.ociManifest);
    expect(e.message).toContain(MediaTypes.dockerManifest);
  });

  it('names a missing config, layers or manifests field', () => {
    const noConfig = without(ociManifest(), 'config');
    expect(errorOf(() => parseManifest(json(noConfig))).message).toBe('manifest.config is missing');
    const noLayers = without(ociManifest(), 'layers');
    expect(errorOf(() => parseManifest(json(noLayers))).message).toBe('manifest.layers is missing');
    const noManifests = { schemaVersion: 2, mediaType: MediaTypes.ociIndex };
    expect(errorOf(() => parseManifest(json(noManifests), undefined, 'index.json')).message).toBe(
      'index.json.manifests is missing',
    );
  });

  it('names the descriptor field that is wrong', () => {
    const noType = ociManifest({ layers: [layer1, { digest: layer2.digest, size: layer2.size }] });
    expect(errorOf(() => parseManifest(json(noType))).message).toBe(
      'manifest.layers[1].mediaType is missing',
    );
    const badDigest = ociManifest({ config: { ...config, digest: 'sha256:short' } });
    expect(errorOf(() => parseManifest(json(badDigest))).message).toContain(
      'manifest.config.digest "sha256:short"',
    );
    const badSize = ociManifest({ layers: [{ ...layer1, size: -1 }] });
    expect(errorOf(() => parseManifest(json(badSize))).message).toContain('manifest.layers[0].size');
    const badUrls = ociManifest({ layers: [{ ...layer1, urls: [1] }] });
    expect(errorOf(() => parseManifest(json(badUrls))).message).toContain('manifest.layers[0].urls');
    const notList = ociManifest({ layers: layer1 });
    expect(errorOf(() => parseManifest(json(notList))).message).toContain('manifest.layers must be a list');
    const badAnnotation = ociManifest({ annotations: { a: 1 } });
    expect(errorOf(() => parseManifest(json(badAnnotation))).message).toContain('manifest.annotations.a');
  });

  it('refuses an index child that is not a manifest', () => {
    const body = { schemaVersion: 2, mediaType: MediaTypes.ociIndex, manifests: [layer1] };
    const e = errorOf(() => parseManifest(json(body)));
    expect(e.message).toContain('manifest.manifests[0]');
    expect(e.message).toContain(layer1.mediaType);
  });

  it('refuses invalid JSON, non-objects, a wrong schemaVersion and oversized bodies', () => {
    expect(errorOf(() => parseManifest(Buffer.from('{nope'))).message).toContain('not valid JSON');
    expect(errorOf(() => parseManifest(json([1, 2]))).message).toContain('must be a JSON object');
    expect(errorOf(() => parseManifest(json(ociManifest({ schemaVersion: 3 })))).message).toContain(
      'schemaVersion must be 2',
    );
    const big = Buffer.alloc(MAX_MANIFEST_BYTES + 1, 0x20);
    expect(errorOf(() => parseManifest(big)).message).toContain(`larger than ${MAX_MANIFEST_BYTES}`);
  });
});

describe('requiredBlobs', () => {
  it('is the config and every layer', () => {
    const p = parseManifest(json(ociManifest()));
    expect(requiredBlobs(p).map((d) => d.digest)).toEqual([config.digest, layer1.digest, layer2.digest]);
  });

  it('skips Docker foreign layers and OCI non-distributable layers', () => {
    const foreign = desc(MediaTypes.dockerForeignLayer, 'windows base', { urls: ['https://example.com/l'] });
    const nondist = desc('application/vnd.oci.image.layer.nondistributable.v1.tar+gzip', 'nd');
    const p = parseManifest(json(ociManifest({ layers: [foreign, layer1, nondist, layer2] })));
    expect(p.layers).toHaveLength(4);
    expect(p.layers[0]!.urls).toEqual(['https://example.com/l']);
    expect(requiredBlobs(p).map((d) => d.digest)).toEqual([config.digest, layer1.digest, layer2.digest]);
  });

  it('is nothing for an index', () => {
    const index: ParsedManifest = parseManifest(
      json({
        schemaVersion: 2,
        mediaType: MediaTypes.ociIndex,
        manifests: [desc(MediaTypes.ociManifest, 'c')],
      }),
    );
    expect(requiredBlobs(index)).toEqual([]);
  });
});

describe('configDiffIds', () => {
  it('reads rootfs.diff_ids in order', () => {
    const ids: Digest[] = [sha256('tar 1'), sha256('tar 2'), sha256('tar 3')];
    const cfg = { architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: ids } };
    expect(configDiffIds(json(cfg))).toEqual(ids);
  });

  it('reads an empty list', () => {
    expect(configDiffIds(json({ rootfs: { type: 'layers', diff_ids: [] } }))).toEqual([]);
  });

  it('refuses a config without a valid diff_ids list, naming the config', () => {
    for (const cfg of [
      {},
      { rootfs: {} },
      { rootfs: { diff_ids: ['sha256:nope'] } },
      { rootfs: { diff_ids: 'x' } },
      null,
      3,
    ]) {
      const e = errorOf(() => configDiffIds(json(cfg), 'config of app:1'));
      expect(e.code).toBe('MANIFEST_INVALID');
      expect(e.message).toBe('config of app:1 has no valid rootfs.diff_ids list');
    }
    expect(errorOf(() => configDiffIds(Buffer.from('not json'))).message).toContain('not valid JSON');
  });
});
