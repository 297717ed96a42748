// The registry's hot reads ask the database once each: a HEAD or GET on PostgreSQL waits on every round trip.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openBerth, type Berth } from '../app.js';
import { sha256, type Digest } from '../core/digest.js';
import { MediaTypes } from '../core/media-types.js';
import { backends, removeTestDatabase, testDatabaseUrl } from '../../test/helpers/backend.js';
import { Blobs } from './blobs.js';
import { Manifests } from './manifests.js';
import type { Database } from '../db/schema.js';
import { countStatements, type CountedDb } from '../../test/helpers/statements.js';

const REPO = 'rt/app';

describe.each(backends())('round trips on %s', (backend) => {
  let data: string;
  let database: string;
  let berth: Berth;
  let counted: CountedDb<Database>;
  let blobs: Blobs;
  let manifests: Manifests;
  let layer: Digest;
  let manifest: { digest: Digest; bytes: Buffer };

  const push = async (bytes: Buffer): Promise<Digest> => {
    const d = sha256(bytes);
    await berth.uploads.monolithic(REPO, d, Readable.from([bytes]));
    return d;
  };

  beforeEach(async () => {
    data = mkdtempSync(join(tmpdir(), 'round-trips-'));
    database = await testDatabaseUrl(`round-trips-${backend}`, backend);
    berth = await openBerth({ data, database });
    const config = Buffer.from(
      JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } }),
    );
    const layerBytes = randomBytes(2000);
    const configDigest = await push(config);
    layer = await push(layerBytes);
    const bytes = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MediaTypes.ociManifest,
        config: { mediaType: MediaTypes.ociConfig, digest: configDigest, size: config.length },
        layers: [{ mediaType: MediaTypes.ociLayer, digest: layer, size: layerBytes.length }],
      }),
    );
    manifest = { digest: sha256(bytes), bytes };
    await berth.manifests.put(REPO, { kind: 'tag', tag: 'v1' }, bytes, MediaTypes.ociManifest, []);
    counted = countStatements(berth.db.kysely);
    blobs = new Blobs(counted.db, berth.store, undefined, berth.onDemand);
    manifests = new Manifests(counted.db, berth.store);
  });

  afterEach(async () => {
    await berth.close();
    rmSync(data, { recursive: true, force: true });
    await removeTestDatabase(database);
  });

  it('HEAD of a blob (stat): one statement', async () => {
    expect((await blobs.stat(REPO, layer)).size).toBe(2000);
    expect(counted.count).toBe(1);
  });

  it('GET of a manifest by tag and by digest, bytes included: one statement each', async () => {
    const byTag = await manifests.get(REPO, { kind: 'tag', tag: 'v1' });
    expect(byTag.digest).toBe(manifest.digest);
    expect(byTag.bytes?.equals(manifest.bytes)).toBe(true);
    expect(counted.count).toBe(1);
    counted.reset();
    const byDigest = await manifests.get(REPO, { kind: 'digest', digest: manifest.digest });
    expect(byDigest.bytes?.equals(manifest.bytes)).toBe(true);
    expect(counted.count).toBe(1);
  });
});
