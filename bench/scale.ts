// Bench group "scale": berth at sizes and in setups the other groups do not reach. A chunked push and the cleanup
// of many orphans on the bench's pair; a repository of many tags and a catalog of many repositories on a berth and
// a Distribution of their own; the request rate with berth on PostgreSQL, and two berth processes behind nginx
// against one. No PostgreSQL or no nginx: those cases are skipped with a line saying so (an error under CI=true).
import { join } from 'node:path';
import { cleanupCase } from './cleanup.js';
import { chunkedPush } from './chunked.js';
import { fmtMiB, measure, order, record, requestRate, settle, versionCost, type Ctx } from './cases.js';
import { addRepositoriesDirectly } from './direct.js';
import { randomLayer } from './images.js';
import { catalogPage, distributionRepositories, tagPages } from './lists.js';
import { nginxBinary } from './nginx.js';
import { nodesCase } from './nodes.js';
import { createDatabase, dropDatabase, POSTGRES_URL, postgresAnswers } from './pg.js';
import { databaseOf, startBerth, startDistribution, type Server } from './servers.js';
import { timed } from './stats.js';

/** A case that cannot run here: a line under the table, or (CI=true) an error. */
function skip(ctx: Ctx, what: string, why: string): void {
  if (process.env.CI === 'true') throw new Error(`scale: ${what} needs ${why}`);
  ctx.log(`scale: ${what} SKIPPED: ${why}`);
  ctx.notes.push(`group scale: ${what} SKIPPED: ${why}`);
}

/** A blob pushed in chunks by HTTP, timed whole (POST to the final PUT's answer), on the bench's two servers. */
async function chunked(ctx: Ctx): Promise<void> {
  const { size, chunk } = ctx.sizes.scale.chunked;
  const m = measure(ctx, {
    id: 'scale-chunked',
    label: `chunked push (POST, PATCHes of ${fmtMiB(chunk)}, PUT ?digest=), ${fmtMiB(size)}`,
    unit: 's',
    better: 'lower',
    referenceName: 'Distribution',
    target: { ratio: 1 },
  });
  for (let r = 0; r < ctx.sizes.runs; r++) {
    await settle();
    for (const s of order(ctx, r)) {
      record(m, s, (await chunkedPush(s, `bench/scale-chunked-${r}`, randomLayer(size), chunk)).seconds);
    }
    ctx.log(
      `chunked push: run ${r + 1}/${ctx.sizes.runs}: berth ${m.berth.at(-1)!.toFixed(2)} s, ` +
        `Distribution ${m.reference.at(-1)!.toFixed(2)} s`,
    );
  }
  m.note = 'the bytes made as they are sent (AES-CTR keystream), the same cost for both';
}

/** Many tags and many repositories, on a berth (SQLite) and a Distribution started for them alone. */
async function lists(ctx: Ctx): Promise<void> {
  const { tags, repositories } = ctx.sizes.scale;
  const started: Server[] = [];
  try {
    const berth = await startBerth(join(ctx.work, 'scale', 'lists-berth'));
    started.push(berth);
    const dist = await startDistribution(join(ctx.work, 'scale', 'lists-dist', 'store'));
    started.push(dist);
    const big = 'bench/scale-tags';
    // the seed image's 3 units and its tag, then tags unit-<i>: `tags` tags in all
    await versionCost(
      { ...ctx, berth },
      {
        server: berth,
        id: 'scale-version-tags',
        units: tags + 3,
        big,
        small: 'bench/scale-tags-empty',
        label: `new version (manifest PUT, new tag): repository of ${tags.toLocaleString('en-US')} tags vs 4 units`,
      },
    );
    await tagPages(ctx, berth, { repo: big, tags });
    const made = await timed(async () => {
      await addRepositoriesDirectly(databaseOf(berth), 'bench/cat/r-', repositories);
      distributionRepositories(dist.data, repositories);
    });
    ctx.log(
      `catalog: ${repositories.toLocaleString('en-US')} repositories made in ${made.seconds.toFixed(1)} s`,
    );
    await catalogPage(ctx, { berth, dist }, repositories);
  } catch (e) {
    for (const s of started) ctx.log(`--- last output of ${s.name} (scale):\n${s.output().slice(-4000)}`);
    throw e;
  } finally {
    await Promise.all(started.map((s) => s.stop()));
  }
}

/** berth on PostgreSQL: the request rate against Distribution, then two processes behind nginx against one. */
async function postgres(ctx: Ctx): Promise<void> {
  if (!(await postgresAnswers())) {
    skip(ctx, 'the PostgreSQL cases', `PostgreSQL at ${POSTGRES_URL} (set BERTH_BENCH_POSTGRES_URL)`);
    return;
  }
  const name = `berth_bench_${process.pid}`;
  const database = await createDatabase(name);
  const started: Server[] = [];
  try {
    const data = join(ctx.work, 'scale', 'pg');
    const one = await startBerth(data, { database });
    started.push(one);
    ctx.log(`scale: berth on PostgreSQL (database ${name}) at ${one.url}`);
    await requestRate(
      { ...ctx, berth: one, sizes: { ...ctx.sizes, tags: ctx.sizes.scale.rateTags } },
      { prefix: 'pg-', suffix: ' (PostgreSQL)' },
    );
    const nginx = nginxBinary();
    if (!nginx) {
      skip(ctx, 'two processes behind nginx', 'nginx (apt-get install nginx; or set BERTH_BENCH_NGINX)');
      return;
    }
    // the second process: the same database, data folder and admin password
    const other = await startBerth(data, { database, password: one.creds!.password });
    started.push(other);
    const { workers, seconds } = ctx.sizes.scale.nodes;
    await nodesCase(ctx, { one, other, nginx, workers, seconds, runs: ctx.sizes.runs });
  } catch (e) {
    for (const s of started)
      ctx.log(`--- last output of ${s.name} (PostgreSQL):\n${s.output().slice(-4000)}`);
    throw e;
  } finally {
    await Promise.all(started.map((s) => s.stop()));
    if (ctx.keep) ctx.log(`scale: kept PostgreSQL database ${name}`);
    else
      await dropDatabase(name).catch((e: unknown) => ctx.log(`scale: could not drop ${name}: ${String(e)}`));
  }
}

/** The context of the scale cases: the scale's own number of runs and request-rate load. */
function scaleCtx(ctx: Ctx): Ctx {
  const scale = ctx.sizes.scale;
  const runs = scale.runs ?? ctx.sizes.runs;
  if (runs !== ctx.sizes.runs) ctx.notes.push(`group scale: medians of ${runs} run${runs === 1 ? '' : 's'}`);
  return { ...ctx, sizes: { ...ctx.sizes, runs, rate: scale.rate } };
}

/** Bench group "postgres": the scale group's PostgreSQL cases alone (request rate, two processes behind nginx). */
export async function postgresGroup(ctx: Ctx): Promise<void> {
  await postgres(scaleCtx(ctx));
}

export async function scaleGroup(ctx: Ctx): Promise<void> {
  const scale = ctx.sizes.scale;
  const sub = scaleCtx(ctx);
  const runs = sub.sizes.runs;
  await chunked(sub);
  await lists(sub);
  await postgres(sub);
  const { count, size } = scale.orphans;
  await cleanupCase(sub, {
    id: 'scale-cleanup',
    count,
    size,
    runs: scale.orphans.runs ?? runs,
    direct: true,
  });
}
