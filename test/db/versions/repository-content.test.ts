// What a repository holds on every database backend (Blobs, Manifests, Tags): blobs and manifests of its latest version, by digest, diff ID and tag.
import { describe, expect, it } from 'vitest';
import { sha256 } from '../../../src/core/digest.js';
import { parseManifest } from '../../../src/core/manifests.js';
import { MediaTypes } from '../../../src/core/media-types.js';
import { recordManifest } from '../../../src/repo/catalogue.js';
import { blobSize } from '../../../src/repo/held.js';
import type { ContentChange } from '../../../src/repo/versions.js';
import { backends, type Backend } from '../../helpers/backend.js';
import { blobDigest, makeImage, readAll, rejection, versionsFixture } from './fixture.js';

describe.each(backends())('repository versions on %s', (backend: Backend) => {
  const t = versionsFixture('versions_repository_content', backend);
  const { commit, count, pushImage } = t;

  describe('what a repository holds: blobs, manifests, tags', () => {
    it('presentBlobs finds blobs by digest and layers by diff ID, in the latest version only', async () => {
      const name = 'present/a';
      const img = makeImage('present', { foreign: true });
      await pushImage(name, img, ['1.0']);
      const [foreignDiffId, diff0, diff1] = img.diffIds;
      const layer0 = sha256(img.layers[0]!);
      const configDigest = sha256(img.config);
      const unknown = sha256('not stored anywhere');
      const foreignDigest = img.parsed.layers[0]!.digest;

      // recordManifest wrote one diff-ID row per stored layer and none for the foreign layer
      expect(await count('layer_diff_ids', 'blob_digest', layer0)).toBe(1);
      expect(await count('layer_diff_ids', 'blob_digest', foreignDigest)).toBe(0);

      const asked = [unknown, diff1!, layer0, configDigest, foreignDigest, foreignDiffId!, diff0!];
      expect(await t.blobs.present(name, asked)).toEqual([diff1, layer0, configDigest, diff0]);

      // another repository holds none of it, though the diff-ID rows are global
      await commit('present/other', [], true);
      expect(await t.blobs.present('present/other', asked)).toEqual([]);

      // once the layer is removed, neither its digest nor its diff ID is present
      await commit(name, [{ op: 'remove', kind: 'blob', key: layer0 }]);
      expect(await t.blobs.present(name, asked)).toEqual([diff1, configDigest]);
      expect(await t.blobs.present(name, [])).toEqual([]);
    });

    it('presentBlobs answers for more digests than one query batch', async () => {
      const name = 'present/many';
      const digests = Array.from({ length: 1200 }, (_, i) => blobDigest(`many ${i}`));
      const held = digests.filter((_, i) => i % 3 === 0);
      await commit(
        name,
        held.map((digest): ContentChange => ({ op: 'add', kind: 'blob', digest })),
        true,
      );
      expect(await t.blobs.present(name, digests)).toEqual(held);
    });

    it('records a manifest naming more layers than one statement takes bound parameters for', async () => {
      // 20 000 layers: 80 000 parameters for the diff-ID rows, past SQLite's 32 766 and PostgreSQL's 65 535
      const n = 20_000;
      const layers = Array.from({ length: n }, (_, i) => blobDigest(`wide ${i}`));
      const diffIds = layers.map((_, i) => sha256(`wide uncompressed ${i}`));
      const config = Buffer.from(JSON.stringify({ rootfs: { type: 'layers', diff_ids: diffIds } }));
      const manifest = Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: MediaTypes.ociManifest,
          config: { mediaType: MediaTypes.ociConfig, digest: sha256(config), size: config.length },
          layers: layers.map((digest) => ({ mediaType: MediaTypes.ociLayerGzip, digest, size: 1 })),
        }),
      );
      const digest = sha256(manifest);
      const parsed = parseManifest(manifest, MediaTypes.ociManifest);
      await commit(
        'records/wide',
        async ({ trx }) => {
          await recordManifest(trx, { digest, size: manifest.length, parsed, diffIds });
          return [{ op: 'add', kind: 'manifest', digest }];
        },
        true,
      );
      expect(await count('manifest_references', 'manifest_digest', digest)).toBe(n + 1);
      const r = await t.db.kysely
        .selectFrom('layer_diff_ids')
        .select((eb) => eb.fn.countAll<number | string>().as('n'))
        .where('blob_digest', 'in', [layers[0]!, layers[n - 1]!])
        .executeTakeFirstOrThrow();
      expect(Number(r.n)).toBe(2);
      expect(await t.blobs.present('records/wide', [diffIds[0]!])).toEqual([]);
    });

    it('opens a blob of the latest version, whole, as a range, or for HEAD', async () => {
      const name = 'content/blobs';
      const img = makeImage('content-blobs');
      await pushImage(name, img, ['v1']);
      const layer = img.layers[1]!;
      const digest = sha256(layer);
      expect(await blobSize(t.db.kysely, name, digest)).toBe(layer.length);
      const blob = await t.blobs.stat(name, digest);
      expect(blob).toEqual({ digest, size: layer.length });
      expect((await readAll(await t.blobs.open(blob))).equals(layer)).toBe(true);
      const part = await t.blobs.open(blob, { start: layer.length - 10, end: layer.length - 1 });
      expect((await readAll(part)).equals(layer.subarray(layer.length - 10))).toBe(true);
      // a manifest's bytes are a blob of the repository too
      expect(await blobSize(t.db.kysely, name, img.digest)).toBe(img.manifest.length);
    });

    it('does not serve a blob another repository holds, nor one removed from the latest version', async () => {
      const img = makeImage('content-isolation');
      await pushImage('content/owner', img, ['v1']);
      await commit('content/stranger', [], true);
      const digest = sha256(img.layers[0]!);
      const e = await rejection(t.blobs.stat('content/stranger', digest));
      expect(e.code).toBe('BLOB_UNKNOWN');
      expect(e.message).toContain(digest);
      expect((await rejection(t.blobs.stat('content/nobody', digest))).code).toBe('NAME_UNKNOWN');
      await commit('content/owner', [{ op: 'remove', kind: 'blob', key: digest }]);
      expect((await rejection(t.blobs.stat('content/owner', digest))).code).toBe('BLOB_UNKNOWN');
      expect(await blobSize(t.db.kysely, 'content/owner', digest)).toBeUndefined();
    });

    it('reads manifests by tag and by digest with their exact bytes, and lists tags', async () => {
      const name = 'content/manifests';
      const one = makeImage('manifests-one');
      const two = makeImage('manifests-two');
      await pushImage(name, one, ['a', 'c']);
      await pushImage(name, two, ['b', 'd', 'c']);
      const byTag = await t.manifests.get(name, { kind: 'tag', tag: 'c' });
      expect(byTag).toMatchObject({
        digest: two.digest,
        mediaType: MediaTypes.ociManifest,
        size: two.manifest.length,
      });
      expect(byTag.bytes!.equals(two.manifest)).toBe(true);
      const byDigest = await t.manifests.get(name, { kind: 'digest', digest: one.digest });
      expect(byDigest.bytes!.equals(one.manifest)).toBe(true);
      const head = await t.manifests.get(name, { kind: 'tag', tag: 'a' }, { head: true });
      expect(head).toEqual({
        digest: one.digest,
        mediaType: MediaTypes.ociManifest,
        size: one.manifest.length,
      });
      expect(await t.tags.list(name)).toEqual(['a', 'b', 'c', 'd']);
      expect(await t.tags.list(name, { last: 'a', n: 2 })).toEqual(['b', 'c']);
      expect(await t.tags.list(name, { last: 'd' })).toEqual([]);
      const e = await rejection(t.manifests.get(name, { kind: 'tag', tag: 'zzz' }));
      expect(e.code).toBe('MANIFEST_UNKNOWN');
      expect(e.message).toContain('zzz');
      expect((await rejection(t.manifests.get('content/none', { kind: 'tag', tag: 'a' }))).code).toBe(
        'NAME_UNKNOWN',
      );
      expect(await t.repos.find(name)).toBeDefined();
      expect(await t.repos.find('content/none')).toBeUndefined();
    });
  });
});
