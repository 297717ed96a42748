// The background jobs of a serving process, on every backend, on a fake clock: what each does at start and after.
import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openBerth, type Berth } from './app.js';
import { DEFAULT_LOGIN_POLICY } from './auth/login-limits.js';
import { sha256 } from './core/digest.js';
import { Keys } from './storage/cas.js';
import { Readable } from 'node:stream';
import type { Digest } from './core/digest.js';
import { Jobs, UPLOAD_EXPIRY_EVERY_MS } from './jobs.js';
import { backends, removeTestDatabase, testDatabaseUrl } from '../test/helpers/backend.js';
import { FakeClock } from '../test/helpers/fake-clock.js';

const HOUR = 3600_000;

/** A log that keeps its lines. */
function memoryLog() {
  const lines: { level: string; msg: string; obj?: object }[] = [];
  const log = {
    lines,
    info: (obj: object, msg: string) => void lines.push({ level: 'info', msg, obj }),
    error: (_: object, msg: string) => void lines.push({ level: 'error', msg }),
    debug: (_: object, msg: string) => void lines.push({ level: 'debug', msg }),
    child: () => log,
  };
  return log;
}

describe.each(backends())('background jobs on %s', (backend) => {
  let data: string;
  let database: string;
  let berth: Berth;

  const put = (key: string, bytes: string, ageMs: number): void => {
    const file = join(data, 'store', ...key.split('/'));
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, bytes);
    const t = new Date(Date.now() - ageMs);
    utimesSync(file, t, t);
  };
  const exists = async (key: string) => (await berth.store.stat(key)) !== null;

  beforeEach(async () => {
    data = mkdtempSync(join(tmpdir(), 'jobs-'));
    database = await testDatabaseUrl(`jobs-${backend}`, backend);
    berth = await openBerth({ data, database });
  });

  afterEach(async () => {
    await berth.close();
    await removeTestDatabase(database);
    rmSync(data, { recursive: true, force: true });
  });

  it('at start: stale staging goes, trash is settled; abandoned uploads expire at start and every ten minutes', async () => {
    put('staging/crashed/0', 'entry', 2 * HOUR);
    put('staging/running/0', 'entry', 0);
    const unnamed = sha256('let go');
    put(Keys.trash('dead-cleanup', unnamed), 'let go', 0);
    const { id } = await berth.uploads.start('app');
    const clock = new FakeClock(Date.now());
    const log = memoryLog();
    const jobs = new Jobs(berth, { log, clock });
    expect(jobs.schedule).toBeUndefined();
    jobs.start();
    await jobs.stop(); // waits for the jobs started
    expect(await exists('staging/crashed/0')).toBe(false);
    expect(await exists('staging/running/0')).toBe(true);
    expect(await exists(Keys.trash('dead-cleanup', unnamed))).toBe(false);
    expect(await exists(Keys.upload(id))).toBe(true); // not abandoned yet
    expect(log.lines.map((l) => l.msg).sort()).toEqual([
      'files left in trash by an unfinished cleanup settled',
      'stale staging folders removed',
    ]);

    // a day later the session is abandoned: the next ten-minute sweep removes it
    jobs.start();
    clock.advanceTo(clock.now() + 24 * HOUR + UPLOAD_EXPIRY_EVERY_MS);
    await jobs.stop();
    expect(await exists(Keys.upload(id))).toBe(false);
    expect(log.lines.filter((l) => l.msg === 'expired upload sessions removed')).toHaveLength(1);
    expect((24 * HOUR) % UPLOAD_EXPIRY_EVERY_MS).toBe(0);
    expect(clock.pending).toBe(0);
  });

  it('forgets login failures past their window, at start and every ten minutes, by the clock given', async () => {
    const t0 = Date.now();
    const window = DEFAULT_LOGIN_POLICY.windowMs;
    for (let i = 0; i < 3; i++) await berth.auth.limits.failed([`addr:192.0.2.${i}`, `user:gone${i}`], t0);
    await berth.auth.limits.failed(['addr:192.0.2.9', 'user:later'], t0 + UPLOAD_EXPIRY_EVERY_MS);
    /** whether a key still has its row */
    const held = async (key: string) => (await berth.auth.limits.check([key], 0)).failures;
    const clock = new FakeClock(t0 + window);
    const log = memoryLog();
    const jobs = new Jobs(berth, { log, clock });
    jobs.start(); // at the last moment of the first failures' window: nothing goes
    clock.advanceTo(t0 + window + UPLOAD_EXPIRY_EVERY_MS); // the sweep after: the first failures go
    await jobs.stop();
    expect(await held('user:gone0')).toBe(false);
    expect(await held('addr:192.0.2.2')).toBe(false);
    expect(await held('user:later')).toBe(true);
    expect(log.lines.filter((l) => l.msg === 'old login failures forgotten')).toHaveLength(1);
    jobs.start();
    clock.advanceTo(clock.now() + 2 * UPLOAD_EXPIRY_EVERY_MS);
    await jobs.stop();
    expect(await held('user:later')).toBe(false);
  });

  it('a scheduled round that removed something says so in the log and the audit log; one that removed nothing, only in the log', async () => {
    // an image pushed, then its manifest deleted: its blobs are in the latest version, referenced by nothing
    const layer = Buffer.from(`layer ${Math.random()}`);
    const config = Buffer.from(JSON.stringify({ rootfs: { type: 'layers', diff_ids: [sha256(layer)] } }));
    for (const b of [layer, config])
      await berth.uploads.monolithic('jobs/app', sha256(b), Readable.from([b]));
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: {
          mediaType: 'application/vnd.oci.image.config.v1+json',
          digest: sha256(config),
          size: config.length,
        },
        layers: [
          { mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: sha256(layer), size: layer.length },
        ],
      }),
    );
    const digest = sha256(manifest) as Digest;
    await berth.manifests.put('jobs/app', { kind: 'tag', tag: 'v1' }, manifest, undefined);
    await berth.manifests.delete('jobs/app', { kind: 'digest', digest });
    const clock = new FakeClock(Date.now() + 1000, () => 0);
    const log = memoryLog();
    const jobs = new Jobs(berth, { log, clock, cleanupIntervalSeconds: 60, cleanupProtectionSeconds: 0 });
    jobs.start();
    clock.advanceTo(clock.now() + 1);
    await jobs.schedule!.idle();
    clock.advanceTo(clock.now() + 60_000); // the next round: nothing left to remove
    await jobs.schedule!.idle();
    await jobs.stop();
    const ran = log.lines.filter((l) => l.msg === 'scheduled cleanup ran');
    expect(ran).toHaveLength(2);
    expect(ran[0]!.obj).toMatchObject({
      unreferencedBlobs: 2,
      repositories: [{ repository: 'jobs/app', blobs: 2, manifests: 0 }],
    });
    expect(ran[1]!.obj).toMatchObject({ unreferencedBlobs: 0, removedBlobs: 0, repositories: [] });
    const audit = await berth.auth.audit.list({ action: 'cleanup.scheduled' });
    expect(audit).toHaveLength(1);
    expect(audit[0]!.actor).toBeNull();
    expect(audit[0]!.detail).toMatchObject({
      protectionSeconds: 0,
      unreferencedBlobs: 2,
      repositories: [{ repository: 'jobs/app', blobs: 2 }],
    });
    const versions = await berth.history.versions('jobs/app');
    expect(versions.at(-1)!.message).toBe('cleanup: removed 2 unreferenced blobs');
  });

  it('with an interval, the scheduled cleanup runs on the clock and stops with the jobs', async () => {
    const clock = new FakeClock(Date.now(), () => 0);
    const jobs = new Jobs(berth, { log: memoryLog(), clock, cleanupIntervalSeconds: 60 });
    const rounds: string[] = [];
    jobs.schedule!.onRound((r) => rounds.push(r.outcome));
    jobs.start();
    clock.advanceTo(clock.now() + 1);
    await jobs.schedule!.idle();
    expect(rounds).toEqual(['ran']);
    await jobs.stop();
    expect(clock.pending).toBe(0);
  });
});
