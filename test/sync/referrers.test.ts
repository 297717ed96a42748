// Sync of referrers from another berth (Docker token flow, referrers API): all, one artifact type, or none.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { openBerth, type Berth } from '../../src/app.js';
import type { Remote } from '../../src/sync/remote.js';
import { createUpstream } from '../../src/sync/upstream-http.js';
import { backends, removeTestDatabase, testDatabaseUrl } from '../helpers/backend.js';
import {
  connectionTo,
  pushImage,
  pushReferrer,
  startBerthUpstream,
  type PushedImage,
  type UpstreamRegistry,
} from '../helpers/upstreams.js';

const SBOM = 'application/vnd.example.sbom';
const SIG = 'application/vnd.example.signature';

describe.each(backends())('sync of referrers on %s', (backend) => {
  let up: UpstreamRegistry;
  let img: PushedImage;
  let sbom: string;
  let sig: string;
  let data: string;
  let database: string;
  let berth: Berth;
  let remote: Remote;

  beforeAll(async () => {
    up = await startBerthUpstream(`referrers-up-${backend}`);
    img = await pushImage(up, 'lib/signed', 'v1', { seed: 'referrers' });
    const subject = { digest: img.digest, size: img.manifest.length, mediaType: img.mediaType };
    sbom = (await pushReferrer(up, 'lib/signed', subject, SBOM)).digest;
    sig = (await pushReferrer(up, 'lib/signed', subject, SIG)).digest;
  });
  afterAll(async () => up?.stop());
  beforeEach(async () => {
    data = mkdtempSync(join(tmpdir(), 'sync-referrers-'));
    database = await testDatabaseUrl(`sync-referrers-${backend}`, backend);
    berth = await openBerth({
      data,
      database,
      syncPorts: { remote: async () => remote, connect: (c) => createUpstream(c) },
    });
  });
  afterEach(async () => {
    await berth.close();
    await removeTestDatabase(database);
    rmSync(data, { recursive: true, force: true });
  });

  const sync = async (referrers: Remote['referrers']) => {
    remote = {
      connection: connectionTo(up, 'berth-up'),
      include: [],
      exclude: [],
      platforms: [],
      referrers,
      policy: 'immediate',
    };
    const run = await berth.syncs.run({
      repository: 'copy/signed',
      remote: 'berth-up',
      upstream: 'lib/signed',
      trigger: 'api',
    });
    expect(run.state, run.error ?? '').toBe('succeeded');
    return (await berth.manifests.referrers('copy/signed', img.digest)).map((d) => d.digest).sort();
  };

  it('all: every referrer comes with the image, in the same version', async () => {
    expect(await sync('all')).toEqual([sbom, sig].sort());
    const repo = await berth.db.kysely
      .selectFrom('repositories')
      .select('latest_version')
      .where('name', '=', 'copy/signed')
      .executeTakeFirstOrThrow();
    expect(repo.latest_version).toBe(1);
  });

  it('one artifact type: only those referrers; none: no referrer', async () => {
    expect(await sync([SBOM])).toEqual([sbom]);
    await berth.close();
    await removeTestDatabase(database);
    rmSync(data, { recursive: true, force: true });
    data = mkdtempSync(join(tmpdir(), 'sync-referrers-'));
    database = await testDatabaseUrl(`sync-referrers-none-${backend}`, backend);
    berth = await openBerth({
      data,
      database,
      syncPorts: { remote: async () => remote, connect: (c) => createUpstream(c) },
    });
    expect(await sync('none')).toEqual([]);
  });
});
