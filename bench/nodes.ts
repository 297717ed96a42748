// Scale case: pushes and pulls per second through nginx, over two berth processes (one PostgreSQL database, one
// shared --data folder) against the same nginx over one of them.
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { measure, sizeLabel, type Ctx } from './cases.js';
import { authorization, expectStatus, pushBlob, pushManifest, sha256 } from './http.js';
import { imageJson, OCI_MANIFEST } from './images.js';
import { startNginx, type Nginx } from './nginx.js';
import type { Server } from './servers.js';
import { secondsSince } from './stats.js';

const LAYER = 4096;

/** Pushes of distinct small images (a 4 KiB layer, a config, a manifest under a new tag) by `workers` at once. */
async function pushes(url: string, s: Server, workers: number, seconds: number, label: string) {
  let done = 0;
  const start = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: workers }, async (_, w) => {
      const repo = `bench/nodes-${label}-${w}`;
      const headers = await authorization(url, s.creds, repo, 'pull,push');
      for (let i = 0; secondsSince(start) < seconds; i++) {
        const layer = randomBytes(LAYER);
        const img = imageJson([{ digest: sha256(layer), size: LAYER }]);
        await pushBlob(url, repo, layer, headers);
        await pushBlob(url, repo, img.config, headers);
        await pushManifest(url, repo, `p-${i}`, img.manifest, OCI_MANIFEST, headers);
        done++;
      }
    }),
  );
  return done / secondsSince(start);
}

/** Pulls (manifest by tag, config, layer, each checked) of one image by `workers` at once. */
async function pulls(url: string, s: Server, workers: number, seconds: number, repo: string) {
  const headers = {
    ...(await authorization(url, s.creds, repo, 'pull')),
    Accept: OCI_MANIFEST,
  };
  let done = 0;
  const start = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: workers }, async () => {
      while (secondsSince(start) < seconds) {
        const m = await expectStatus(200, 'GET', `${url}/v2/${repo}/manifests/latest`, { headers });
        const json = JSON.parse(m.body.toString()) as {
          config: { digest: string };
          layers: { digest: string }[];
        };
        for (const d of [json.config.digest, json.layers[0]!.digest]) {
          const b = await expectStatus(200, 'GET', `${url}/v2/${repo}/blobs/${d}`, { headers });
          if (sha256(b.body) !== d) throw new Error(`GET ${repo} blob ${d}: other bytes`);
        }
        done++;
      }
    }),
  );
  return done / secondsSince(start);
}

/**
 * `one` and `two` are berth processes on one database and data folder (`two` holds `one` and another). Starts an
 * nginx over each set and measures pushes and pulls per second through both, alternating which goes first.
 */
export async function nodesCase(
  ctx: Ctx,
  opts: { one: Server; other: Server; nginx: string; workers: number; seconds: number; runs: number },
): Promise<void> {
  const { one, other, workers, seconds, runs } = opts;
  const proxies: Nginx[] = [];
  try {
    proxies.push(await startNginx(opts.nginx, join(ctx.work, 'scale', 'nginx-1'), [one.hostPort]));
    proxies.push(
      await startNginx(opts.nginx, join(ctx.work, 'scale', 'nginx-2'), [one.hostPort, other.hostPort]),
    );
    const [single, pair] = [proxies[0]!.url, proxies[1]!.url];
    const what = `${workers} clients, ${sizeLabel(LAYER)} images, via nginx`;
    const rate = (id: string, label: string) =>
      measure(ctx, {
        id,
        label: `${label}/s, ${what}: 2 berth processes vs 1 (≥ 1.6 × = ratio ≤ 0.625)`,
        unit: `${label}/s`,
        better: 'higher',
        referenceName: '1 process',
        target: { ratio: 0.625 },
      });
    const push = rate('nodes-push', 'push');
    const pull = rate('nodes-pull', 'pull');
    // the image everyone pulls, pushed once (both nginx reach the same database and store)
    const pulled = 'bench/nodes-pulled';
    const h = await authorization(single, one.creds, pulled, 'pull,push');
    const layer = randomBytes(LAYER);
    const img = imageJson([{ digest: sha256(layer), size: LAYER }]);
    await pushBlob(single, pulled, layer, h);
    await pushBlob(single, pulled, img.config, h);
    await pushManifest(single, pulled, 'latest', img.manifest, OCI_MANIFEST, h);
    for (let r = 0; r < runs; r++) {
      const turns: [string, number[], number[]][] = [
        [single, push.reference, pull.reference],
        [pair, push.berth, pull.berth],
      ];
      if (r % 2 === 1) turns.reverse();
      for (const [url, pushed, pulledRates] of turns) {
        pushed.push(await pushes(url, one, workers, seconds, `${r}-${url === pair ? 2 : 1}`));
        pulledRates.push(await pulls(url, one, workers, seconds, pulled));
      }
      ctx.log(
        `nodes: run ${r + 1}/${runs}: pushes/s ${push.berth.at(-1)!.toFixed(0)} with 2 processes, ` +
          `${push.reference.at(-1)!.toFixed(0)} with 1; pulls/s ${pull.berth.at(-1)!.toFixed(0)} with 2, ` +
          `${pull.reference.at(-1)!.toFixed(0)} with 1`,
      );
    }
    const note =
      'both through nginx (round robin); berth on one PostgreSQL database and one --data folder; the clients, ' +
      'nginx, PostgreSQL and the servers share this machine';
    push.note = `a push = POST+PUT of the layer, POST+PUT of the config, PUT of the manifest; ${note}`;
    pull.note = 'a pull = GET of the manifest by tag, then of its config and layer (digests checked)';
  } finally {
    for (const p of proxies) await p.stop();
  }
}
