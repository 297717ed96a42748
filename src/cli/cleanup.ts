// `berth cleanup`: asks the server to remove (or, with --dry-run, to report) unreferenced, unclaimed content.
import { CleanupReport } from '../api/schemas.js';
import { expect } from './api-types.js';
import { clientFor } from './credentials.js';

export interface CleanupCommandOptions {
  server: string;
  json?: boolean;
  dryRun?: boolean;
  protection?: number;
}

const mib = (n: number): string => `${(n / 1024 / 1024).toFixed(1)} MiB`;

export async function cleanup(opts: CleanupCommandOptions): Promise<void> {
  const body = {
    dryRun: opts.dryRun ?? false,
    ...(opts.protection === undefined ? {} : { protectionSeconds: opts.protection }),
  };
  const answer = await clientFor(opts).postJson('api/v1/cleanup', body);
  if (opts.json) return void console.log(JSON.stringify(answer, null, 2));
  const report = expect(CleanupReport, answer, 'POST /api/v1/cleanup');
  const verb = report.dryRun ? 'would remove' : 'removed';
  for (const r of report.repositories ?? []) {
    const made = r.version === null ? 'would remove' : `version ${r.version} removed`;
    console.log(
      `${r.repository}: ${made} ${r.blobs} unreferenced blobs (${mib(r.bytes)}), ${r.manifests} untagged manifests`,
    );
  }
  for (const d of report.digests) console.log(`${verb} ${d}`);
  const versions = report.removed.versions ?? 0;
  if (versions > 0)
    console.log(`retention ${verb} ${versions} repository version${versions === 1 ? '' : 's'}`);
  console.log(
    `cleanup ${verb} ${report.removed.blobs} blobs (${mib(report.removed.bytes)}), ${report.removed.manifests} of them manifests` +
      `${report.removed.strayFiles ? `, and ${report.removed.strayFiles} files no row named (${mib(report.removed.strayBytes ?? 0)})` : ''}; ` +
      `protection ${report.protectionSeconds} s`,
  );
}
