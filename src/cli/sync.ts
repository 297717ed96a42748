// `berth repo sync REPO --remote R [--upstream U] [--mirror] [--wait] [--every D | --no-schedule]` and `berth sync-runs [REPO]`.
import cliProgress from 'cli-progress';
import type { Command } from 'commander';
import { SyncAnswer, SyncRun, SyncRunList } from '../api/sync-schemas.js';
import { parseDuration } from '../core/durations.js';
import { parseRepositoryName } from '../core/references.js';
import { expect } from './api-types.js';
import { ApiError, repositoryPath } from './client.js';
import { clientFor } from './credentials.js';
import { formatBytes, formatTime, plural, printJson, table } from './format.js';
import { argument, clientOptions } from './options.js';
import { UsageError } from './report.js';
import type { CommandOptions } from './users.js';

export interface SyncCommandOptions extends CommandOptions {
  remote?: string;
  upstream?: string;
  mirror?: boolean;
  wait?: boolean;
  every?: number | null;
  /** commander's --no-schedule: false when given */
  schedule?: boolean;
  /** how often --wait asks for the run (ms; tests shorten it) */
  pollMs?: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** One line of what a run did. */
export function runSummary(r: SyncRun): string {
  const s = r.stats;
  const what =
    `${plural(s.tagsSeen, 'tag')} seen, ${s.tagsChanged} changed, ${s.tagsRemoved} removed; ` +
    `${plural(s.manifests, 'manifest')}, ${plural(s.blobsFetched, 'blob')} fetched (${formatBytes(s.bytes)}), ` +
    `${s.blobsReused} reused, ${s.blobsOnDemand} on demand`;
  const made = r.version === null ? 'no new version' : `version ${r.version}`;
  if (r.state === 'failed')
    return `sync ${r.id} of ${r.repository} failed: ${r.error ?? 'unknown error'} (${what})`;
  if (r.state === 'running') return `sync ${r.id} of ${r.repository} is running (${what})`;
  return `synced ${r.repository} from ${r.remote}/${r.upstream}: ${made} (${what})`;
}

export async function repoSync(name: string, opts: SyncCommandOptions): Promise<void> {
  const client = clientFor(opts);
  const schedulePath = repositoryPath(name, '/-/sync-schedule');
  if (opts.schedule === false) {
    await client.call('DELETE', schedulePath);
    if (opts.json) return printJson({ repository: name, schedule: null });
    console.log(`${name} is no longer synced on a schedule`);
    return;
  }
  if (!opts.remote) throw new UsageError('say which remote to sync from: --remote NAME');
  const body = { remote: opts.remote, upstream: opts.upstream, mirror: opts.mirror ?? false };
  if (opts.every !== undefined) {
    if (opts.every === null) throw new UsageError('--every takes a duration such as 1h or 30m');
    const answer = await client.putJson(schedulePath, {
      ...body,
      everySeconds: Math.round(opts.every / 1000),
    });
    if (opts.json) return printJson(answer);
    const s = expect(SyncAnswer, answer, `PUT /${schedulePath}`).schedule!;
    console.log(
      `${name} syncs from ${s.remote}/${s.upstream} every ${s.everySeconds}s, next at ${formatTime(s.nextAt)}`,
    );
    return;
  }
  const path = repositoryPath(name, '/-/sync');
  const started = expect(SyncAnswer, await client.postJson(path, body), `POST /${path}`).run!;
  let run = started;
  if (opts.wait) {
    const bar = progress(!opts.json && Boolean(process.stderr.isTTY));
    try {
      while (run.state === 'running') {
        bar.update(run);
        await sleep(opts.pollMs ?? 500);
        run = expect(
          SyncRun,
          await client.getJson(`api/v1/sync-runs/${run.id}`),
          'GET /api/v1/sync-runs/<id>',
        );
      }
      bar.update(run);
    } finally {
      bar.stop();
    }
  }
  if (opts.json) printJson(run);
  else
    console.log(opts.wait ? runSummary(run) : `sync ${run.id} of ${name} started (berth sync-runs ${name})`);
  if (run.state === 'failed') throw new ApiError('SYNC_FAILED', `sync ${run.id} failed: ${run.error ?? ''}`);
}

/** A bar of blobs fetched (or, before they are counted, of manifests) on stderr, on a terminal only. */
function progress(enabled: boolean): { update(r: SyncRun): void; stop(): void } {
  if (!enabled) return { update: () => {}, stop: () => {} };
  const bar = new cliProgress.SingleBar(
    {
      format: 'sync [{bar}] {value}/{total} blobs | {phase} | {bytes}',
      stream: process.stderr,
      hideCursor: true,
    },
    cliProgress.Presets.shades_classic,
  );
  let started = false;
  return {
    update(r) {
      const s = r.stats;
      const values = { phase: s.phase, bytes: formatBytes(s.bytes) };
      if (!started) bar.start(Math.max(1, s.blobsTotal), 0, values);
      started = true;
      bar.setTotal(Math.max(1, s.blobsTotal));
      bar.update(s.blobsFetched + s.blobsOnDemand, values);
    },
    stop: () => started && bar.stop(),
  };
}

export async function syncRuns(name: string | undefined, opts: CommandOptions): Promise<void> {
  const path =
    name === undefined ? 'api/v1/sync-runs' : `api/v1/sync-runs?repository=${encodeURIComponent(name)}`;
  const answer = await clientFor(opts).getJson(path);
  if (opts.json) return printJson(answer);
  const { runs } = expect(SyncRunList, answer, `GET /${path}`);
  if (runs.length === 0) return console.log('no sync runs');
  const rows = runs.map((r) => [
    r.id,
    r.repository,
    `${r.remote}/${r.upstream}`,
    r.state,
    r.version === null ? '-' : String(r.version),
    `${r.stats.tagsChanged}/${r.stats.tagsSeen}`,
    String(r.stats.blobsFetched),
    formatBytes(r.stats.bytes),
    formatTime(r.startedAt),
  ]);
  console.log(
    table([['ID', 'REPOSITORY', 'FROM', 'STATE', 'VERSION', 'TAGS', 'BLOBS', 'BYTES', 'STARTED'], ...rows]),
  );
}

export function addSyncCommands(program: Command, repo: Command): void {
  clientOptions(
    repo.command('sync').description('bring tags, manifests and blobs in from a remote: one version per run'),
  )
    .argument('<name>', 'repository', argument(parseRepositoryName))
    .option('--remote <name>', 'the remote to sync from')
    .option('--upstream <repo>', 'the upstream repository (default: the same name)')
    .option('--mirror', 'also remove tags (within the include set) upstream no longer has')
    .option('--wait', 'wait for the run to end, with a progress bar')
    .option(
      '--every <duration>',
      'sync on a schedule instead, e.g. 1h, 30m (one process runs each)',
      argument(parseDuration),
    )
    .option('--no-schedule', 'stop syncing the repository on a schedule')
    .action((n: string, o: SyncCommandOptions) => repoSync(n, o));
  clientOptions(program.command('sync-runs').description('list sync runs, newest first'))
    .argument('[repo]', 'only this repository', argument(parseRepositoryName))
    .action((n: string | undefined, o: CommandOptions) => syncRuns(n, o));
}
