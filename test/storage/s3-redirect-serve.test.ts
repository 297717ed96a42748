// `berth serve --store s3://… --s3-redirect --s3-redirect-ttl --s3-public-endpoint` end to end on a real Ceph RGW:
// skopeo (and crane, in the slow end-to-end run) pull through the redirects and get the right bytes.
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeUnless, hasCommand, skipUnless } from '../helpers/backend.js';
import { ADMIN, basic, fixture } from '../helpers/in-process.js';
import { skopeo, startRealServer, type RealServer } from '../helpers/real-server.js';
import {
  createTestBucket,
  removeTestBucket,
  S3_ENDPOINT,
  S3_ENV,
  S3_MISSING,
  s3Available,
} from '../helpers/s3.js';
import { clientHome, itWithTools, runTool } from '../helpers/tools.js';

const available = await s3Available();
const itSkopeo = skipUnless(hasCommand('skopeo'), 'skopeo is not installed (apt-get install skopeo)');
const itCrane = itWithTools('bin/crane');
const AUTH = { authorization: basic(ADMIN.user, ADMIN.password) };
const hexOf = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

/** Where clients are sent: the S3 endpoint under its other loopback name when it has one, so the signing host shows. */
const PUBLIC = (() => {
  const u = new URL(S3_ENDPOINT);
  if (u.hostname === '127.0.0.1') u.hostname = 'localhost';
  else if (u.hostname === 'localhost') u.hostname = '127.0.0.1';
  return u.origin;
})();

/** How many blob GETs the server answered with a redirect (its /metrics). */
async function redirects(s: RealServer): Promise<number> {
  const text = await (await fetch(`${s.url}/metrics`, { headers: AUTH })).text();
  const m = /berth_http_requests_total\{route="blob\.get",method="GET",status="307"\} (\d+)/.exec(text);
  return m ? Number(m[1]) : 0;
}

describeUnless(available, S3_MISSING)('berth serve --s3-redirect on RGW, real clients', () => {
  let bucket = '';
  let s: RealServer | undefined;

  beforeAll(async () => {
    bucket = await createTestBucket('redirect-serve');
    s = await startRealServer('s3-redirect-serve', {
      args: [
        '--store',
        `s3://${bucket}/reg`,
        '--s3-endpoint',
        S3_ENDPOINT,
        '--s3-redirect',
        '--s3-redirect-ttl',
        '300',
        '--s3-public-endpoint',
        PUBLIC,
      ],
      env: S3_ENV,
    });
    await skopeo(
      'copy',
      '--quiet',
      '--dest-tls-verify=false',
      `docker-archive:${fixture('base.docker.tar')}`,
      `docker://${s.hostPort}/s3/base:1`,
    );
  });
  afterAll(async () => {
    await s?.stop();
    if (bucket) await removeTestBucket(bucket);
  });

  const layersOf = async (): Promise<string[]> => {
    const manifest = JSON.parse(
      await skopeo('inspect', '--raw', '--tls-verify=false', `docker://${s!.hostPort}/s3/base:1`),
    ) as { config: { digest: string }; layers: { digest: string }[] };
    return [manifest.config.digest, ...manifest.layers.map((l) => l.digest)];
  };

  it('answers blob GETs with 307 to a URL signed for the public endpoint, with the lifetime given', async () => {
    const [, layer] = await layersOf();
    const r = await fetch(`${s!.url}/v2/s3/base/blobs/${layer}`, { redirect: 'manual', headers: AUTH });
    expect(r.status).toBe(307);
    const location = new URL(r.headers.get('location')!);
    expect(location.origin).toBe(PUBLIC);
    // the object the layer's row maps: its upload's (no copy at commit), named by the upload, not the digest
    expect(location.pathname).toMatch(new RegExp(`^/${bucket}/reg/objects/[0-9a-f]{2}/[0-9a-f-]{36}/data$`));
    expect(location.searchParams.get('X-Amz-Expires')).toBe('300');
    const bytes = Buffer.from(await (await fetch(location)).arrayBuffer());
    expect(`sha256:${hexOf(bytes)}`).toBe(layer);
  });

  itSkopeo('skopeo pulls the image through the redirects and gets the right bytes', async () => {
    const blobs = await layersOf();
    const before = await redirects(s!);
    const out = mkdtempSync(join(tmpdir(), 's3-redirect-pull-'));
    try {
      await skopeo(
        'copy',
        '--quiet',
        '--src-tls-verify=false',
        `docker://${s!.hostPort}/s3/base:1`,
        `dir:${out}`,
      );
      for (const d of blobs) expect(hexOf(readFileSync(join(out, d.slice(7))))).toBe(d.slice(7));
      expect(readdirSync(out).sort()).toEqual(
        [...blobs.map((d) => d.slice(7)), 'manifest.json', 'version'].sort(),
      );
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
    expect((await redirects(s!)) - before).toBe(blobs.length);
  });

  itCrane('crane pulls the image through the redirects and gets the right bytes', async () => {
    const blobs = await layersOf();
    const home = clientHome('crane-redirect');
    try {
      await runTool('crane', home.env, [
        'auth',
        'login',
        s!.hostPort,
        '-u',
        ADMIN.user,
        '-p',
        ADMIN.password,
      ]);
      const before = await redirects(s!);
      const layout = join(home.dir, 'layout');
      await runTool('crane', home.env, [
        'pull',
        '--insecure',
        '--format',
        'oci',
        `${s!.hostPort}/s3/base:1`,
        layout,
      ]);
      for (const d of blobs) {
        expect(hexOf(readFileSync(join(layout, 'blobs', 'sha256', d.slice(7))))).toBe(d.slice(7));
      }
      expect((await redirects(s!)) - before).toBe(blobs.length);
    } finally {
      rmSync(home.dir, { recursive: true, force: true });
    }
  });
});
