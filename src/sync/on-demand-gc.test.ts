// On-demand blobs and the rest of berth, on every backend: cleanup, fsck, mounts and archive uploads understand them.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openBerth, type Berth } from '../app.js';
import { sha256, type Digest } from '../core/digest.js';
import { backends, removeTestDatabase, testDatabaseUrl } from '../../test/helpers/backend.js';
import { seedOnDemand } from '../../test/helpers/on-demand.js';
import { blobKey } from '../../test/helpers/blob-layout.js';
import { dirImage, hex, tarOf } from '../../test/helpers/images.js';

const REPO = 'od/app';

describe.each(backends())('on-demand blobs in cleanup, fsck, mounts on %s', (backend) => {
  let data: string;
  let database: string;
  let berth: Berth;
  let blob: Buffer;
  let digest: Digest;
  let manifest: Digest;

  const rowOf = (d: string) =>
    berth.db.kysely.selectFrom('blobs').selectAll().where('digest', '=', d).executeTakeFirst();
  const onDemandRows = () => berth.db.kysely.selectFrom('on_demand_blobs').selectAll().execute();
  /** Ages the rows of the seeded blob past any protection time. */
  const age = async () => {
    const then = Date.now() - 10_000;
    await berth.db.kysely.updateTable('blobs').set({ touched_at: then }).execute();
    await berth.db.kysely.updateTable('on_demand_blobs').set({ created_at: then }).execute();
  };

  beforeEach(async () => {
    data = mkdtempSync(join(tmpdir(), 'on-demand-gc-'));
    database = await testDatabaseUrl(`on-demand-gc-${backend}`, backend);
    berth = await openBerth({ data, database });
    blob = randomBytes(5000);
    digest = sha256(blob);
    ({ digest: manifest } = await seedOnDemand(
      berth,
      REPO,
      [{ digest, size: blob.length }],
      'hub',
      'library/app',
    ));
    // one version kept: what the latest version lets go of is referred to by no version
    await berth.retention.set(REPO, { versions: 1, days: null });
  });

  afterEach(async () => {
    await berth.close();
    rmSync(data, { recursive: true, force: true });
    await removeTestDatabase(database);
  });

  it('fsck: a blob whose bytes are still at a remote has no file, and that is no problem', async () => {
    const report = await berth.fsck.run({ protectionMs: 0, verify: true });
    expect(report.problems).toEqual([]);
    expect(report.clean).toBe(true);
    expect((await rowOf(digest))?.state).toBe('remote');
  });

  it('cleanup keeps an on-demand blob its repository refers to', async () => {
    await age();
    const report = await berth.cleanup.run({ protectionSeconds: 0 });
    expect(report.removed.blobs).toBe(0);
    expect(report.removed.onDemand).toBeUndefined();
    expect(await onDemandRows()).toHaveLength(1);
    expect((await rowOf(digest))?.state).toBe('remote');
  });

  it('cleanup forgets an on-demand blob no version refers to: its row and where it came from', async () => {
    await berth.removals.deleteImage(REPO, { kind: 'digest', digest: manifest });
    await age();
    const report = await berth.cleanup.run({ protectionSeconds: 0 });
    expect(report.removed.onDemand).toBe(1);
    expect(report.digests).toContain(digest);
    expect(await onDemandRows()).toEqual([]);
    expect(await rowOf(digest)).toBeUndefined();
    expect((await berth.fsck.run({ protectionMs: 0 })).clean).toBe(true);
  });

  it('cleanup leaves a fresh on-demand row alone (a sync records it with its version)', async () => {
    await berth.removals.deleteImage(REPO, { kind: 'digest', digest: manifest });
    const report = await berth.cleanup.run({ protectionSeconds: 3600 });
    expect(report.removed.onDemand).toBeUndefined();
    expect(await onDemandRows()).toHaveLength(1);
  });

  it('a mount of a blob whose bytes are at a remote is refused (the client uploads them)', async () => {
    expect(await berth.blobs.mount('od/other', digest, REPO)).toBe(false);
    await expect(berth.blobs.stat('od/other', digest)).rejects.toMatchObject({ code: 'NAME_UNKNOWN' });
  });

  it('an upload of the bytes makes them present; this repository still fetches them from its remote', async () => {
    await berth.uploads.monolithic('od/other', digest, Readable.from([blob]));
    expect((await rowOf(digest))?.state).toBe('present');
    // the upload's object now holds the bytes the row had none of
    const key = await blobKey(berth.db.kysely, digest);
    expect(key).toMatch(/^objects\//);
    expect(await berth.store.stat(key)).not.toBeNull();
    expect((await berth.blobs.stat(REPO, digest)).onDemand).toEqual({ repository: REPO });
    expect((await berth.blobs.stat('od/other', digest)).onDemand).toBeUndefined();
  });

  it('an archive that leaves out a layer the repository holds on demand: the layer counts as held', async () => {
    const image = dirImage({ layers: [blob, randomBytes(2000)] });
    expect(await berth.blobs.present(REPO, image.layerDigests)).toEqual([digest]);
    const tar = await tarOf(image.entries.filter((e) => e.name !== hex(digest)));
    const result = await berth.imports.importArchive(REPO, 'v1', Readable.from([tar]));
    expect(result.version).toBe(2);
    // still on demand: its bytes come from the remote on first GET
    expect((await berth.blobs.stat(REPO, digest)).onDemand).toEqual({ repository: REPO });
    expect((await rowOf(digest))?.state).toBe('remote');
  });
});
