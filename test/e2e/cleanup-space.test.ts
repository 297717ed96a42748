// Space comes back, end to end with real skopeo: a 256 MiB image pushed, deleted with `skopeo delete`, then
// `berth cleanup --protection 0` (retention 1): the store's bytes (on disk; on S3, the bucket's) drop by the image's
// unique bytes, and every other tag still pulls. On PostgreSQL two `berth serve` processes share the database and
// store: pushes, the delete, the cleanup and the pulls go to different ones.
// Size: BERTH_CLEANUP_E2E_MIB (default 256).
import { afterAll, beforeAll, describe, expect } from 'vitest';
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream, mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip, gzipSync } from 'node:zlib';
import {
  hasCommand,
  selectedBackend,
  skipUnless,
  testDatabaseUrl,
  removeTestDatabase,
} from '../helpers/backend.js';
import { stampedMiBs } from '../helpers/big-archive.js';
import { hex, sha } from '../helpers/images.js';
import { runBerth } from '../helpers/cli.js';
import { skopeo, startRealServer, type RealServer } from '../helpers/real-server.js';
import { releaseDataStore, storedBytes } from '../helpers/data-store.js';
import { testStoreKind } from '../helpers/s3.js';
import { MIB } from './support.js';

const it = skipUnless(hasCommand('skopeo'), 'skopeo is not installed (apt-get install skopeo)');
const SIZE_MIB = Number(process.env.BERTH_CLEANUP_E2E_MIB ?? 256);
const REPO = 'e2e/space';

let work: string;
let database: string;
const servers: RealServer[] = [];
beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'cleanup-space-'));
  database = await testDatabaseUrl('cleanup-space');
  const count = selectedBackend() === 'postgres' ? 2 : 1;
  for (let i = 0; i < count; i++)
    servers.push(
      await startRealServer(`cleanup-space${i}`, {
        data: join(work, 'data'),
        database,
        args: ['--cleanup-interval', '0'], // this test runs cleanup itself
      }),
    );
});
afterAll(async () => {
  for (const s of servers) await s.stop();
  if (database) await removeTestDatabase(database);
  if (work) {
    rmSync(work, { recursive: true, force: true });
    await releaseDataStore(join(work, 'data'));
  }
});

interface Blob {
  digest: string;
  size: number;
}

/**
 * An OCI layout written in code: images `small` and `other` share a base layer; `big` shares it too and has two
 * layers of its own, SIZE_MIB in all, streamed to disk (never whole in memory) as gzip with stored blocks
 * (skopeo pushes gzip layers as they are).
 */
async function buildLayout(dir: string) {
  const blobs = join(dir, 'blobs', 'sha256');
  mkdirSync(blobs, { recursive: true });
  const put = (b: Buffer): Blob => {
    writeFileSync(join(blobs, hex(sha(b))), b);
    return { digest: sha(b), size: b.length };
  };
  const block = randomBytes(MIB);
  /** A gzip layer of `mib` MiB of stamped random blocks, written as it is made; its digest and diff ID. */
  const bigLayer = async (seed: number, mib: number): Promise<Blob & { diffId: string }> => {
    const tmp = join(blobs, `tmp-${seed}`);
    const diff = createHash('sha256');
    const digest = createHash('sha256');
    let size = 0;
    function* blocks() {
      for (const b of stampedMiBs(block, seed, mib * MIB)) {
        diff.update(b);
        yield b;
      }
    }
    const gzip = createGzip({ level: 0 });
    gzip.on('data', (c: Buffer) => {
      digest.update(c);
      size += c.length;
    });
    await pipeline(Readable.from(blocks()), gzip, createWriteStream(tmp));
    const d = `sha256:${digest.digest('hex')}`;
    renameSync(tmp, join(blobs, hex(d)));
    return { digest: d, size, diffId: `sha256:${diff.digest('hex')}` };
  };
  const smallLayer = (bytes: Buffer) => ({ ...put(gzipSync(bytes)), diffId: sha(bytes) });
  const base = smallLayer(randomBytes(64 * 1024));
  const image = (layers: (Blob & { diffId: string })[]) => {
    const config = put(
      Buffer.from(
        JSON.stringify({
          architecture: 'amd64',
          os: 'linux',
          created: new Date().toISOString(),
          rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) },
        }),
      ),
    );
    const manifest = put(
      Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
          layers: layers.map((l) => ({
            mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
            digest: l.digest,
            size: l.size,
          })),
        }),
      ),
    );
    return { config, manifest, layers };
  };
  const half = Math.floor(SIZE_MIB / 2);
  const big = image([base, await bigLayer(1, half), await bigLayer(2, SIZE_MIB - half)]);
  const small = image([base, smallLayer(randomBytes(8 * 1024))]);
  const other = image([base, smallLayer(randomBytes(8 * 1024))]);
  const entry = (img: typeof big, tag: string) => ({
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    ...img.manifest,
    annotations: { 'org.opencontainers.image.ref.name': tag },
  });
  writeFileSync(join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  writeFileSync(
    join(dir, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      manifests: [entry(big, 'big'), entry(small, 'small'), entry(other, 'other')],
    }),
  );
  // what only `big` has: its own layers, its config, its manifest
  const unique = [big.manifest, big.config, ...big.layers.slice(1)];
  return { unique, uniqueBytes: unique.reduce((n, b) => n + b.size, 0) };
}

describe('space comes back after an image is deleted', () => {
  it(`${SIZE_MIB} MiB image: skopeo delete, cleanup --protection 0: the store shrinks by its unique bytes; the rest pulls`, async () => {
    const layout = join(work, 'layout');
    const { unique, uniqueBytes } = await buildLayout(layout);
    const at = (i: number) => servers[i % servers.length]!;
    const remote = (i: number, tag: string) => `docker://${at(i).hostPort}/${REPO}:${tag}`;
    for (const [i, tag] of ['small', 'other', 'big'].entries())
      await skopeo('copy', '--quiet', '--dest-tls-verify=false', `oci:${layout}:${tag}`, remote(i, tag));
    const retain = await runBerth(at(1).url, 'repo', 'retain', REPO, '1');
    expect(retain.code, retain.err).toBe(0);
    // the store's bytes: of its files, or of the bucket's objects (sizes from the listing) on S3
    const before = await storedBytes(join(work, 'data'));

    await skopeo('delete', '--tls-verify=false', remote(1, 'big'));
    const started = Date.now();
    const cleanup = await runBerth(at(0).url, 'cleanup', '--protection', '0', '--json');
    const cleanupMs = Date.now() - started;
    expect(cleanup.code, cleanup.err).toBe(0);
    const report = JSON.parse(cleanup.out);
    const after = await storedBytes(join(work, 'data'));
    console.log(
      `cleanup-space (${selectedBackend()}, ${testStoreKind()}, ${servers.length} process(es)): store ${before} bytes before, ${after} after ` +
        `(dropped ${before - after}; the image's unique bytes: ${uniqueBytes}); cleanup took ${cleanupMs} ms, ` +
        `removed ${report.removed.blobs} blobs (${report.removed.bytes} bytes); repositories: ${JSON.stringify(report.repositories)}`,
    );
    expect(report.repositories).toEqual([
      expect.objectContaining({ repository: REPO, blobs: unique.length - 1, manifests: 0 }),
    ]);
    for (const b of unique) expect(report.digests).toContain(b.digest);
    expect(before - after).toBe(uniqueBytes);

    // the version cleanup made says what it removed
    const versions = JSON.parse((await runBerth(at(1).url, 'repo', 'versions', REPO, '--json')).out).versions;
    expect(versions.at(-1).message).toBe(`cleanup: removed ${unique.length - 1} unreferenced blobs`);
    // every other tag still pulls, from every process; the deleted one does not
    for (const [i, tag] of [...servers.keys()].flatMap((i) => [
      [i, 'small'],
      [i, 'other'],
    ]) as [number, string][]) {
      await skopeo(
        'copy',
        '--quiet',
        '--src-tls-verify=false',
        remote(i, tag),
        `oci:${join(work, `pulled-${i}`)}:${tag}`,
      );
    }
    await expect(skopeo('inspect', '--raw', '--tls-verify=false', remote(0, 'big'))).rejects.toThrow(
      /manifest unknown|not found/i,
    );
  }, 600_000);
});
