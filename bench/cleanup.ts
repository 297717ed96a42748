// The cleanup case: berth's online cleanup of orphaned blobs while it serves GETs, against Distribution's
// garbage-collect of the same blobs. The `cleanup` group runs it at its size, the `scale` group at a larger one.
import { join } from 'node:path';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { measure, measured, order, seedImage, settle, sizeLabel, uploadArchive, type Ctx } from './cases.js';
import { runCommand } from './exec.js';
import { authorization, basicHeader, expectStatus, pool, pushBlob } from './http.js';
import { bufferEntry, hex, imageJson, OCI_MANIFEST, smallBlobs, writeTar } from './images.js';
import { startLoad, type LoadResult } from './loadgen.js';
import { distributionBinary, type Server } from './servers.js';
import { timed } from './stats.js';

/** Blobs per archive (and per batch held in memory): an image's manifest and config must stay under 4 MiB. */
const PER_ARCHIVE = 20_000;

export async function cleanup(ctx: Ctx): Promise<void> {
  await cleanupCase(ctx, { id: 'cleanup', ...ctx.sizes.orphans, runs: ctx.sizes.runs });
}

/**
 * Blobs written straight into Distribution's filesystem layout as a push of them leaves it: `blobs/sha256/XX/HEX/data`
 * and the repository's link `repositories/REPO/_layers/sha256/HEX/link`.
 */
function writeDistributionBlobs(
  root: string,
  repo: string,
  blobs: { digest: string; bytes: Buffer }[],
): void {
  const v2 = join(root, 'docker', 'registry', 'v2');
  for (const b of blobs) {
    const h = hex(b.digest);
    const dir = join(v2, 'blobs', 'sha256', h.slice(0, 2), h);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'data'), b.bytes);
    const link = join(v2, 'repositories', repo, '_layers', 'sha256', h);
    mkdirSync(link, { recursive: true });
    writeFileSync(join(link, 'link'), b.digest);
  }
}

/**
 * Makes the orphans (unmeasured): for berth, skopeo-dir tars of images whose layers are the blobs (20 000 a tar),
 * uploaded as archives to one repository, then version 0 (the empty repository) restored and retention set to 1,
 * so that nothing refers to them any more; for Distribution, the same blobs in a repository and never referenced
 * by a manifest: pushed (POST, PUT ?digest=), or with `direct` written into its folders as a push leaves them.
 * Made a batch of 20 000 at a time, so the bench never holds them all.
 */
async function makeOrphans(
  ctx: Ctx,
  repo: string,
  count: number,
  size: number,
  direct: boolean,
): Promise<void> {
  const apiHeaders: Record<string, string> = ctx.berth.creds
    ? { Authorization: basicHeader(ctx.berth.creds) }
    : {};
  for (let from = 0, k = 0; from < count; from += PER_ARCHIVE, k++) {
    const blobs = smallBlobs(Math.min(PER_ARCHIVE, count - from), size);
    const tar = join(ctx.work, 'orphans.tar');
    const img = imageJson(blobs.map((b) => ({ digest: b.digest, size })));
    await writeTar(tar, [
      bufferEntry('version', 'Directory Transport Version: 1.1\n'),
      bufferEntry(hex(img.configDigest), img.config),
      ...blobs.map((b) => bufferEntry(hex(b.digest), b.bytes)),
      bufferEntry('manifest.json', img.manifest),
    ]);
    const up = await timed(() => uploadArchive(ctx.berth, tar, repo, `orphans-${k}`));
    rmSync(tar, { force: true });
    const d = await timed(async () => {
      if (direct) writeDistributionBlobs(ctx.dist.data, repo, blobs);
      else
        await pool(blobs, 16, async (b) => {
          await pushBlob(ctx.dist.url, repo, b.bytes);
        });
    });
    ctx.log(
      `orphans ${from + 1}–${from + blobs.length}: berth archive upload ${up.seconds.toFixed(1)} s, ` +
        `Distribution ${direct ? 'files written' : 'pushes'} ${d.seconds.toFixed(1)} s`,
    );
  }
  const api = `${ctx.berth.url}/api/v1/repositories/${repo}`;
  await expectStatus(201, 'POST', `${api}/-/versions/0/restore`, { headers: apiHeaders });
  await expectStatus(200, 'PATCH', api, {
    headers: { ...apiHeaders, 'Content-Type': 'application/json' },
    body: JSON.stringify({ retainVersions: 1 }),
  });
}

/** berth's cleanup while 4 connections GET a manifest; answers the GETs' figures. */
async function berthCleanup(
  ctx: Ctx,
  m: ReturnType<typeof measure>,
  s: Server,
  probe: { repo: string; headers: Record<string, string> },
  count: number,
): Promise<LoadResult> {
  const apiHeaders: Record<string, string> = s.creds ? { Authorization: basicHeader(s.creds) } : {};
  const load = startLoad({
    url: `${s.url}/v2/${probe.repo}/manifests/latest`,
    method: 'GET',
    headers: probe.headers,
    connections: 4,
    warmupSeconds: 0,
  });
  await new Promise((res) => setTimeout(res, 200));
  const run = await measured(ctx, m, s, () =>
    expectStatus(200, 'POST', `${s.url}/api/v1/cleanup`, {
      headers: { ...apiHeaders, 'Content-Type': 'application/json' },
      body: JSON.stringify({ protectionSeconds: 0 }),
    }),
  );
  await new Promise((res) => setTimeout(res, 200));
  const p = await load.stop();
  const report = JSON.parse(run.value.body.toString()) as { removed: { blobs: number } };
  if (report.removed.blobs < count) {
    throw new Error(`berth cleanup removed ${report.removed.blobs} blobs, expected ${count} or more`);
  }
  if (p.errors > 0) throw new Error(`GETs during cleanup failed: ${p.firstError}`);
  return p;
}

/**
 * Cleanup of `count` orphans of `size` bytes, `runs` times, under measure ids `<id>` and `<id>-serving`; `direct`:
 * Distribution's orphans written into its folders rather than pushed.
 */
export async function cleanupCase(
  ctx: Ctx,
  opts: { id: string; count: number; size: number; runs: number; direct?: boolean },
): Promise<void> {
  const { id, count, size, runs } = opts;
  const m = measure(ctx, {
    id,
    label: `cleanup of ${count.toLocaleString('en-US')} orphaned ${sizeLabel(size)} blobs`,
    unit: 's',
    better: 'lower',
    referenceName: 'Distribution',
    target: { ratio: 1 },
  });
  const serving = measure(ctx, {
    id: `${id}-serving`,
    label: `GET manifest during berth cleanup of ${count.toLocaleString('en-US')}: max latency`,
    unit: 'ms',
    better: 'lower',
    referenceName: '—',
  });
  const probes: LoadResult[] = [];
  const probeRepo = `bench/${id}-probe`;
  await seedImage(ctx.berth, probeRepo, 'latest');
  const probeHeaders = {
    Accept: OCI_MANIFEST,
    ...(await authorization(ctx.berth.url, ctx.berth.creds, probeRepo, 'pull')),
  };
  for (let r = 0; r < runs; r++) {
    const made = await timed(() =>
      makeOrphans(ctx, `bench/${id}-orphans-${r}`, count, size, opts.direct ?? false),
    );
    ctx.log(`${id}: run ${r + 1}/${runs}: ${count} orphans made in ${made.seconds.toFixed(1)} s`);
    await settle();
    for (const s of order(ctx, r)) {
      if (s.name === 'berth') {
        const p = await berthCleanup(ctx, m, s, { repo: probeRepo, headers: probeHeaders }, count);
        probes.push(p);
        serving.berth.push(p.max);
      } else {
        const gc = await runCommand(distributionBinary(), ['garbage-collect', ctx.dist.config!], {
          countLines: 'blob eligible for deletion',
        });
        if (gc.counted < count) {
          throw new Error(`garbage-collect found ${gc.counted} blobs to delete, expected ${count} or more`);
        }
        m.reference.push(gc.seconds);
      }
    }
    const p = probes.at(-1)!;
    ctx.log(
      `${id}: run ${r + 1}/${runs}: berth ${m.berth.at(-1)!.toFixed(2)} s (${p.requests} GETs ` +
        `served meanwhile, max ${p.max.toFixed(1)} ms), Distribution garbage-collect ${m.reference.at(-1)!.toFixed(2)} s`,
    );
  }
  const requests = probes.map((p) => p.requests);
  serving.note = `GETs served during cleanup (4 connections), per run: ${requests.join(', ')}; 0 errors`;
  serving.detail = probes;
  m.note =
    `berth kept serving: ${Math.min(...requests)}+ GETs per run, none failed; Distribution: ` +
    'garbage-collect (a process of its own) while its server idles';
  m.alsoRequired = {
    holds: probes.every((p) => p.requests > 0 && p.errors === 0),
    what: 'berth answered GETs during every cleanup, none failed',
  };
  m.detail = {
    probes: probes.map((p) => ({ requests: p.requests, p99: p.p99, max: p.max, errors: p.errors })),
  };
}
