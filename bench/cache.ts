// Bench group "cache": the first pull of an image through a pull-through cache, against the same pull straight from the upstream Distribution.
import { randomBytes } from 'node:crypto';
import type { Ctx, Measure } from './cases.js';
import { basicHeader, expectStatus, pool, pushBlob, pushManifest, request, sha256 } from './http.js';
import { imageJson, OCI_MANIFEST } from './images.js';
import { startPipeProxy } from './pipe-proxy.js';
import { timed } from './stats.js';

/** Layers and their size of the pulled image (full: 4 × 16 MiB; quick: 3 × 1 MiB). */
const SHAPE = {
  full: { layers: 4, size: 16 * 1024 * 1024 },
  quick: { layers: 3, size: 1024 * 1024 },
};

/** Pulls an image as a client does: the manifest, then its config and layers, 3 at a time; checks every digest. */
async function pullImage(
  base: string,
  repo: string,
  tag: string,
  headers: Record<string, string>,
): Promise<void> {
  const m = await expectStatus(200, 'GET', `${base}/v2/${repo}/manifests/${tag}`, {
    headers: { ...headers, Accept: OCI_MANIFEST },
  });
  const manifest = JSON.parse(m.body.toString()) as {
    config: { digest: string };
    layers: { digest: string }[];
  };
  await pool([manifest.config, ...manifest.layers], 3, async (d) => {
    const b = await request('GET', `${base}/v2/${repo}/blobs/${d.digest}`, { headers });
    if (b.status !== 200 || sha256(b.body) !== d.digest)
      throw new Error(`blob ${d.digest} of ${repo}: ${b.status}`);
  });
}

export async function cachePull(ctx: Ctx): Promise<void> {
  const shape = ctx.sizes.tags >= 10_000 ? SHAPE.full : SHAPE.quick;
  const auth = { Authorization: basicHeader(ctx.berth.creds!) };
  const json = { ...auth, 'Content-Type': 'application/json' };
  await expectStatus([201, 409], 'POST', `${ctx.berth.url}/api/v1/remotes`, {
    headers: json,
    body: JSON.stringify({ name: 'bench-cache', url: ctx.dist.url, concurrency: 8 }),
  });
  await expectStatus([201, 409], 'POST', `${ctx.berth.url}/api/v1/caches`, {
    headers: json,
    body: JSON.stringify({ name: 'bench', remote: 'bench-cache', prefix: 'cache/bench' }),
  });
  const m: Measure = {
    id: 'cache-first-pull',
    label: `first pull through the cache of ${shape.layers} layers of ${shape.size / 1024 / 1024} MiB`,
    unit: 's',
    better: 'lower',
    berth: [],
    reference: [],
    referenceName: 'direct pull from Distribution',
    target: { ratio: 1.2 },
    note: 'berth: manifest and blobs of an image never pulled before, through the cache (on-demand blobs streamed from Distribution); reference: the same pull from Distribution',
  };
  ctx.measures.push(m);
  // The floor of any caching hop on this machine, measured in the same runs: the same pull through a bare Node.js
  // pipe, and through one that hashes and stores every blob byte (bench/pipe-proxy.ts; no target: references).
  const floors = (['pipe', 'hash-store'] as const).map((mode) => {
    const f: Measure = {
      id: `cache-floor-${mode}`,
      label: `the same pull through a bare Node.js hop${mode === 'pipe' ? '' : ' that hashes and stores each blob'}`,
      unit: 's',
      better: 'lower',
      berth: [],
      reference: [],
      referenceName: 'direct pull from Distribution',
      note: `the floor of the cache's ratio: bench/pipe-proxy.ts in ${mode} mode (no berth) in front of Distribution`,
    };
    ctx.measures.push(f);
    return { mode, f };
  });
  const hops = await Promise.all(floors.map((x) => startPipeProxy(ctx.dist.url, x.mode, ctx.work)));
  try {
    await pulls(
      ctx,
      shape,
      m,
      auth,
      floors.map((x, i) => ({ f: x.f, url: hops[i]!.url })),
    );
  } finally {
    await Promise.all(hops.map((h) => h.stop()));
  }
}

async function pulls(
  ctx: Ctx,
  shape: { layers: number; size: number },
  m: Measure,
  auth: Record<string, string>,
  floors: { f: Measure; url: string }[],
): Promise<void> {
  for (let r = 0; r < ctx.sizes.runs; r++) {
    const repo = `bench/cache-${r}`;
    const layers = Array.from({ length: shape.layers }, () => randomBytes(shape.size));
    for (const l of layers) await pushBlob(ctx.dist.url, repo, l);
    const img = imageJson(
      layers.map((l) => ({ digest: sha256(l), size: l.length })),
      `cache-${r}`,
    );
    await pushBlob(ctx.dist.url, repo, img.config);
    await pushManifest(ctx.dist.url, repo, 'v1', img.manifest, OCI_MANIFEST);
    const viaCache = async () =>
      m.berth.push((await timed(() => pullImage(ctx.berth.url, `cache/bench/${repo}`, 'v1', auth))).seconds);
    const direct = async () =>
      m.reference.push((await timed(() => pullImage(ctx.dist.url, repo, 'v1', {}))).seconds);
    if (r % 2 === 0) {
      await viaCache();
      await direct();
    } else {
      await direct();
      await viaCache();
    }
    // the floors pull what is in Distribution already (a hop stores nothing that could make a second pull cheaper)
    for (const { f, url } of floors) {
      f.berth.push((await timed(() => pullImage(url, repo, 'v1', {}))).seconds);
      f.reference.push((await timed(() => pullImage(ctx.dist.url, repo, 'v1', {}))).seconds);
    }
    ctx.log(
      `cache: run ${r + 1}/${ctx.sizes.runs}: through the cache ${m.berth.at(-1)!.toFixed(3)} s, direct ${m.reference.at(-1)!.toFixed(3)} s; ` +
        floors.map(({ f }) => `${f.id} ${f.berth.at(-1)!.toFixed(3)} s`).join(', '),
    );
  }
}
