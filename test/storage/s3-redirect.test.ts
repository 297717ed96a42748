// --s3-redirect on a real Ceph RGW: blob GETs answer 307 to a presigned URL that real clients follow (whole, Range),
// for callers allowed to read the blob only; HEAD and manifests stay here; the URL expires, and signs for a public endpoint.
import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeUnless } from '../helpers/backend.js';
import { FakeClock } from '../helpers/fake-clock.js';
import { ADMIN, basic, startTestServer, type TestServer } from '../helpers/in-process.js';
import {
  createTestBucket,
  removeTestBucket,
  S3_ENDPOINT,
  S3_MISSING,
  s3Available,
  testLocation,
} from '../helpers/s3.js';
import { ociImage, Registry } from '../registry/oci.js';
import { startBlobServer } from '../helpers/blob-server.js';
import { seedOnDemand } from '../helpers/on-demand.js';
import { createUpstream } from '../../src/sync/upstream-http.js';
import type { Digest } from '../../src/core/digest.js';
import { blobKey } from '../helpers/blob-layout.js';

const available = await s3Available();
const KiB = 1024;
const ADMIN_AUTH = { authorization: basic(ADMIN.user, ADMIN.password) };
const sha = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** The S3 endpoint under the other loopback name (127.0.0.1 ↔ localhost): the same RGW, another Host to sign for. */
const otherName = (() => {
  const u = new URL(S3_ENDPOINT);
  if (u.hostname === '127.0.0.1') u.hostname = 'localhost';
  else if (u.hostname === 'localhost') u.hostname = '127.0.0.1';
  else return undefined;
  return u.origin;
})();

/** A registry GET that does not follow redirects (what the server itself answered). */
const getManual = (url: string, headers: Record<string, string> = ADMIN_AUTH): Promise<Response> =>
  fetch(url, { redirect: 'manual', headers });

describeUnless(available, S3_MISSING)('berth serve --s3-redirect on RGW', () => {
  let bucket = '';
  let s: TestServer;
  let reg: Registry;
  const layer = randomBytes(700 * KiB);
  const digest = sha(layer);
  const blobUrl = (server: TestServer, repo = 'team/app', d = digest) =>
    `${server.url}/v2/${repo}/blobs/${d}`;

  beforeAll(async () => {
    bucket = await createTestBucket('redirect');
    s = await startTestServer('s3-redirect', {
      s3: testLocation(bucket, 'reg/'),
      s3Redirect: { ttlSeconds: 1200 },
    });
    reg = new Registry(s.url);
    await reg.pushImage('team/app', ociImage({ layers: [layer] }), 'v1');
  });
  afterAll(async () => {
    await s?.close();
    if (bucket) await removeTestBucket(bucket);
  });

  it('answers a blob GET with 307 to a presigned URL of its object, which a client follows to the bytes, whole and by Range', async () => {
    const r = await getManual(blobUrl(s));
    expect(r.status).toBe(307);
    expect(await r.text()).toBe('');
    expect(r.headers.get('docker-content-digest')).toBe(digest);
    expect(r.headers.get('cache-control')).toBe('no-store');
    const location = new URL(r.headers.get('location')!);
    expect(location.origin).toBe(new URL(S3_ENDPOINT).origin);
    // the object the blob's row maps (its upload's: no copy at commit)
    const key = await blobKey(s.berth.db.kysely, digest as Digest);
    expect(key).toMatch(/^objects\//);
    expect(location.pathname).toBe(`/${bucket}/reg/${key}`);
    expect(location.searchParams.get('X-Amz-Expires')).toBe('1200');
    expect(location.searchParams.get('X-Amz-Credential')).toMatch(/^berthkey\//);
    expect(location.searchParams.get('X-Amz-Signature')).toMatch(/^[0-9a-f]{64}$/);

    // fetch follows the 307 (and drops the registry's Authorization on the way to another origin)
    const whole = await fetch(blobUrl(s), { headers: ADMIN_AUTH });
    expect(whole.status).toBe(200);
    expect(whole.redirected).toBe(true);
    expect(whole.url.startsWith(`${new URL(S3_ENDPOINT).origin}/${bucket}/`)).toBe(true);
    const bytes = Buffer.from(await whole.arrayBuffer());
    expect(bytes.length).toBe(layer.length);
    expect(sha(bytes)).toBe(digest);

    // the client's Range goes along to S3
    const part = await fetch(blobUrl(s), { headers: { ...ADMIN_AUTH, range: 'bytes=100000-100999' } });
    expect(part.status).toBe(206);
    expect(part.url.startsWith(new URL(S3_ENDPOINT).origin)).toBe(true);
    expect(part.headers.get('content-range')).toBe(`bytes 100000-100999/${layer.length}`);
    expect(Buffer.from(await part.arrayBuffer()).equals(layer.subarray(100000, 101000))).toBe(true);
  });

  it('answers HEAD from the database and serves manifests itself, with no redirect', async () => {
    expect((await getManual(blobUrl(s))).status).toBe(307); // where a GET of the same blob is redirected
    const head = await fetch(blobUrl(s), { method: 'HEAD', redirect: 'manual', headers: ADMIN_AUTH });
    expect(head.status).toBe(200);
    expect(head.headers.get('location')).toBeNull();
    expect(Number(head.headers.get('content-length'))).toBe(layer.length);
    expect(head.headers.get('docker-content-digest')).toBe(digest);

    const manifest = await getManual(`${s.url}/v2/team/app/manifests/v1`, {
      ...ADMIN_AUTH,
      accept: 'application/vnd.oci.image.manifest.v1+json',
    });
    expect(manifest.status).toBe(200);
    expect(manifest.headers.get('location')).toBeNull();
    const body = JSON.parse(await manifest.text()) as { layers: { digest: string }[] };
    expect(body.layers.map((l) => l.digest)).toEqual([digest]);
  });

  it('gives no URL to callers who may not read the blob: anonymous 401, forbidden 403, a blob of another repository 404', async () => {
    await s.berth.auth.users.create('outsider', 'outsider-password');
    await s.berth.auth.users.grant('outsider', 'other/*', ['pull', 'push']);
    s.berth.auth.invalidate();
    const outsider = { authorization: basic('outsider', 'outsider-password') };
    expect((await getManual(blobUrl(s))).status).toBe(307); // the administrator's GET is redirected

    const anonymous = await getManual(blobUrl(s), {});
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get('location')).toBeNull();
    expect(await anonymous.text()).not.toContain('X-Amz-Signature');

    const forbidden = await getManual(blobUrl(s), outsider);
    expect(forbidden.status).toBe(403);
    expect(forbidden.headers.get('location')).toBeNull();
    expect(await forbidden.text()).not.toContain('X-Amz-Signature');

    // knowing a digest is not enough: other/app may be read, but holds no such blob
    const elsewhere = await getManual(blobUrl(s, 'other/app'), outsider);
    expect(elsewhere.status).toBe(404);
    expect(elsewhere.headers.get('location')).toBeNull();
    expect(((await elsewhere.json()) as { errors: { code: string }[] }).errors[0]!.code).toBe('NAME_UNKNOWN');
    const missing = await getManual(blobUrl(s, 'team/app', sha(randomBytes(8))));
    expect(missing.status).toBe(404);
    expect(missing.headers.get('location')).toBeNull();
  });

  it('signs with the instance clock and the lifetime given: a URL made 2 hours ago with a 60 s lifetime is refused by S3', async () => {
    const clock = new FakeClock(Date.now() - 2 * 3600_000);
    const old = await startTestServer('s3-redirect-ttl', {
      s3: testLocation(bucket, 'ttl/'),
      s3Redirect: { ttlSeconds: 60 },
      clock,
    });
    try {
      await new Registry(old.url).pushImage('team/app', ociImage({ layers: [layer] }), 'v1');
      const r = await getManual(blobUrl(old));
      expect(r.status).toBe(307);
      const location = new URL(r.headers.get('location')!);
      expect(location.searchParams.get('X-Amz-Expires')).toBe('60');
      const signedAt = new Date(clock.now()).toISOString().replace(/[-:]|\.\d{3}/g, '');
      expect(location.searchParams.get('X-Amz-Date')).toBe(signedAt);
      const expired = await fetch(location);
      expect(expired.status).toBe(403);
      expect(await expired.text()).toContain('AccessDenied');

      // the same blob, signed at the real time: S3 serves it
      clock.advanceTo(Date.now());
      const fresh = await fetch(blobUrl(old), { headers: ADMIN_AUTH });
      expect(fresh.status).toBe(200);
      expect(fresh.redirected).toBe(true);
      expect(sha(Buffer.from(await fresh.arrayBuffer()))).toBe(digest);
    } finally {
      await old.close();
    }
  });

  it.skipIf(otherName === undefined)(
    'signs for --s3-public-endpoint: the URL names that host, works there, and its signature fails on the internal name',
    async () => {
      const pub = await startTestServer('s3-redirect-public', {
        s3: testLocation(bucket, 'pub/'),
        s3Redirect: { ttlSeconds: 1200, publicEndpoint: otherName! },
      });
      try {
        await new Registry(pub.url).pushImage('team/app', ociImage({ layers: [layer] }), 'v1');
        const r = await getManual(blobUrl(pub));
        expect(r.status).toBe(307);
        const location = new URL(r.headers.get('location')!);
        expect(location.origin).toBe(otherName);
        const ok = await fetch(location);
        expect(ok.status).toBe(200);
        expect(sha(Buffer.from(await ok.arrayBuffer()))).toBe(digest);
        // the host is part of what is signed: the same URL sent to the internal name is refused
        const internal = new URL(location);
        internal.host = new URL(S3_ENDPOINT).host;
        const refused = await fetch(internal);
        expect(refused.status).toBe(403);
        expect(await refused.text()).toContain('SignatureDoesNotMatch');
      } finally {
        await pub.close();
      }
    },
  );

  it('streams a blob held on demand from its remote through berth on its first GET, and redirects once it is stored', async () => {
    const upstream = await startBlobServer();
    const od = await startTestServer('s3-redirect-on-demand', {
      s3: testLocation(bucket, 'od/'),
      s3Redirect: { ttlSeconds: 1200 },
      upstreamFor: async () =>
        createUpstream({ name: 'hub', url: upstream.url, tlsVerify: true, concurrency: 4 }),
    });
    try {
      upstream.blobs.set(`library/web/${digest}`, layer);
      await seedOnDemand(
        od.berth,
        'od/web',
        [{ digest: digest as Digest, size: layer.length }],
        'hub',
        'library/web',
      );
      const first = await getManual(blobUrl(od, 'od/web'));
      expect(first.status).toBe(200);
      expect(first.headers.get('location')).toBeNull();
      expect(sha(Buffer.from(await first.arrayBuffer()))).toBe(digest);
      expect(upstream.gets.get(`library/web/${digest}`)).toBe(1);
      const then = await getManual(blobUrl(od, 'od/web'));
      expect(then.status).toBe(307);
      expect(new URL(then.headers.get('location')!).pathname).toContain(`/${bucket}/od/blobs/sha256/`);
      const bytes = await fetch(blobUrl(od, 'od/web'), { headers: ADMIN_AUTH });
      expect(sha(Buffer.from(await bytes.arrayBuffer()))).toBe(digest);
      expect(upstream.gets.get(`library/web/${digest}`)).toBe(1);
    } finally {
      await od.close();
      upstream.release();
      await upstream.close();
    }
  });

  it('streams blobs itself without --s3-redirect (Range too)', async () => {
    const plain = await startTestServer('s3-no-redirect', { s3: testLocation(bucket, 'plain/') });
    try {
      await new Registry(plain.url).pushImage('team/app', ociImage({ layers: [layer] }), 'v1');
      const r = await getManual(blobUrl(plain));
      expect(r.status).toBe(200);
      expect(r.headers.get('location')).toBeNull();
      expect(sha(Buffer.from(await r.arrayBuffer()))).toBe(digest);
      const part = await getManual(blobUrl(plain), { ...ADMIN_AUTH, range: 'bytes=10-19' });
      expect(part.status).toBe(206);
      expect(Buffer.from(await part.arrayBuffer()).equals(layer.subarray(10, 20))).toBe(true);
    } finally {
      await plain.close();
    }
  });
});
