// Puts an image held on demand into a repository as a sync with policy on_demand does: its manifest stored, blob rows without bytes, one version.
import type { Berth } from '../../src/app.js';
import { sha256, type Digest } from '../../src/core/digest.js';
import { parseManifest } from '../../src/core/manifests.js';
import { recordManifest } from '../../src/repo/catalogue.js';
import { commitVersion } from '../../src/repo/versions.js';
import { Keys } from '../../src/storage/cas.js';

export interface OnDemandSeed {
  digest: Digest;
  size: number;
}

/**
 * One version of `repository` with an image tagged `tag` whose config is `blobs[0]` and layers the rest, all held on
 * demand from `remote` (upstream repository `upstream`): the manifest's bytes stored, the blobs' rows state
 * 'remote' unless berth has them already, and this repository's on_demand_blobs rows. Returns the manifest.
 */
export async function seedOnDemand(
  berth: Berth,
  repository: string,
  blobs: OnDemandSeed[],
  remote: string,
  upstream: string,
  tag = 'latest',
  /** upstream's manifest as it published it (default: one made here over `blobs`) */
  published?: Buffer,
): Promise<{ digest: Digest; bytes: Buffer; version: number }> {
  const [config, ...layers] = blobs;
  const bytes =
    published ??
    Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
        layers: layers.map((l) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', ...l })),
      }),
    );
  const digest = sha256(bytes);
  const w = await berth.store.writer(Keys.blob(digest));
  await new Promise<void>((resolve, reject) => w.on('error', reject).end(bytes, resolve));
  const now = Date.now();
  const v = await commitVersion(berth.db.kysely, repository, { create: true }, async ({ trx }) => {
    await recordManifest(trx, { digest, size: bytes.length, parsed: parseManifest(bytes) });
    for (const b of blobs) {
      await trx
        .insertInto('blobs')
        .values({ digest: b.digest, size: b.size, created_at: now, touched_at: now, state: 'remote' })
        .onConflict((oc) => oc.column('digest').doUpdateSet({ touched_at: now }))
        .execute();
      await trx
        .insertInto('on_demand_blobs')
        .values({ repository, digest: b.digest, size: b.size, remote, upstream, created_at: now })
        .execute();
    }
    return [
      { op: 'add' as const, kind: 'manifest' as const, digest },
      ...blobs.map((b) => ({ op: 'add' as const, kind: 'blob' as const, digest: b.digest })),
      { op: 'add' as const, kind: 'tag' as const, tag, digest },
    ];
  });
  return { digest, bytes, version: v.number };
}
