// `berth repo sync` (with --wait and --json, schedules) and `berth sync-runs` against a server syncing from a real Distribution.
import { afterAll, beforeAll, describe, expect } from 'vitest';
import { skipUnless } from '../helpers/backend.js';
import { runBerth } from '../helpers/cli.js';
import { startTestServer, type TestServer } from '../helpers/in-process.js';
import {
  hasDistribution,
  NO_DISTRIBUTION,
  pushImage,
  startDistribution,
  type UpstreamRegistry,
} from '../helpers/upstreams.js';

const it = skipUnless(hasDistribution(), NO_DISTRIBUTION);

let s: TestServer;
let reg: UpstreamRegistry;
beforeAll(async () => {
  if (!hasDistribution()) return;
  reg = await startDistribution();
  s = await startTestServer('cli-sync');
  await s.berth.remotes.add({ name: 'dist', url: reg.url });
  await pushImage(reg, 'lib/web', 'v1', { seed: 'cli-sync-1' });
  await pushImage(reg, 'lib/web', 'v2', { seed: 'cli-sync-2' });
});
afterAll(async () => {
  await s?.close();
  await reg?.stop();
});

const berth = (...args: string[]) => runBerth(s.url, ...args);

describe('berth repo sync', () => {
  it('--wait prints what the run did; again, that nothing changed; sync-runs lists both', async () => {
    const r = await berth('repo', 'sync', 'cli/web', '--remote', 'dist', '--upstream', 'lib/web', '--wait');
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(
      /^synced cli\/web from dist\/lib\/web: version 1 \(2 tags seen, 2 changed, 0 removed; 2 manifests, 6 blobs fetched/,
    );
    const again = await berth(
      'repo',
      'sync',
      'cli/web',
      '--remote',
      'dist',
      '--upstream',
      'lib/web',
      '--wait',
      '--json',
    );
    expect(again.code, again.err).toBe(0);
    expect(JSON.parse(again.out)).toMatchObject({
      state: 'succeeded',
      version: null,
      stats: { tagsSeen: 2, tagsChanged: 0 },
    });
    const list = await berth('sync-runs', 'cli/web');
    expect(list.code, list.err).toBe(0);
    const lines = list.out.trim().split('\n');
    expect(lines[0]).toMatch(/^ID\s+REPOSITORY\s+FROM\s+STATE\s+VERSION/);
    expect(lines.length).toBe(3);
    expect(lines[2]).toMatch(/cli\/web\s+dist\/lib\/web\s+succeeded\s+1\s+2\/2/);
  });

  it('a failed run exits 1 naming the error; a missing --remote is a usage error (exit 2)', async () => {
    const failed = await berth(
      'repo',
      'sync',
      'cli/none',
      '--remote',
      'dist',
      '--upstream',
      'lib/none',
      '--wait',
    );
    expect(failed.code).toBe(1);
    expect(failed.out).toMatch(/^sync \S+ of cli\/none failed: /);
    const usage = await berth('repo', 'sync', 'cli/web');
    expect(usage.code).toBe(2);
    expect(usage.err).toMatch(/--remote NAME/);
  });

  it('--every sets a schedule, --no-schedule removes it', async () => {
    const set = await berth(
      'repo',
      'sync',
      'cli/web',
      '--remote',
      'dist',
      '--upstream',
      'lib/web',
      '--every',
      '1h',
    );
    expect(set.code, set.err).toBe(0);
    expect(set.out).toMatch(/^cli\/web syncs from dist\/lib\/web every 3600s/);
    expect((await s.berth.syncSchedules.get('cli/web')).everySeconds).toBe(3600);
    const rm = await berth('repo', 'sync', 'cli/web', '--no-schedule');
    expect(rm.code, rm.err).toBe(0);
    await expect(s.berth.syncSchedules.get('cli/web')).rejects.toMatchObject({ code: 'SYNC_RUN_UNKNOWN' });
  });
});
