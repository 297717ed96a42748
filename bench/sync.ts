// Bench group "sync": berth's sync of a repository of many tags from a local Distribution, against `skopeo sync` of the same repository into a second Distribution.
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { Ctx, Measure } from './cases.js';
import { runCommand } from './exec.js';
import { basicHeader, expectStatus, pool, pushBlob, pushManifest, request, sha256 } from './http.js';
import { imageJson, OCI_MANIFEST } from './images.js';
import { startDistribution, type Server } from './servers.js';
import { timed } from './stats.js';

/** Tags and layers per tag of the synced repository (full: 50 tags; quick: 10). */
const SHAPE = {
  full: { tags: 50, layers: 3, size: 256 * 1024 },
  quick: { tags: 10, layers: 2, size: 64 * 1024 },
};

/** Pushes `tags` images of `layers` distinct layers each into a Distribution (no auth). */
async function seed(dist: Server, repo: string, shape: { tags: number; layers: number; size: number }) {
  await pool(
    Array.from({ length: shape.tags }, (_, i) => i),
    8,
    async (i) => {
      const layers = Array.from({ length: shape.layers }, () => randomBytes(shape.size));
      for (const l of layers) await pushBlob(dist.url, repo, l);
      const img = imageJson(
        layers.map((l) => ({ digest: sha256(l), size: l.length })),
        `sync-${i}`,
      );
      await pushBlob(dist.url, repo, img.config);
      await pushManifest(dist.url, repo, `t${i}`, img.manifest, OCI_MANIFEST);
    },
  );
}

/** Syncs `upstream` into `repo` on berth through the API and waits for the run; throws unless it succeeded. */
async function berthSync(s: Server, repo: string, upstream: string): Promise<void> {
  const auth = { Authorization: basicHeader(s.creds!), 'Content-Type': 'application/json' };
  const started = await expectStatus(202, 'POST', `${s.url}/api/v1/repositories/${repo}/-/sync`, {
    headers: auth,
    body: JSON.stringify({ remote: 'bench-dist', upstream }),
  });
  const id = (JSON.parse(started.body.toString()) as { run: { id: string } }).run.id;
  for (;;) {
    const r = await request('GET', `${s.url}/api/v1/sync-runs/${id}`, { headers: auth });
    const run = JSON.parse(r.body.toString()) as { state: string; error: string | null };
    if (run.state === 'failed') throw new Error(`berth sync ${id} failed: ${run.error}`);
    if (run.state === 'succeeded') return;
    await new Promise((res) => setTimeout(res, 20));
  }
}

export async function syncRepository(ctx: Ctx): Promise<void> {
  // the full sizes (FULL) have 10 000 tags for the tags-list case, the quick ones fewer
  const shape = ctx.sizes.tags >= 10_000 ? SHAPE.full : SHAPE.quick;
  const src = 'bench/sync-src';
  await seed(ctx.dist, src, shape);
  const dest = await startDistribution(join(ctx.work, 'distribution-sync', 'store'));
  try {
    await expectStatus([200, 201, 409], 'POST', `${ctx.berth.url}/api/v1/remotes`, {
      headers: { Authorization: basicHeader(ctx.berth.creds!), 'Content-Type': 'application/json' },
      body: JSON.stringify({ name: 'bench-dist', url: ctx.dist.url, concurrency: 8 }),
    });
    const m: Measure = {
      id: 'sync-repository',
      label: `sync of ${shape.tags} tags × ${shape.layers} layers of ${shape.size / 1024} KiB from Distribution`,
      unit: 's',
      better: 'lower',
      berth: [],
      reference: [],
      referenceName: 'skopeo sync',
      target: { ratio: 1 },
      note: 'berth: POST …/-/sync and wait for the run; reference: skopeo sync --src docker --dest docker into a second Distribution',
    };
    ctx.measures.push(m);
    for (let r = 0; r < ctx.sizes.runs; r++) {
      const runBerth = async () =>
        m.berth.push((await timed(() => berthSync(ctx.berth, `bench/sync-${r}`, src))).seconds);
      const runSkopeo = async () =>
        m.reference.push(
          (
            await timed(() =>
              runCommand('skopeo', [
                'sync',
                '--src',
                'docker',
                '--dest',
                'docker',
                '--src-tls-verify=false',
                '--dest-tls-verify=false',
                `${ctx.dist.hostPort}/${src}`,
                `${dest.hostPort}/run-${r}`,
              ]),
            )
          ).seconds,
        );
      if (r % 2 === 0) {
        await runBerth();
        await runSkopeo();
      } else {
        await runSkopeo();
        await runBerth();
      }
      ctx.log(
        `sync: run ${r + 1}/${ctx.sizes.runs}: berth ${m.berth.at(-1)!.toFixed(2)} s, skopeo sync ${m.reference.at(-1)!.toFixed(2)} s`,
      );
    }
  } finally {
    await dest.stop();
  }
}
