// On-demand blobs from a real Distribution behind Basic auth, through berth's own composition (remotes service, HTTP client): HTTP GETs and crane pull.
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect } from 'vitest';
import { sha256 } from '../../src/core/digest.js';
import { skipUnless } from '../helpers/backend.js';
import { ADMIN, http, startTestServer, type TestServer } from '../helpers/in-process.js';
import { seedOnDemand } from '../helpers/on-demand.js';
import { clientHome, runTool, TOOLS } from '../helpers/tools.js';
import {
  hasDistribution,
  NO_DISTRIBUTION,
  pushImage,
  startDistribution,
  type PushedImage,
  type UpstreamRegistry,
} from '../helpers/upstreams.js';

const it = skipUnless(hasDistribution(), NO_DISTRIBUTION);
const itCrane = skipUnless(
  hasDistribution() && existsSync(join(TOOLS, 'bin', 'crane')),
  `${NO_DISTRIBUTION}, or crane missing from ../shared/tools/bin`,
);

describe('on-demand blobs from a Distribution upstream', () => {
  let dist: UpstreamRegistry | undefined;
  let server: TestServer;
  let image: PushedImage;

  beforeAll(async () => {
    if (!hasDistribution()) return;
    dist = await startDistribution({ creds: { user: 'mirror', password: 'mirror-secret' } });
    image = await pushImage(dist, 'team/app', 'v1', { layers: 3, layerSize: 300_000 });
    server = await startTestServer('on-demand-dist');
    await server.berth.remotes.add({
      name: 'dist',
      url: dist.url,
      username: 'mirror',
      password: 'mirror-secret',
      policy: 'on_demand',
    });
    await seedOnDemand(
      server.berth,
      'mirror/app',
      [image.config, ...image.layers].map(({ digest, size }) => ({ digest, size })),
      'dist',
      'team/app',
      'v1',
      image.manifest,
    );
  });

  afterAll(async () => {
    await server?.close();
    await dist?.stop();
  });

  it('HEAD answers from the database; GET fetches from Distribution (Basic auth), verified; then from the store', async () => {
    const layer = image.layers[0]!;
    const url = `${server.url}/v2/mirror/app/blobs/${layer.digest}`;
    const head = await http('HEAD', url);
    expect(head.status).toBe(200);
    expect(head.headers['content-length']).toBe(String(layer.size));
    const r = await http('GET', url);
    expect(r.status).toBe(200);
    expect(r.body.equals(layer.bytes)).toBe(true);
    const row = await server.berth.db.kysely
      .selectFrom('blobs')
      .select('state')
      .where('digest', '=', layer.digest)
      .executeTakeFirst();
    expect(row?.state).toBe('present');
    // now from berth's store: a range works again
    const ranged = await http('GET', url, undefined, { range: 'bytes=10-19' });
    expect(ranged.status).toBe(206);
    expect(ranged.body.equals(layer.bytes.subarray(10, 20))).toBe(true);
  });

  itCrane(
    'crane pulls the image through berth: the blobs not yet fetched stream from Distribution, all verified',
    async () => {
      const home = clientHome('on-demand-crane');
      try {
        const out = join(mkdtempSync(join(tmpdir(), 'on-demand-pull-')), 'layout');
        const host = server.url.replace('http://', '');
        await runTool('crane', home.env, [
          'auth',
          'login',
          host,
          '-u',
          ADMIN.user,
          '-p',
          ADMIN.password,
          '--insecure',
        ]);
        await runTool('crane', home.env, [
          'pull',
          '--format',
          'oci',
          `${host}/mirror/app:v1`,
          out,
          '--insecure',
        ]);
        const blobs = readdirSync(join(out, 'blobs', 'sha256'));
        for (const b of [image.config, ...image.layers]) {
          expect(blobs).toContain(b.digest.slice('sha256:'.length));
          const got = readFileSync(join(out, 'blobs', 'sha256', b.digest.slice('sha256:'.length)));
          expect(sha256(got)).toBe(b.digest);
        }
        rmSync(out, { recursive: true, force: true });
      } finally {
        rmSync(home.dir, { recursive: true, force: true });
      }
    },
  );
});
