// `npm run bench`: berth against CNCF Distribution and against the hardware. See docs/benchmarks.md.
//
//   npm run bench [-- --quick] [--json FILE] [--runs N] [--only GROUP,…] [--dir DIR] [--keep] [--profile]
//
// Starts berth (the built bin/berth.js serve, SQLite under a temp dir, log level warn) and Distribution
// (docker-registry serve, filesystem storage under the same temp dir), both on loopback; makes its own random
// images; runs every case several times on both; prints medians, ratios and PASS/FAIL per target. The s3 group
// starts a second pair on S3 (a Ceph RGW: bench/s3.ts); the scale group more servers, PostgreSQL and nginx
// (bench/scale.ts). Exits 0 when
// the bench ran (whatever the targets say), 1 when it broke, 2 on bad arguments.
import {
  mkdtempSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statfsSync,
  writeFileSync,
} from 'node:fs';
import { availableParallelism, cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import {
  archives,
  clients,
  FULL,
  largeLayer,
  manyLayers,
  newVersion,
  QUICK,
  requestRate,
  settleNote,
  type Ctx,
  type Measure,
  type Sizes,
} from './cases.js';
import { cleanup } from './cleanup.js';
import { firstLine, killCommands } from './exec.js';
import { killLoadGenerators } from './loadgen.js';
import { killNginx } from './nginx.js';
import { summarize } from './profile.js';
import { syncRepository } from './sync.js';
import { cachePull } from './cache.js';
import { uiPages } from './ui.js';
import { s3Group } from './s3.js';
import { postgresGroup, scaleGroup } from './scale.js';
import { distributionBinary, killAll, ROOT, startBerth, startDistribution, type Server } from './servers.js';
import { fmt, GIB, markdownTable, median, MIB, table } from './stats.js';

const GROUPS: Record<string, (ctx: Ctx) => Promise<void>> = {
  large: largeLayer,
  layers: manyLayers,
  clients,
  archive: archives,
  rate: requestRate,
  version: newVersion,
  cleanup,
  sync: syncRepository,
  cache: cachePull,
  ui: uiPages,
  s3: s3Group,
  scale: scaleGroup,
  postgres: postgresGroup,
};

/** Groups that are part of another (run alone with --only, not again in a whole run). */
const PARTS = new Set(['postgres']);

interface Args {
  quick: boolean;
  json?: string;
  runs?: number;
  only: string[];
  dir?: string;
  keep: boolean;
  profile: boolean;
}

function usage(msg?: string): never {
  if (msg) console.error(`bench: ${msg}`);
  console.error(
    'usage: npm run bench -- [--quick] [--json FILE] [--runs N] [--only GROUP,…] [--dir DIR] [--keep] [--profile]\n' +
      `groups: ${Object.keys(GROUPS).join(', ')}`,
  );
  process.exit(2);
}

function parseArgs(argv: string[]): Args {
  const a: Args = { quick: false, only: [], keep: false, profile: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const value = () => argv[++i] ?? usage(`${arg} needs a value`);
    if (arg === '--quick') a.quick = true;
    else if (arg === '--json') a.json = resolve(value());
    else if (arg === '--runs') {
      a.runs = Number(value());
      if (!Number.isInteger(a.runs) || a.runs < 1) usage('--runs must be a whole number, 1 or more');
    } else if (arg === '--only') a.only = value().split(',');
    else if (arg === '--dir') a.dir = resolve(value());
    else if (arg === '--keep') a.keep = true;
    else if (arg === '--profile') a.profile = true;
    else if (arg === '--help' || arg === '-h') usage();
    else usage(`unknown argument ${arg}`);
  }
  for (const g of a.only) if (!GROUPS[g]) usage(`unknown group ${g}`);
  return a;
}

function machine(work: string): Record<string, string> {
  const mem = /MemTotal:\s+(\d+) kB/.exec(readFileSync('/proc/meminfo', 'utf8'));
  const fs = statfsSync(work);
  const mount = readFileSync('/proc/mounts', 'utf8')
    .split('\n')
    .map((l) => l.split(' '))
    .filter((f) => f.length > 2 && work.startsWith(f[1]!))
    .sort((x, y) => y[1]!.length - x[1]!.length)[0];
  return {
    cpu: `${availableParallelism()} × ${cpus()[0]?.model ?? 'unknown'}`,
    memory: mem ? `${(Number(mem[1]) / 1024 / 1024).toFixed(1)} GiB` : 'unknown',
    disk: `${mount ? `${mount[0]} (${mount[2]}) on ${mount[1]}` : work}, ${((fs.blocks * fs.bsize) / GIB).toFixed(0)} GiB, ${((fs.bavail * fs.bsize) / GIB).toFixed(0)} GiB free`,
    node: process.version,
    skopeo: firstLine('skopeo', ['--version']) ?? 'not found',
    distribution: firstLine(distributionBinary(), ['--version']) ?? 'not found',
    openssl: firstLine('openssl', ['version']) ?? 'not found',
    berth: firstLine('git', ['-C', ROOT, 'describe', '--always', '--dirty']) ?? 'unknown',
    loadavg: loadavg()
      .map((x) => x.toFixed(2))
      .join(' '),
  };
}

interface Row {
  id: string;
  label: string;
  unit: string;
  berth: number;
  reference: number;
  referenceName: string;
  ratio?: number;
  target?: string;
  pass?: boolean;
  note?: string;
  /** median CPU seconds of the server processes during the runs (berth, Distribution) */
  cpu?: { berth: number; reference?: number };
  /** those CPU seconds per GiB the server sent (pulls) */
  cpuPerGiB?: { berth: number; reference?: number };
  runs: { berth: number[]; reference: number[] };
}

function toRow(m: Measure): Row {
  const berth = median(m.berth);
  const reference = median(m.reference);
  const row: Row = {
    id: m.id,
    label: m.label,
    unit: m.unit,
    berth,
    reference,
    referenceName: m.referenceName,
    runs: { berth: m.berth, reference: m.reference },
    ...(m.note ? { note: m.note } : {}),
  };
  if (m.cpu && m.cpu.berth.length > 0) {
    row.cpu = {
      berth: median(m.cpu.berth),
      ...(m.cpu.reference.length > 0 ? { reference: median(m.cpu.reference) } : {}),
    };
    if (m.served) {
      const gib = m.served / GIB;
      const { berth: b, reference: ref } = row.cpu;
      row.cpuPerGiB = { berth: b / gib, ...(ref === undefined ? {} : { reference: ref / gib }) };
    }
  }
  if (m.reference.length > 0) {
    // a ratio of times: for rates, the time per request
    row.ratio = m.better === 'higher' ? reference / berth : berth / reference;
  }
  if (m.target && 'ratio' in m.target && row.ratio !== undefined) {
    const t = m.target.ratio;
    row.target = `≤ ${Number(t.toFixed(2)) === t ? t.toFixed(2) : String(t)}`;
    row.pass = Number(row.ratio.toFixed(2)) <= m.target.ratio;
  } else if (m.target && 'max' in m.target) {
    row.target = `≤ ${m.target.max}`;
    row.pass = berth <= m.target.max;
  }
  if (m.alsoRequired && row.pass !== undefined) {
    row.target += ` and ${m.alsoRequired.what}`;
    row.pass &&= m.alsoRequired.holds;
  }
  return row;
}

function render(rows: Row[]): { header: string[]; cells: string[][] } {
  const header = [
    'case',
    'unit',
    'berth',
    'reference',
    'ref',
    'ratio',
    'target',
    'server CPU s',
    'CPU s/GiB sent',
    'result',
  ];
  const cells = rows.map((r) => [
    r.label,
    r.unit,
    fmt(r.berth),
    fmt(r.reference),
    r.referenceName,
    r.ratio === undefined ? '—' : r.ratio.toFixed(2),
    r.target?.replace(/ and .*/, ' *') ?? '',
    r.cpu ? `${fmt(r.cpu.berth)} / ${fmt(r.cpu.reference)}` : '',
    r.cpuPerGiB ? `${fmt(r.cpuPerGiB.berth)} / ${fmt(r.cpuPerGiB.reference)}` : '',
    r.pass === undefined ? '' : r.pass ? 'PASS' : 'FAIL',
  ]);
  return { header, cells };
}

async function main(): Promise<number> {
  const args = parseArgs(process.argv.slice(2));
  const base = args.quick ? QUICK : FULL;
  const sizes: Sizes = {
    ...base,
    ...(args.runs
      ? {
          runs: args.runs,
          s3: { ...base.s3, runs: args.runs },
          scale: { ...base.scale, runs: args.runs, orphans: { ...base.scale.orphans, runs: args.runs } },
        }
      : {}),
  };
  for (const cmd of ['skopeo', 'openssl', 'gzip']) {
    if (!firstLine(cmd, cmd === 'openssl' ? ['version'] : ['--version'])) {
      console.error(`bench: ${cmd} is not installed (Debian: apt-get install ${cmd})`);
      return 1;
    }
  }
  if (!firstLine(distributionBinary(), ['--version'])) {
    console.error(
      `bench: ${distributionBinary()} is not installed (Debian: apt-get install docker-registry)`,
    );
    return 1;
  }
  const work = args.dir
    ? (mkdirSync(args.dir, { recursive: true }), args.dir)
    : mkdtempSync(join(tmpdir(), 'berth-bench-'));
  const started = Date.now();
  const log = (msg: string) => {
    const s = Math.round((Date.now() - started) / 1000);
    console.error(
      `[${String(Math.floor(s / 60)).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}] ${msg}`,
    );
  };
  const info = machine(work);
  const profileDir = join(ROOT, '.bench-tmp', `profile-${new Date().toISOString().replace(/[:.]/g, '-')}`);
  if (args.profile) mkdirSync(profileDir, { recursive: true });
  let berth: Server | undefined;
  let dist: Server | undefined;
  const stopAll = async () => {
    await Promise.all([berth?.stop(), dist?.stop()]);
  };
  const onSignal = (sig: NodeJS.Signals) => {
    console.error(`bench: ${sig}: stopping`);
    killLoadGenerators();
    killCommands();
    killNginx();
    killAll();
    if (!args.keep) rmSync(work, { recursive: true, force: true });
    process.exit(130);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    log(`berth benchmark (${args.quick ? 'quick' : 'full'}, ${sizes.runs} runs) in ${work}`);
    log(
      `machine: ${Object.entries(info)
        .map(([k, v]) => `${k}: ${v}`)
        .join('; ')}`,
    );
    berth = await startBerth(join(work, 'berth'), {
      nodeArgs: args.profile ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [],
    });
    dist = await startDistribution(join(work, 'distribution', 'store'));
    log(`berth at ${berth.url}, Distribution at ${dist.url}`);
    const ctx: Ctx = {
      sizes,
      work,
      berth,
      dist,
      measures: [],
      memory: { berth: [], distribution: [] },
      notes: [],
      keep: args.keep,
      log,
    };
    // by default every group once: `postgres` is a part of `scale`, there only for `--only postgres`
    const groups = args.only.length ? args.only : Object.keys(GROUPS).filter((g) => !PARTS.has(g));
    for (const g of groups) {
      log(`--- ${g}`);
      await GROUPS[g]!(ctx);
    }
    await stopAll();

    const rows = ctx.measures.map(toRow);
    if (ctx.memory.berth.length > 0) {
      const mib = (xs: number[]) => xs.map((x) => x / MIB);
      rows.push(
        toRow({
          id: 'peak-rss',
          label: `peak server RSS during the ${fmtBig(sizes)} transfers`,
          unit: 'MiB',
          better: 'lower',
          berth: [Math.max(...mib(ctx.memory.berth))],
          reference: ctx.memory.distribution.length ? [Math.max(...mib(ctx.memory.distribution))] : [],
          referenceName: 'Distribution',
          target: { max: 200 },
          note: 'berth: large-layer push and pull, archive uploads; Distribution: large-layer push and pull',
        }),
      );
    }
    const { header, cells } = render(rows);
    const command = `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`;
    info.loadavgEnd = loadavg()
      .map((x) => x.toFixed(2))
      .join(' ');
    console.log('');
    console.log(`${command}  (${Math.round((Date.now() - started) / 1000)} s)`);
    console.log(
      `machine: ${info.cpu}; ${info.memory}; ${info.disk}; Node ${info.node}; ${info.skopeo}; ${info.distribution}; ` +
        `berth ${info.berth}; load average ${info.loadavg} at start, ${info.loadavgEnd} at end`,
    );
    console.log(
      `medians of ${sizes.runs} runs; ratio = berth ÷ reference (for req/s: reference ÷ berth); ` +
        'server CPU s = CPU seconds of the berth / Distribution process during one run; ' +
        `${settleNote()}\n`,
    );
    console.log(table(header, cells));
    for (const r of rows) if (r.target?.includes(' and ')) console.log(`  * ${r.target}`);
    for (const r of rows) if (r.note) console.log(`  ${r.label}: ${r.note}`);
    for (const n of ctx.notes) console.log(`  ${n}`);
    const failed = rows.filter((r) => r.pass === false);
    console.log(
      `\ntargets: ${rows.filter((r) => r.pass).length} PASS, ${failed.length} FAIL` +
        (failed.length ? ` (${failed.map((r) => r.id).join(', ')})` : ''),
    );
    if (args.profile) {
      for (const f of readdirSync(profileDir).filter((n) => n.endsWith('.cpuprofile'))) {
        console.log(`\nberth CPU profile: ${join(profileDir, f)}\n${summarize(join(profileDir, f))}`);
      }
    }
    if (args.json) {
      writeFileSync(
        args.json,
        JSON.stringify(
          {
            command,
            date: new Date(started).toISOString(),
            seconds: Math.round((Date.now() - started) / 1000),
            machine: info,
            sizes,
            rows,
            markdown: markdownTable(header, cells),
            measures: ctx.measures,
            memory: ctx.memory,
            notes: ctx.notes,
          },
          null,
          2,
        ),
      );
      console.log(`results written to ${args.json}`);
    }
    return 0;
  } catch (e) {
    console.error(`bench failed: ${(e as Error).stack ?? String(e)}`);
    for (const s of [berth, dist]) {
      if (s) console.error(`--- last output of ${s.name}:\n${s.output().slice(-4000)}`);
    }
    return 1;
  } finally {
    killLoadGenerators();
    killCommands();
    killNginx();
    await stopAll().catch(() => undefined);
    killAll();
    if (!args.keep) rmSync(work, { recursive: true, force: true });
    else console.error(`kept ${work}`);
  }
}

function fmtBig(s: Sizes): string {
  const archive = (s.archive.layers * s.archive.size) / MIB;
  return `${s.largeLayer / MIB} MiB layer and ${archive >= 1024 ? `${archive / 1024} GiB` : `${archive} MiB`} archive`;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    console.error(e);
    process.exit(1);
  },
);
