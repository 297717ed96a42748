// Bench group "s3": berth with --store s3://… against CNCF Distribution with its s3 driver, on one Ceph RGW.
//
// Each server gets a bucket of its own on the RGW of bench/s3-buckets.ts, and a second process beside the bench's
// filesystem pair (berth: SQLite in the scratch folder; Distribution: started without AWS_CA_BUNDLE, which its
// AWS SDK would otherwise load as the only CA bundle). Cases: skopeo push and pull of one large layer and of many
// small ones; the final PUT (PUT ?digest=, no body) of a push in PATCHes of a large blob against that of a small
// one; the servers' peak RSS meanwhile. After every run both buckets are emptied (unmeasured), so the RGW holds
// one run's objects at a time. No RGW answering: the group is skipped with a line saying so (an error under CI=true).
import { join } from 'node:path';
import { pushPull, fmtMiB, sizeLabel, type Ctx, type Measure } from './cases.js';
import { chunkedPush } from './chunked.js';
import { randomLayer } from './images.js';
import {
  createBucket,
  emptyBuckets,
  removeBucket,
  S3_ENDPOINT,
  S3_ENV,
  S3_KEYS,
  S3_REGION,
  s3Answers,
} from './s3-buckets.js';
import { PeakMemory, startBerth, startDistribution, type Server } from './servers.js';
import { median, MIB } from './stats.js';

/** CNCF Distribution's storage section for its s3 driver on the bench's RGW (path-style, plain HTTP). */
function distributionDriver(bucket: string): string[] {
  return [
    '  s3:',
    `    accesskey: ${S3_KEYS.accessKeyId}`,
    `    secretkey: ${S3_KEYS.secretAccessKey}`,
    `    region: ${S3_REGION}`,
    `    regionendpoint: ${S3_ENDPOINT}`,
    '    forcepathstyle: true',
    `    bucket: ${bucket}`,
    '    secure: false',
    '    v4auth: true',
  ];
}

/** Starts the two S3-backed servers, each on a new bucket; `stop` stops them and removes the buckets. */
async function startS3Servers(ctx: Ctx, keep: boolean) {
  const buckets = { berth: await createBucket('berth'), distribution: await createBucket('dist') };
  const started: Server[] = [];
  const stop = async () => {
    await Promise.all(started.map((s) => s.stop()));
    if (keep) return;
    for (const b of Object.values(buckets)) {
      await removeBucket(b).catch((e: unknown) => ctx.log(`s3: could not remove bucket ${b}: ${String(e)}`));
    }
  };
  try {
    started.push(
      await startBerth(join(ctx.work, 's3', 'berth'), {
        // blob GETs answered with presigned redirects, as Distribution's s3 driver does by default: both pulls are
        // "registry redirect + RGW"
        args: ['--store', `s3://${buckets.berth}/`, '--s3-endpoint', S3_ENDPOINT, '--s3-redirect'],
        env: S3_ENV,
      }),
    );
    const env = { ...process.env };
    delete env.AWS_CA_BUNDLE;
    started.push(
      await startDistribution(join(ctx.work, 's3', 'distribution', 'store'), {
        driver: distributionDriver(buckets.distribution),
        env,
      }),
    );
  } catch (e) {
    await stop().catch(() => undefined);
    throw e;
  }
  return { berth: started[0]!, dist: started[1]!, buckets, stop };
}

/** The final PUT of a chunked push of a large blob and of a small one, on both servers, run by run. */
async function finalPut(
  ctx: Ctx,
  servers: { berth: Server; dist: Server },
  afterPush: () => Promise<void>,
  memory: Ctx['memory'],
): Promise<void> {
  const { size, chunk } = ctx.sizes.s3.chunked;
  const small = ctx.sizes.s3.small;
  const big = `${fmtMiB(size)} in PATCHes of ${fmtMiB(chunk)}`;
  const m = (id: string, label: string, referenceName: string, rest: Partial<Measure> = {}): Measure => {
    const x: Measure = {
      id,
      label,
      unit: 's',
      better: 'lower',
      berth: [],
      reference: [],
      referenceName,
      ...rest,
    };
    ctx.measures.push(x);
    return x;
  };
  const large = m('s3-final-put-large', `S3: final PUT of a chunked push, ${big}`, 'Distribution');
  const little = m(
    's3-final-put-small',
    `S3: final PUT of a chunked push, ${sizeLabel(small)}`,
    'Distribution',
  );
  const ratio = m(
    's3-final-put-ratio',
    `S3: berth's final PUT, ${fmtMiB(size)} push ÷ ${sizeLabel(small)} push`,
    `berth, ${sizeLabel(small)}`,
    { target: { ratio: 1.2 } },
  );
  const into = (s: Server, x: Measure, v: number) => (s.name === 'berth' ? x.berth : x.reference).push(v);
  for (let r = 0; r < ctx.sizes.runs; r++) {
    const order = r % 2 === 0 ? [servers.berth, servers.dist] : [servers.dist, servers.berth];
    for (const s of order) {
      const layer = randomLayer(size);
      const mem = new PeakMemory(s.child.pid!);
      try {
        into(s, large, (await chunkedPush(s, `bench/s3-chunked-${r}`, layer, chunk)).finalPut);
      } finally {
        memory[s.name].push(mem.stop());
      }
      into(s, little, (await chunkedPush(s, `bench/s3-small-${r}`, randomLayer(small), small)).finalPut);
      // the bytes of one server's push go before the next server's: an RGW of little memory holds one at a time
      await afterPush();
    }
    ratio.berth.push(large.berth.at(-1)!);
    ratio.reference.push(little.berth.at(-1)!);
    ctx.log(
      `s3 final PUT: run ${r + 1}/${ctx.sizes.runs}: berth ${large.berth.at(-1)!.toFixed(3)} s ` +
        `(${sizeLabel(small)}: ${little.berth.at(-1)!.toFixed(3)} s), Distribution ${large.reference.at(-1)!.toFixed(3)} s ` +
        `(${sizeLabel(small)}: ${little.reference.at(-1)!.toFixed(3)} s)`,
    );
  }
  const d = median(large.reference) / median(little.reference);
  ratio.note =
    `Distribution's on the same RGW: ${median(large.reference).toFixed(3)} s ÷ ${median(little.reference).toFixed(3)} s = ` +
    `${d.toFixed(2)} ×; ${big}, then PUT ?digest= with no body (timed alone)`;
}

export async function s3Group(ctx: Ctx): Promise<void> {
  if (!(await s3Answers())) {
    const why = `no S3 server answers at ${S3_ENDPOINT} (start Ceph RGW with ../shared/tools/s3/ceph-up.sh, or set BERTH_TEST_S3_ENDPOINT)`;
    if (process.env.CI === 'true') throw new Error(`the s3 group needs an S3 server: ${why}`);
    ctx.log(`s3: SKIPPED: ${why}`);
    ctx.notes.push(`group s3 SKIPPED: ${why}`);
    return;
  }
  const { largeLayer, layers, chunked } = ctx.sizes.s3;
  const gc = process.env.BERTH_BENCH_S3_GC;
  ctx.log(
    `s3: berth and Distribution on ${S3_ENDPOINT}, a bucket each; each run's objects are deleted after it ` +
      (gc
        ? `(then: ${gc})`
        : '(RGW frees their space after rgw_gc_obj_min_wait, 2 h by default: see docs/benchmarks.md)'),
  );
  const servers = await startS3Servers(ctx, ctx.keep);
  try {
    ctx.log(`s3: berth at ${servers.berth.url}, Distribution at ${servers.dist.url}`);
    const runs = ctx.sizes.s3.runs ?? ctx.sizes.runs;
    if (runs !== ctx.sizes.runs) ctx.notes.push(`group s3: medians of ${runs} run${runs === 1 ? '' : 's'}`);
    const sub: Ctx = {
      ...ctx,
      sizes: { ...ctx.sizes, runs },
      berth: servers.berth,
      dist: servers.dist,
      memory: { berth: [], distribution: [] },
    };
    const afterRun = () => emptyBuckets(Object.values(servers.buckets));
    await pushPull(sub, 's3-large', `1 layer of ${fmtMiB(largeLayer)}, S3 (RGW)`, [largeLayer], {
      trackMemory: true,
      afterRun,
    });
    await pushPull(
      sub,
      's3-layers',
      `${layers.count} layers of ${sizeLabel(layers.size)}, S3 (RGW)`,
      Array<number>(layers.count).fill(layers.size),
      { afterRun },
    );
    await finalPut(sub, servers, afterRun, sub.memory);
    const mib = (xs: number[]) => Math.max(...xs) / MIB;
    ctx.measures.push({
      id: 's3-peak-rss',
      label: `S3: peak server RSS during the ${fmtMiB(largeLayer)} layer and ${fmtMiB(chunked.size)} chunked transfers`,
      unit: 'MiB',
      better: 'lower',
      berth: [mib(sub.memory.berth)],
      reference: [mib(sub.memory.distribution)],
      referenceName: 'Distribution',
      target: { max: 200 },
      note: 'skopeo push and pull of the large layer, and the PATCHes and final PUT of the chunked push',
    });
  } catch (e) {
    for (const s of [servers.berth, servers.dist])
      ctx.log(`--- last output of ${s.name} (S3):\n${s.output().slice(-4000)}`);
    throw e;
  } finally {
    await servers.stop();
  }
}
