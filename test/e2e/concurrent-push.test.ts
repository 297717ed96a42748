// 16 skopeo pushes at once into ONE repository, each its own image and tag: all succeed (no 429, no 5xx, no
// retry needed), exactly 16 new versions, all 16 tags pull back. The images share one layer, so 16 uploads of
// the same blob race too.
import { afterAll, beforeAll, describe, expect } from 'vitest';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { hasCommand, skipUnless } from '../helpers/backend.js';
import { tarOf } from '../helpers/images.js';
import { skopeo, startRealServer, type RealServer } from '../helpers/real-server.js';
import { readDir, sha, versionsOf } from './support.js';

const it = skipUnless(hasCommand('skopeo'), 'skopeo is not installed (apt-get install skopeo)');
const N = 16;
const REPO = 'busy/app';

let s: RealServer;
let work: string;
beforeAll(async () => {
  // request logs (info) so that every status code the server answered can be checked
  const before = process.env.BERTH_TEST_LOG;
  process.env.BERTH_TEST_LOG = 'info';
  try {
    s = await startRealServer('concurrent');
  } finally {
    if (before === undefined) delete process.env.BERTH_TEST_LOG;
    else process.env.BERTH_TEST_LOG = before;
  }
  work = mkdtempSync(join(tmpdir(), 'concurrent-'));
});
afterAll(async () => {
  await s?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

/** Writes an OCI layout holding N images tagged t0…t15: a shared gzip layer plus one of each image's own. */
async function buildLayout(dir: string): Promise<string[]> {
  const blobs = join(dir, 'blobs', 'sha256');
  mkdirSync(blobs, { recursive: true });
  const put = (b: Buffer) => {
    const d = sha(b);
    writeFileSync(join(blobs, d.slice(7)), b);
    return { digest: d, size: b.length };
  };
  const layer = async (name: string, bytes: Buffer) => {
    const tar = await tarOf([{ name, data: bytes }]);
    return { ...put(gzipSync(tar)), diffId: sha(tar) };
  };
  const shared = await layer('shared.bin', randomBytes(32 * 1024));
  const manifests = [];
  for (let i = 0; i < N; i++) {
    const own = await layer(`own-${i}.bin`, randomBytes(4096 + i));
    const config = put(
      Buffer.from(
        JSON.stringify({
          architecture: 'amd64',
          os: 'linux',
          config: { Labels: { image: String(i) } },
          rootfs: { type: 'layers', diff_ids: [shared.diffId, own.diffId] },
        }),
      ),
    );
    const manifest = put(
      Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
          layers: [shared, own].map((l) => ({
            mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
            digest: l.digest,
            size: l.size,
          })),
        }),
      ),
    );
    manifests.push({
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      ...manifest,
      annotations: { 'org.opencontainers.image.ref.name': `t${i}` },
    });
  }
  writeFileSync(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  writeFileSync(join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests }));
  return manifests.map((m) => m.digest);
}

/** Status codes of the server's request log, with the method and URL of each request. */
function answered(): { method: string; url: string; status: number }[] {
  const incoming = new Map<string, { method: string; url: string }>();
  const out: { method: string; url: string; status: number }[] = [];
  for (const line of s.output().split('\n')) {
    if (!line.startsWith('{')) continue;
    const e = JSON.parse(line) as {
      reqId?: string;
      req?: { method: string; url: string };
      res?: { statusCode: number };
    };
    if (e.reqId && e.req) incoming.set(e.reqId, e.req);
    if (e.reqId && e.res) out.push({ ...incoming.get(e.reqId)!, status: e.res.statusCode });
  }
  return out;
}

describe(`${N} concurrent skopeo pushes to one repository`, () => {
  it('all succeed, make exactly one version each, and every tag pulls back', async () => {
    const layout = join(work, 'layout');
    const digests = await buildLayout(layout);
    const started = Date.now();
    const results = await Promise.allSettled(
      digests.map((_, i) =>
        skopeo(
          'copy',
          '--quiet',
          '--dest-tls-verify=false',
          `oci:${layout}:t${i}`,
          `docker://${s.hostPort}/${REPO}:t${i}`,
        ),
      ),
    );
    const pushSeconds = (Date.now() - started) / 1000;
    const failed = results.flatMap((r, i) => (r.status === 'rejected' ? [`t${i}: ${String(r.reason)}`] : []));
    expect(failed, failed.join('\n')).toEqual([]);

    // the server logs a request after answering it: wait (a little) for the last lines to come through the pipe
    const isManifestPut = (r: { method: string; url: string }) =>
      r.method === 'PUT' && r.url.includes('/manifests/');
    for (let t = 0; t < 100 && answered().filter(isManifestPut).length < N; t++) {
      await new Promise((r) => setTimeout(r, 50));
    }
    const requests = answered();
    const bad = requests.filter((r) => r.status === 429 || r.status >= 500);
    expect(bad, JSON.stringify(bad)).toEqual([]);
    const manifestPuts = requests.filter(isManifestPut);
    expect(manifestPuts.map((r) => r.status)).toEqual(Array(N).fill(201));

    const versions = await versionsOf(s.url, REPO);
    expect(versions.map((v) => v.number)).toEqual(Array.from({ length: N + 1 }, (_, i) => i));
    // each version: the manifest, its tag, its config and own layer; the shared layer comes with the first
    expect(
      versions
        .slice(1)
        .map((v) => v.added)
        .sort(),
    ).toEqual([...Array(N - 1).fill(4), 5].sort());
    const tags = JSON.parse(
      await skopeo('list-tags', '--tls-verify=false', `docker://${s.hostPort}/${REPO}`),
    );
    expect((tags.Tags as string[]).sort()).toEqual(digests.map((_, i) => `t${i}`).sort());

    const pulled = await Promise.all(
      digests.map(async (_, i) => {
        const dir = join(work, `pulled-${i}`);
        await skopeo(
          'copy',
          '--quiet',
          '--src-tls-verify=false',
          `docker://${s.hostPort}/${REPO}:t${i}`,
          `dir:${dir}`,
        );
        return readDir(dir).digest;
      }),
    );
    expect(pulled).toEqual(digests);
    console.log(
      `concurrent push: ${N} skopeo pushes in ${pushSeconds.toFixed(2)} s, ${requests.length} requests, ` +
        `${versions.length - 1} versions`,
    );
  });
});
