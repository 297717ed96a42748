// The benchmark's cases. Each runs several times on both servers (alternating which goes first) and records
// every run's figure; run.ts turns them into medians, ratios and PASS/FAIL.
import { createReadStream, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { addTagsDirectly } from './direct.js';
import { runCommand, skopeoPull, skopeoPush } from './exec.js';
import { authorization, basicHeader, expectStatus, pool, pushBlob, pushManifest, sha256 } from './http.js';
import {
  dirArchiveEntries,
  dockerArchiveEntries,
  imageJson,
  OCI_MANIFEST,
  randomLayer,
  writeLayout,
  writeTar,
  type ImageJson,
} from './images.js';
import { runLoad, type LoadResult } from './loadgen.js';
import { cpuSeconds, databaseOf, PeakMemory, type Server } from './servers.js';
import { GIB, MIB, timed } from './stats.js';

export interface Sizes {
  runs: number;
  largeLayer: number;
  manyLayers: { count: number; size: number };
  clients: number;
  clientImage: number[];
  pullImage: number[];
  tags: number;
  rate: { connections: number; warmupSeconds: number; seconds: number };
  archive: { layers: number; size: number };
  units: number;
  versionOps: number;
  orphans: { count: number; size: number };
  /**
   * the s3 group (bench/s3.ts): a large layer, many small ones, a chunked push (PATCHes of `chunk`) and a small one;
   * `runs` when not `runs` above (--runs sets both)
   */
  s3: {
    runs?: number;
    largeLayer: number;
    layers: { count: number; size: number };
    chunked: { size: number; chunk: number };
    small: number;
  };
  /**
   * the scale group (bench/scale.ts): its `runs` when not `runs` above (--runs sets both); the load of its rate
   * cases and the tags of the PostgreSQL rate case; tags in one repository; repositories in the catalog; clients of
   * the nginx case and its seconds; orphans cleaned up (their own runs); a chunked push
   */
  scale: {
    runs?: number;
    rate: { connections: number; warmupSeconds: number; seconds: number };
    rateTags: number;
    listConnections: number;
    tags: number;
    repositories: number;
    nodes: { workers: number; seconds: number };
    orphans: { count: number; size: number; runs?: number };
    chunked: { size: number; chunk: number };
  };
}

export const FULL: Sizes = {
  runs: 5,
  largeLayer: 512 * MIB,
  manyLayers: { count: 200, size: 64 * 1024 },
  clients: 16,
  clientImage: [512 * 1024, 512 * 1024],
  pullImage: [8 * MIB, 8 * MIB, 8 * MIB, 8 * MIB],
  tags: 10_000,
  rate: { connections: 64, warmupSeconds: 1, seconds: 5 },
  archive: { layers: 4, size: 256 * MIB },
  units: 100_000,
  versionOps: 30,
  orphans: { count: 10_000, size: 4096 },
  s3: {
    largeLayer: 512 * MIB,
    layers: { count: 200, size: 64 * 1024 },
    chunked: { size: GIB, chunk: 256 * MIB },
    small: MIB,
  },
  scale: {
    rate: { connections: 64, warmupSeconds: 1, seconds: 5 },
    rateTags: 10_000,
    listConnections: 8,
    tags: 1_000_000,
    repositories: 100_000,
    nodes: { workers: 16, seconds: 5 },
    orphans: { count: 100_000, size: 4096, runs: 1 },
    chunked: { size: 512 * MIB, chunk: 8 * MIB },
  },
};

export const QUICK: Sizes = {
  runs: 3,
  largeLayer: 64 * MIB,
  manyLayers: { count: 50, size: 64 * 1024 },
  clients: 16,
  clientImage: [256 * 1024, 256 * 1024],
  pullImage: [2 * MIB, 2 * MIB],
  tags: 1_000,
  rate: { connections: 64, warmupSeconds: 0.5, seconds: 2 },
  archive: { layers: 4, size: 32 * MIB },
  units: 20_000,
  versionOps: 10,
  orphans: { count: 1_000, size: 4096 },
  s3: {
    runs: 2,
    largeLayer: 8 * MIB,
    layers: { count: 5, size: 64 * 1024 },
    chunked: { size: 12 * MIB, chunk: 4 * MIB },
    small: MIB,
  },
  scale: {
    runs: 1,
    rate: { connections: 64, warmupSeconds: 0.25, seconds: 1 },
    rateTags: 200,
    listConnections: 8,
    tags: 20_000,
    repositories: 5_000,
    nodes: { workers: 16, seconds: 1 },
    orphans: { count: 1_000, size: 4096 },
    chunked: { size: 32 * MIB, chunk: 4 * MIB },
  },
};

/** One measured figure: every run's value on berth and on its reference. */
export interface Measure {
  id: string;
  label: string;
  unit: string;
  /** 'lower' (times, latencies, memory) or 'higher' (requests per second) is better */
  better: 'lower' | 'higher';
  berth: number[];
  /** Distribution, the hardware reference, or the empty repository */
  reference: number[];
  referenceName: string;
  /** berth's median may be at most this multiple of the reference's (time-like), or this absolute value */
  target?: { ratio: number } | { max: number };
  note?: string;
  /** CPU seconds the server process used during each run (where measured) */
  cpu?: { berth: number[]; reference: number[] };
  /** bytes the server sends in each run (pulls: the blobs), to show CPU seconds per GiB served */
  served?: number;
  /** a condition besides the target that must hold for PASS (cleanup: berth kept serving) */
  alsoRequired?: { holds: boolean; what: string };
  /** extra detail for the JSON file */
  detail?: unknown;
}

export interface Ctx {
  sizes: Sizes;
  work: string;
  berth: Server;
  dist: Server;
  measures: Measure[];
  memory: { berth: number[]; distribution: number[] };
  /** lines printed under the table (a group skipped, and why) */
  notes: string[];
  /** --keep: leave what the bench made (the scratch folder; the s3 group's buckets) */
  keep: boolean;
  log(msg: string): void;
}

export const fmtMiB = (n: number) => `${n / MIB >= 1024 ? `${n / GIB} GiB` : `${n / MIB} MiB`}`;
export const sizeLabel = (n: number) => (n >= MIB ? fmtMiB(n) : `${n / 1024} KiB`);

export function measure(ctx: Ctx, m: Omit<Measure, 'berth' | 'reference'>): Measure {
  const found = ctx.measures.find((x) => x.id === m.id);
  if (found) return found;
  const created: Measure = { ...m, berth: [], reference: [] };
  ctx.measures.push(created);
  return created;
}

/** The servers in the order of run `r` (alternating, so that neither always goes first). */
export const order = (ctx: Ctx, r: number): Server[] =>
  r % 2 === 0 ? [ctx.berth, ctx.dist] : [ctx.dist, ctx.berth];

export function record(m: Measure, server: Server, value: number): void {
  (server.name === 'berth' ? m.berth : m.reference).push(value);
}

/**
 * Runs one measured operation against `server`: records its seconds, and the CPU seconds the server process used
 * meanwhile; with `memory`, tracks the server's peak resident memory (into ctx.memory) too.
 */
export async function measured<T>(
  ctx: Ctx,
  m: Measure,
  server: Server,
  fn: () => Promise<T>,
  opts: { memory?: boolean } = {},
): Promise<{ value: T; seconds: number }> {
  const mem = opts.memory ? new PeakMemory(server.child.pid!) : undefined;
  const cpu0 = cpuSeconds(server.child.pid!);
  try {
    const r = await timed(fn);
    record(m, server, r.seconds);
    m.cpu ??= { berth: [], reference: [] };
    (server.name === 'berth' ? m.cpu.berth : m.cpu.reference).push(cpuSeconds(server.child.pid!) - cpu0);
    return r;
  } finally {
    if (mem) ctx.memory[server.name].push(mem.stop());
  }
}

/**
 * Before a measured run: writes dirty pages out (sync), so that neither the files the bench just wrote nor what a
 * server stored in the run before are flushed during the measurement, to the cost of whichever server runs then;
 * then, where the bench may (root), drops the clean page cache (`echo 1 > /proc/sys/vm/drop_caches`), so that every
 * run starts from the same memory: on a virtual machine whose free memory the host takes back (free page
 * reporting), a page that has been free a while costs a fault in the host when it is next used, and a run that
 * writes 1 GiB into such pages took 2 s longer than one that got recently freed pages (docs/benchmarks.md, "Speed
 * at the limit"). What a run reads then comes from the disk, for the reference as for berth.
 */
export async function settle(): Promise<void> {
  await runCommand('sync', []);
  if (dropCaches) {
    try {
      writeFileSync('/proc/sys/vm/drop_caches', '1');
    } catch {
      dropCaches = false;
    }
  }
}

/** whether settle drops the page cache (false once it was refused: not root, or a container) */
let dropCaches = process.env.BERTH_BENCH_KEEP_CACHES === undefined;

/** What settle does, for the bench's heading. */
export const settleNote = (): string =>
  dropCaches ? 'sync and drop the page cache before each measured run' : 'sync before each measured run';

// --- skopeo push and pull ---------------------------------------------------------------------------------

/**
 * Push then pull of one image (made anew each run, so nothing is reused from an earlier run). `afterRun` runs after
 * each run's pulls, unmeasured (the s3 group empties its buckets there).
 */
export async function pushPull(
  ctx: Ctx,
  id: string,
  what: string,
  layerSizes: number[],
  opts: { trackMemory?: boolean; afterRun?: () => Promise<void> } = {},
): Promise<void> {
  const push = measure(ctx, {
    id: `push-${id}`,
    label: `skopeo push, ${what}`,
    unit: 's',
    better: 'lower',
    referenceName: 'Distribution',
    target: { ratio: 1 },
  });
  const pull = measure(ctx, {
    id: `pull-${id}`,
    label: `skopeo pull (oci:), ${what}`,
    unit: 's',
    better: 'lower',
    referenceName: 'Distribution',
    target: { ratio: 1 },
    served: layerSizes.reduce((a, b) => a + b, 0),
  });
  for (let r = 0; r < ctx.sizes.runs; r++) {
    const layout = join(ctx.work, `${id}-${r}`);
    await writeLayout(layout, [layerSizes]);
    await settle();
    const ref = `bench/${id}-${r}:latest`;
    const memory = opts.trackMemory;
    for (const s of order(ctx, r)) {
      await measured(ctx, push, s, () => skopeoPush(`oci:${layout}:t0`, s, ref), { memory });
    }
    rmSync(layout, { recursive: true, force: true });
    await settle();
    for (const s of order(ctx, r)) {
      const dest = join(ctx.work, `${id}-pull-${s.name}-${r}`);
      await measured(ctx, pull, s, () => skopeoPull(s, ref, `oci:${dest}:latest`), { memory });
      rmSync(dest, { recursive: true, force: true });
    }
    await opts.afterRun?.();
    ctx.log(
      `${what}: run ${r + 1}/${ctx.sizes.runs}: push berth ${push.berth.at(-1)!.toFixed(2)} s, ` +
        `Distribution ${push.reference.at(-1)!.toFixed(2)} s; pull berth ${pull.berth.at(-1)!.toFixed(2)} s, ` +
        `Distribution ${pull.reference.at(-1)!.toFixed(2)} s`,
    );
  }
}

export async function largeLayer(ctx: Ctx): Promise<void> {
  await pushPull(ctx, 'large', `1 layer of ${fmtMiB(ctx.sizes.largeLayer)}`, [ctx.sizes.largeLayer], {
    trackMemory: true,
  });
}

export async function manyLayers(ctx: Ctx): Promise<void> {
  const { count, size } = ctx.sizes.manyLayers;
  await pushPull(ctx, 'layers', `${count} layers of ${sizeLabel(size)}`, Array(count).fill(size));
}

/** N clients pushing distinct small images to N repositories at once; N clients pulling one image at once. */
export async function clients(ctx: Ctx): Promise<void> {
  const n = ctx.sizes.clients;
  const imgSize = ctx.sizes.clientImage.reduce((a, b) => a + b, 0);
  const push = measure(ctx, {
    id: 'push-clients',
    label: `${n} skopeo pushes at once, distinct ${sizeLabel(imgSize)} images`,
    unit: 's',
    better: 'lower',
    referenceName: 'Distribution',
    target: { ratio: 1 },
  });
  const pullSize = ctx.sizes.pullImage.reduce((a, b) => a + b, 0);
  const pull = measure(ctx, {
    id: 'pull-clients',
    label: `${n} skopeo pulls at once of one ${sizeLabel(pullSize)} image`,
    unit: 's',
    better: 'lower',
    referenceName: 'Distribution',
    target: { ratio: 1 },
    served: n * pullSize,
  });
  // the image everyone pulls, pushed once to each server
  const shared = join(ctx.work, 'pull-clients');
  await writeLayout(shared, [ctx.sizes.pullImage]);
  for (const s of [ctx.berth, ctx.dist]) await skopeoPush(`oci:${shared}:t0`, s, 'bench/pull-clients:latest');
  rmSync(shared, { recursive: true, force: true });

  for (let r = 0; r < ctx.sizes.runs; r++) {
    const layout = join(ctx.work, `clients-${r}`);
    await writeLayout(
      layout,
      Array.from({ length: n }, () => ctx.sizes.clientImage),
    );
    await settle();
    for (const s of order(ctx, r)) {
      await measured(ctx, push, s, () =>
        Promise.all(
          Array.from({ length: n }, (_, i) =>
            skopeoPush(`oci:${layout}:t${i}`, s, `bench/clients-${r}-${i}:latest`),
          ),
        ),
      );
    }
    rmSync(layout, { recursive: true, force: true });
    await settle();
    for (const s of order(ctx, r)) {
      const dests = Array.from({ length: n }, (_, i) => join(ctx.work, `pulled-${s.name}-${r}-${i}`));
      await measured(ctx, pull, s, () =>
        Promise.all(dests.map((d) => skopeoPull(s, 'bench/pull-clients:latest', `oci:${d}:latest`))),
      );
      for (const d of dests) rmSync(d, { recursive: true, force: true });
    }
    ctx.log(
      `${n} clients: run ${r + 1}/${ctx.sizes.runs}: push berth ${push.berth.at(-1)!.toFixed(2)} s, ` +
        `Distribution ${push.reference.at(-1)!.toFixed(2)} s; pull berth ${pull.berth.at(-1)!.toFixed(2)} s, ` +
        `Distribution ${pull.reference.at(-1)!.toFixed(2)} s`,
    );
  }
}

// --- request rate -----------------------------------------------------------------------------------------

/** Pushes a small image (config + one 4 KiB layer, the same for every call unless `img` differs) by HTTP. */
export async function seedImage(
  s: Server,
  repository: string,
  tag: string,
  img?: ImageJson,
): Promise<ImageJson> {
  const headers = await authorization(s.url, s.creds, repository, 'pull,push');
  const layer = Buffer.alloc(4096, 7);
  const json = img ?? imageJson([{ digest: sha256(layer), size: layer.length }], 'seed');
  await pushBlob(s.url, repository, layer, headers);
  await pushBlob(s.url, repository, json.config, headers);
  await pushManifest(s.url, repository, tag, json.manifest, OCI_MANIFEST, headers);
  return json;
}

/**
 * The request rate of three requests on both servers. `prefix` names the measures and repositories apart (the
 * scale group runs it again with berth on PostgreSQL: prefix 'pg-'), `suffix` is added to the labels.
 */
export async function requestRate(ctx: Ctx, opts: { prefix?: string; suffix?: string } = {}): Promise<void> {
  const { connections, warmupSeconds, seconds } = ctx.sizes.rate;
  const prefix = opts.prefix ?? '';
  const suffix = opts.suffix ?? '';
  const rateRepo = `bench/${prefix}rate`;
  const tagsRepo = `bench/${prefix}tags`;
  let img: ImageJson | undefined;
  for (const s of [ctx.berth, ctx.dist]) img = await seedImage(s, rateRepo, 'latest', img);
  for (const s of [ctx.berth, ctx.dist]) await seedImage(s, tagsRepo, 'latest', img);
  // the tags: for Distribution one manifest PUT per tag; for berth one version adding them all (berth's PUTs
  // would make one version each: fine too, but minutes at this count)
  const t0 = process.hrtime.bigint();
  const tags = Array.from({ length: ctx.sizes.tags - 1 }, (_, i) => `tag-${String(i).padStart(5, '0')}`);
  await pool(tags, 16, (t) => pushManifest(ctx.dist.url, tagsRepo, t, img!.manifest, OCI_MANIFEST));
  await addTagsDirectly(databaseOf(ctx.berth), tagsRepo, img!.digest, tags.length, 'tag-');
  ctx.log(
    `request rate: ${ctx.sizes.tags} tags set up in ${(Number(process.hrtime.bigint() - t0) / 1e9).toFixed(1)} s`,
  );
  const layerDigest = (JSON.parse(img!.manifest.toString()) as { layers: { digest: string }[] }).layers[0]!
    .digest;
  const cases: { id: string; label: string; method: 'GET' | 'HEAD'; repo: string; path: string }[] = [
    { id: 'blob-head', label: 'HEAD blob', method: 'HEAD', repo: rateRepo, path: `blobs/${layerDigest}` },
    {
      id: 'manifest-get',
      label: 'GET manifest by tag',
      method: 'GET',
      repo: rateRepo,
      path: 'manifests/latest',
    },
    {
      id: 'tags-get',
      label: `GET tags list (${ctx.sizes.tags.toLocaleString('en-US')} tags)`,
      method: 'GET',
      repo: tagsRepo,
      path: 'tags/list',
    },
  ];
  for (const c of cases) {
    const rps = measure(ctx, {
      id: `${prefix}rate-${c.id}`,
      label: `${c.label}${suffix}, ${connections} connections: req/s`,
      unit: 'req/s',
      better: 'higher',
      referenceName: 'Distribution',
      target: { ratio: 1 },
    });
    const p99 = measure(ctx, {
      id: `${prefix}p99-${c.id}`,
      label: `${c.label}${suffix}: p99 latency`,
      unit: 'ms',
      better: 'lower',
      referenceName: 'Distribution',
      target: { ratio: 1 },
    });
    const p50 = measure(ctx, {
      id: `${prefix}p50-${c.id}`,
      label: `${c.label}${suffix}: p50 latency`,
      unit: 'ms',
      better: 'lower',
      referenceName: 'Distribution',
    });
    const results: Record<string, LoadResult[]> = { berth: [], distribution: [] };
    for (let r = 0; r < ctx.sizes.runs; r++) {
      for (const s of order(ctx, r)) {
        const accept: Record<string, string> = c.path.startsWith('manifests/')
          ? { Accept: OCI_MANIFEST }
          : {};
        const headers = { ...accept, ...(await authorization(s.url, s.creds, c.repo, 'pull')) };
        const res = await runLoad({
          url: `${s.url}/v2/${c.repo}/${c.path}`,
          method: c.method,
          headers,
          connections,
          warmupSeconds,
          seconds,
        });
        if (res.errors > 0) {
          throw new Error(`${c.label} on ${s.name}: ${res.errors} errors (${res.firstError})`);
        }
        results[s.name]!.push(res);
        record(rps, s, res.rps);
        record(p99, s, res.p99);
        record(p50, s, res.p50);
      }
      ctx.log(
        `${c.label}: run ${r + 1}/${ctx.sizes.runs}: berth ${Math.round(rps.berth.at(-1)!)} req/s ` +
          `(p99 ${p99.berth.at(-1)!.toFixed(1)} ms), Distribution ${Math.round(rps.reference.at(-1)!)} req/s ` +
          `(p99 ${p99.reference.at(-1)!.toFixed(1)} ms)`,
      );
    }
    rps.detail = results;
  }
}

// --- archive upload against the hardware ------------------------------------------------------------------

/** Streams a file as the body of an archive upload; resolves with the server's answer. */
export async function uploadArchive(s: Server, file: string, repository: string, tag: string) {
  return expectStatus(201, 'POST', `${s.url}/api/v1/repositories/${repository}/-/archives?tag=${tag}`, {
    headers: {
      'Content-Type': 'application/x-tar',
      'Content-Length': statSync(file).size,
      ...(s.creds ? { Authorization: basicHeader(s.creds) } : {}),
    },
    body: createReadStream(file, { highWaterMark: MIB }),
  });
}

/**
 * The archive case's upload: the file sent by curl (`-T`, Content-Length, no Expect), the lightest client at hand,
 * as the hardware reference runs no client at all; a Node client (uploadArchive) took 0.5–1 s more of the two
 * cores a 1 GiB upload shares with the server. Throws unless the server answers 201.
 */
async function curlArchive(s: Server, file: string, repository: string, tag: string): Promise<void> {
  const url = `${s.url}/api/v1/repositories/${repository}/-/archives?tag=${tag}`;
  const ran = await runCommand('curl', [
    '-sS',
    '-o',
    '/dev/null',
    '-w',
    '%{http_code}',
    '-X',
    'POST',
    '-T',
    file,
    '-H',
    'Content-Type: application/x-tar',
    '-H',
    'Expect:',
    ...(s.creds ? ['-H', `Authorization: ${basicHeader(s.creds)}`] : []),
    url,
  ]);
  if (ran.stdout.trim() !== '201') throw new Error(`POST ${url} with curl: ${ran.stdout} ${ran.stderr}`);
}

/** The hardware's time for what berth does with an archive file: hash its tar (`unpack` for a gzip), copy it. */
async function hardware(file: string, copy: string, gzip: boolean): Promise<{ hash: number; cp: number }> {
  const hash = gzip
    ? await runCommand('bash', ['-c', 'set -o pipefail; gzip -dc "$1" | openssl dgst -sha256', 'bash', file])
    : await runCommand('openssl', ['dgst', '-sha256', file]);
  const cp = await runCommand('cp', [file, copy]);
  rmSync(copy, { force: true });
  return { hash: hash.seconds, cp: cp.seconds };
}

export async function archives(ctx: Ctx): Promise<void> {
  const { layers, size } = ctx.sizes.archive;
  const total = layers * size;
  const files = {
    docker: join(ctx.work, 'archive.docker.tar'),
    dir: join(ctx.work, 'archive.dir.tar'),
    'docker-gzip': join(ctx.work, 'archive.docker.tar.gz'),
  };
  const made = await timed(async () => {
    const docker = Array.from({ length: layers }, () => randomLayer(size));
    await writeTar(files.docker, dockerArchiveEntries(docker, 'bench/archive-docker:latest'));
    const dir = Array.from({ length: layers }, () => randomLayer(size));
    await writeTar(files.dir, dirArchiveEntries(dir).entries);
    // random layers do not compress: the fastest level makes as large a file as any
    await runCommand('sh', ['-c', 'gzip -1 -c "$1" > "$2"', 'sh', files.docker, files['docker-gzip']]);
  });
  ctx.log(`archives: two ${fmtMiB(total)} tars and a gzip of one written in ${made.seconds.toFixed(1)} s`);
  const labels = {
    docker: 'docker-archive',
    dir: 'skopeo dir tar',
    'docker-gzip': 'docker-archive, gzip',
  };
  const copy = join(ctx.work, 'hardware-copy');
  for (const [format, file] of Object.entries(files) as [keyof typeof files, string][]) {
    const gzip = format === 'docker-gzip';
    const m = measure(ctx, {
      id: `archive-${format}`,
      label: `archive upload, ${fmtMiB(total)} ${labels[format]}`,
      unit: 's',
      better: 'lower',
      referenceName: 'hardware',
      target: { ratio: 1.25 },
    });
    const parts: { sha256: number[]; cp: number[] } = { sha256: [], cp: [] };
    for (let r = 0; r < ctx.sizes.runs; r++) {
      // the hardware: hash the file (a gzip: unpack it into the hash), and copy it on the same disk
      await settle();
      const hw = await hardware(file, copy, gzip);
      parts.sha256.push(hw.hash);
      parts.cp.push(hw.cp);
      await settle();
      m.reference.push(hw.hash + hw.cp);
      const up = await measured(
        ctx,
        m,
        ctx.berth,
        () => curlArchive(ctx.berth, file, `bench/archive-${format}`, `r${r}`),
        { memory: true },
      );
      ctx.log(
        `${m.label}: run ${r + 1}/${ctx.sizes.runs}: berth ${up.seconds.toFixed(2)} s ` +
          `(${(total / MIB / up.seconds).toFixed(0)} MiB/s), hardware ${(hw.hash + hw.cp).toFixed(2)} s ` +
          `(${gzip ? 'gzip -dc | sha256' : 'sha256'} ${hw.hash.toFixed(2)} s + cp ${hw.cp.toFixed(2)} s)`,
      );
    }
    m.detail = { bytes: statSync(file).size, hardware: parts };
    const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
    m.note =
      `hardware = ${gzip ? 'gzip -dc | openssl sha256' : 'openssl sha256'} ${med(parts.sha256).toFixed(2)} s ` +
      `+ cp ${med(parts.cp).toFixed(2)} s`;
  }
  for (const f of Object.values(files)) rmSync(f, { force: true });
}

// --- a new version in a large repository ------------------------------------------------------------------

export async function newVersion(ctx: Ctx): Promise<void> {
  await versionCost(ctx, {
    server: ctx.berth,
    id: 'version-large',
    units: ctx.sizes.units,
    big: 'bench/units-big',
    small: 'bench/units-empty',
  });
}

/**
 * The cost of a new version in a repository of `units` content units (`big`, made with addTagsDirectly: the seed
 * image's 3 units and its tag, then tags `unit-<i>`) against one of 4 (`small`). Answers the seed image.
 */
export async function versionCost(
  ctx: Ctx,
  opts: { server: Server; id: string; units: number; big: string; small: string; label?: string },
): Promise<ImageJson> {
  const { server: s, big, small, units } = opts;
  const img = await seedImage(s, big, 'seed');
  await seedImage(s, small, 'seed', img);
  // the seed image is 3 units (manifest, config, layer) and its tag a fourth
  const setup = await timed(() => addTagsDirectly(databaseOf(s), big, img.digest, units - 4, 'unit-'));
  ctx.log(
    `new version: ${units.toLocaleString('en-US')} units in ${big} (version ${setup.value.number}, ` +
      `${setup.value.added} added) in ${setup.seconds.toFixed(1)} s`,
  );
  const m = measure(ctx, {
    id: opts.id,
    label:
      opts.label ??
      `new version (manifest PUT, new tag): repository of ${units.toLocaleString('en-US')} units vs 4`,
    unit: 'ms',
    better: 'lower',
    referenceName: 'empty repo',
    target: { ratio: 1.5 },
  });
  const headers = {
    big: await authorization(s.url, s.creds, big, 'pull,push'),
    small: await authorization(s.url, s.creds, small, 'pull,push'),
  };
  const put = async (repo: string, h: Record<string, string>, tag: string) =>
    (await timed(() => pushManifest(s.url, repo, tag, img.manifest, OCI_MANIFEST, h))).seconds * 1000;
  // a few unmeasured first, then alternating
  for (let i = 0; i < 3; i++) {
    await put(big, headers.big, `warm-${i}`);
    await put(small, headers.small, `warm-${i}`);
  }
  for (let i = 0; i < ctx.sizes.versionOps; i++) {
    if (i % 2 === 0) {
      m.berth.push(await put(big, headers.big, `v-${i}`));
      m.reference.push(await put(small, headers.small, `v-${i}`));
    } else {
      m.reference.push(await put(small, headers.small, `v-${i}`));
      m.berth.push(await put(big, headers.big, `v-${i}`));
    }
  }
  m.note = `${ctx.sizes.versionOps} PUTs each; the ${units.toLocaleString('en-US')} units: tags added with commitVersion`;
  return img;
}
