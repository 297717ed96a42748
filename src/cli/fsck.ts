// `berth fsck`: checks (and with --repair, repairs) an instance's database and blob store directly, as serve opens them.
import type { FsckProblem, FsckReport } from '../gc/fsck/index.js';
import { plural } from './format.js';

export interface FsckCommandOptions {
  data?: string;
  /** the blob store when not files (s3://…), with its endpoint and region: as serve takes them */
  store?: string;
  s3Endpoint?: string;
  s3Region?: string;
  database?: string;
  repair?: boolean;
  verify?: boolean;
  /** seconds */
  protection?: number;
  json?: boolean;
}

/** Runs the check and prints its findings; rejects (exit 1) when problems remain. */
export async function fsck(opts: FsckCommandOptions): Promise<void> {
  // loaded here, as in serve: client commands never load database drivers
  const { openBerth } = await import('../app.js');
  const { s3StoreOf } = await import('./serve.js');
  const s3 = await s3StoreOf(opts);
  const berth = await openBerth({
    data: opts.data ?? './berth-data',
    database: opts.database,
    ...(s3 ? { s3 } : {}),
  });
  let report: FsckReport;
  try {
    report = await berth.fsck.run({
      repair: opts.repair,
      verify: opts.verify,
      protectionMs: opts.protection === undefined ? undefined : opts.protection * 1000,
    });
  } finally {
    await berth.close();
  }
  if (opts.json) console.log(JSON.stringify(report, null, 2));
  else for (const line of fsckLines(report, opts.repair ?? false)) console.log(line);
  if (!report.clean) {
    const left = report.problems.filter((p) => !p.repaired).length;
    throw new Error(
      `fsck: ${plural(left, 'problem')} left${report.missingBlobs > 0 ? `, ${plural(report.missingBlobs, 'blob')} marked missing (push them again)` : ''}`,
    );
  }
}

const where = (p: FsckProblem): string => p.key ?? p.digest ?? '';

export function fsckLines(r: FsckReport, repair: boolean): string[] {
  const lines = r.problems.map(
    (p) => `${p.repaired ? 'repaired' : 'problem '}  ${p.kind}  ${where(p)}: ${p.detail}`,
  );
  const c = r.checked;
  const repaired = r.problems.filter((p) => p.repaired).length;
  lines.push(
    `checked ${plural(c.blobs, 'blob row')}, ${plural(c.files, 'blob file')}, ${plural(c.uploads, 'upload folder')}, ` +
      `${plural(c.staging, 'staging folder')}, ${plural(c.trash, 'trash file')}, ${plural(c.references, 'manifest reference')}`,
  );
  lines.push(
    r.problems.length === 0
      ? 'no problems found'
      : `${plural(r.problems.length, 'problem')} found${repair ? `, ${repaired} repaired` : ' (run with --repair to repair them)'}`,
  );
  if (r.missingBlobs > 0)
    lines.push(`${plural(r.missingBlobs, 'blob')} marked missing: push them again to restore them`);
  return lines;
}
