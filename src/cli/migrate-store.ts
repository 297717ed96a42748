// `berth migrate-store`: copies the blobs of an instance's database from its filesystem (or S3) store into S3.
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Option, type Command } from 'commander';
import type { MigrationProgress, MigrationReport } from '../app.js';
import { formatBytes, plural, printJson } from './format.js';
import { argument, instanceOptions } from './options.js';
import { UsageError } from './report.js';

export interface MigrateStoreOptions {
  data?: string;
  database?: string;
  from?: string;
  to: string;
  s3Endpoint?: string;
  s3Region?: string;
  fromS3Endpoint?: string;
  fromS3Region?: string;
  verify?: boolean;
  parallel?: number;
  json?: boolean;
}

const parallel = argument((s) => {
  const n = /^\d+$/.test(s) ? Number(s) : NaN;
  if (!(n >= 1 && n <= 64)) throw new Error(`"${s}" is not a number of copies at once: give 1 to 64`);
  return n;
});

export function addMigrateStoreCommand(program: Command): void {
  instanceOptions(
    program
      .command('migrate-store')
      .description(
        'copy every blob the database records from the filesystem store (or an S3 one) into S3; run it again to ' +
          'copy what was added meanwhile (what is there already is skipped); on the server’s machine, like fsck',
      )
      .requiredOption('--to <s3://BUCKET[/PREFIX]>', 'the S3 store to copy into (the bucket must exist)')
      .option(
        '--from <dir|s3://BUCKET[/PREFIX]>',
        'the store to copy from: a data folder (its store is DIR/store) or an S3 store (default: --data)',
      )
      .addOption(
        new Option(
          '--s3-endpoint <url>',
          'the S3 server of --to, for S3-compatible storage (default: AWS)',
        ).env('BERTH_S3_ENDPOINT'),
      )
      .addOption(
        new Option('--s3-region <region>', 'the S3 region of --to (default: AWS_REGION, else us-east-1)').env(
          'BERTH_S3_REGION',
        ),
      )
      .option('--from-s3-endpoint <url>', 'the S3 server of an s3:// --from (default: --s3-endpoint)')
      .option('--from-s3-region <region>', 'the S3 region of an s3:// --from (default: --s3-region)')
      .option(
        '--verify',
        'hash every blob against its digest: the bytes copied as they pass, and those already at --to (read back)',
      )
      .addOption(
        new Option('--parallel <n>', 'blobs copied at once, 1 to 64 (default: 4)').argParser(parallel),
      )
      .option('--json', 'print the report as JSON'),
  ).action((opts: MigrateStoreOptions) => migrateStore(opts));
}

const isS3 = (s: string): boolean => s.startsWith('s3://');

/** The stores the options name, or a usage error saying what is wrong with them. */
async function locations(opts: MigrateStoreOptions) {
  const { parseS3Store } = await import('../app.js');
  const s3 = (url: string, flag: string, endpoint?: string, region?: string) => {
    try {
      return parseS3Store(url, { endpoint, region });
    } catch (e) {
      throw new UsageError(`${flag}: ${(e as Error).message}`);
    }
  };
  if (!isS3(opts.to)) {
    throw new UsageError(
      `--to "${opts.to}" is not an S3 store: give s3://BUCKET[/PREFIX] (migrate-store copies into S3; ` +
        'the source is --from, a data folder by default)',
    );
  }
  const to = s3(opts.to, '--to', opts.s3Endpoint, opts.s3Region);
  const fromS3 = opts.from !== undefined && isS3(opts.from);
  if (!fromS3 && (opts.fromS3Endpoint !== undefined || opts.fromS3Region !== undefined)) {
    throw new UsageError('--from-s3-endpoint and --from-s3-region go with --from s3://BUCKET[/PREFIX]');
  }
  const from = fromS3
    ? s3(opts.from!, '--from', opts.fromS3Endpoint ?? opts.s3Endpoint, opts.fromS3Region ?? opts.s3Region)
    : undefined;
  if (
    from &&
    from.bucket === to.bucket &&
    from.prefix === to.prefix &&
    (from.endpoint ?? from.region) === (to.endpoint ?? to.region)
  ) {
    throw new UsageError(
      `--from and --to name the same store (s3://${to.bucket}/${to.prefix}): give --to another bucket or prefix`,
    );
  }
  const data = opts.data ?? (opts.from !== undefined && !fromS3 ? opts.from : './berth-data');
  return { data, from, to, source: fromS3 ? undefined : (opts.from ?? data) };
}

/** The SQLite file the instance would open, or undefined for PostgreSQL. */
function sqliteFile(data: string, database: string | undefined): string | undefined {
  if (database !== undefined && /^postgres(ql)?:\/\//.test(database)) return undefined;
  return resolve(database?.replace(/^sqlite:(\/\/)?/, '') ?? join(data, 'berth.db'));
}

export async function migrateStore(opts: MigrateStoreOptions): Promise<void> {
  const { data, from, to, source } = await locations(opts);
  const file = sqliteFile(data, opts.database);
  if (file !== undefined && !existsSync(file)) {
    throw new UsageError(
      `there is no berth database at ${file}: give the --data DIR (or --database) that berth serve uses`,
    );
  }
  const { openStoreMigration } = await import('../app.js');
  const m = await openStoreMigration({
    // a folder --from is where the store is; the database stays --data's (or --database)
    data: source ?? data,
    database: opts.database ?? join(data, 'berth.db'),
    ...(from ? { from } : {}),
    to,
  });
  let report: MigrationReport;
  try {
    if (!opts.json) console.log(`copying blobs from ${m.from} to ${m.to}`);
    const progress = progressLines();
    report = await m.migration.run({
      verify: opts.verify,
      parallel: opts.parallel,
      onProgress: opts.json ? undefined : progress.update,
    });
    progress.end();
  } finally {
    await m.close();
  }
  if (opts.json) printJson(report);
  else for (const line of reportLines(report)) console.log(line);
  if (report.failed.length > 0) {
    throw new Error(
      `migrate-store: ${plural(report.failed.length, 'blob')} not copied (nothing of them was written to ` +
        `${m.to}); check the source with berth fsck, then run migrate-store again`,
    );
  }
}

const line = (p: MigrationProgress): string =>
  `migrate-store: ${p.done}/${p.total} blobs, ${formatBytes(p.bytesDone)} of ${formatBytes(p.bytesTotal)}`;

/** Progress on stderr: the first and last state, and one line every `everyMs` between. */
export function progressLines(everyMs = 5000, now: () => number = Date.now) {
  let last: MigrationProgress | undefined;
  let printedAt = -Infinity;
  return {
    update: (p: MigrationProgress): void => {
      last = p;
      if (now() - printedAt < everyMs) return;
      printedAt = now();
      process.stderr.write(`${line(p)}\n`);
    },
    end: (): void => {
      if (last) process.stderr.write(`${line(last)}, done\n`);
    },
  };
}

export function reportLines(r: MigrationReport): string[] {
  const out = [
    `copied ${plural(r.copied.count, 'blob')} (${formatBytes(r.copied.bytes)})` +
      (r.replaced > 0 ? `, of which ${r.replaced} replaced an object of the wrong size or bytes` : '') +
      (r.verified ? ', each hashed against its digest' : ''),
    `already there: ${plural(r.present.count, 'blob')} (${formatBytes(r.present.bytes)})` +
      (r.verified ? ', read back and hashed' : ', same size'),
  ];
  const s = r.skipped;
  const skipped = [
    s.markedMissing ? `${plural(s.markedMissing, 'blob')} marked missing (no object in the source)` : '',
    s.onDemand ? `${plural(s.onDemand, 'on-demand blob')} with no bytes yet` : '',
    s.gone ? `${plural(s.gone, 'blob')} removed by cleanup during the run` : '',
  ].filter(Boolean);
  if (skipped.length) out.push(`skipped: ${skipped.join(', ')}`);
  if (r.abortedUnfinished > 0) {
    out.push(
      `aborted ${plural(r.abortedUnfinished, 'unfinished upload')} under blobs/ (an interrupted run’s)`,
    );
  }
  for (const f of r.failed) out.push(`not copied: ${f.digest} (${f.problem}): ${f.detail}`);
  return out;
}
