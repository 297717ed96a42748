// /api/v1 sync: POST …/-/sync starts a run (202) from a real Distribution; runs listed and shown by who may pull; schedules; every bad input a clear 4xx that changes nothing.
import { afterAll, beforeAll, describe, expect } from 'vitest';
import { skipUnless } from '../helpers/backend.js';
import { basic, http, startTestServer, type TestServer } from '../helpers/in-process.js';
import { snapshot } from '../helpers/state.js';
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
const JSON_BODY = { 'content-type': 'application/json' };
const DEV = { authorization: basic('dev', 'dev-password') };

beforeAll(async () => {
  if (!hasDistribution()) return;
  reg = await startDistribution();
  s = await startTestServer('api-sync');
  await s.berth.auth.users.create('dev', 'dev-password');
  await s.berth.auth.users.grant('dev', 'team/*', ['pull']);
  await s.berth.remotes.add({ name: 'dist', url: reg.url });
  await pushImage(reg, 'lib/app', 'v1', { seed: 'api-sync-1' });
});
afterAll(async () => {
  await s?.close();
  await reg?.stop();
});

const post = (name: string, body: unknown, headers: Record<string, string> = {}) =>
  http(
    'POST',
    `${s.url}/api/v1/repositories/${name}/-/sync`,
    typeof body === 'string' ? body : JSON.stringify(body),
    { ...JSON_BODY, ...headers },
  );

async function waitFor(id: string) {
  for (;;) {
    const r = await http('GET', `${s.url}/api/v1/sync-runs/${id}`);
    expect(r.status).toBe(200);
    const run = r.json<{ state: string; version: number | null; error: string | null }>();
    if (run.state !== 'running') return run;
    await new Promise((res) => setTimeout(res, 50));
  }
}

describe('the sync API', () => {
  it('POST …/-/sync answers 202 with a running run; it ends succeeded with the version it made, listed and audited', async () => {
    const r = await post('team/app', { remote: 'dist', upstream: 'lib/app' });
    expect(r.status, r.body.toString()).toBe(202);
    const { run } = r.json<{ run: { id: string; state: string } }>();
    expect(r.headers.location).toBe(`/api/v1/sync-runs/${run.id}`);
    const done = await waitFor(run.id);
    expect(done).toMatchObject({ state: 'succeeded', version: 1, error: null });
    expect((await s.berth.tags.list('team/app')).sort()).toEqual(['v1']);
    const list = await http('GET', `${s.url}/api/v1/sync-runs?repository=team/app`);
    expect(list.json<{ runs: { id: string }[] }>().runs.map((x) => x.id)).toEqual([run.id]);
    const audit = await s.berth.db.kysely
      .selectFrom('audit_log')
      .selectAll()
      .where('action', '=', 'sync.start')
      .execute();
    expect(audit.map((a) => [a.repository, JSON.parse(a.detail!).run])).toEqual([['team/app', run.id]]);
    // a user who may pull team/* sees the run, one who may not sees nothing of it
    expect((await http('GET', `${s.url}/api/v1/sync-runs/${run.id}`, undefined, DEV)).status).toBe(200);
    await s.berth.auth.users.create('other', 'other-password');
    const other = { authorization: basic('other', 'other-password') };
    const hidden = await http('GET', `${s.url}/api/v1/sync-runs/${run.id}`, undefined, other);
    expect(hidden.status).toBe(404);
    expect(hidden.json()).toMatchObject({ errors: [{ code: 'SYNC_RUN_UNKNOWN' }] });
    const none = await http('GET', `${s.url}/api/v1/sync-runs`, undefined, other);
    expect(none.json()).toEqual({ runs: [] });
  });

  it('refuses bad input with a clear 4xx and changes nothing', async () => {
    const before = await snapshot(s.berth, s.data);
    const cases: [string, unknown, number, string, Record<string, string>?][] = [
      ['team/a', '{not json', 400, 'PARAMETER_INVALID'],
      ['team/a', {}, 400, 'PARAMETER_INVALID'],
      ['team/a', { remote: 'dist', extra: 1 }, 400, 'PARAMETER_INVALID'],
      ['team/a', { remote: 'dist', mirror: 'yes' }, 400, 'PARAMETER_INVALID'],
      ['Team/A', { remote: 'dist' }, 400, 'NAME_INVALID'],
      ['team/a', { remote: 'dist', upstream: 'Bad Name' }, 400, 'NAME_INVALID'],
      ['team/a', { remote: 'nope' }, 404, 'REMOTE_UNKNOWN'],
      ['team/a', { remote: 'dist' }, 403, 'DENIED', DEV],
    ];
    for (const [name, body, status, code, headers] of cases) {
      const r = await post(name, body, headers);
      expect(r.status, `${JSON.stringify(body)}: ${r.body.toString()}`).toBe(status);
      const err = r.json<{ errors: { code: string; message: string }[] }>().errors[0]!;
      expect(err.code).toBe(code);
      expect(err.message.length).toBeGreaterThan(10);
    }
    const sched = (body: unknown) =>
      http('PUT', `${s.url}/api/v1/repositories/team/a/-/sync-schedule`, JSON.stringify(body), JSON_BODY);
    const short = await sched({ remote: 'dist', everySeconds: 10 });
    expect(short.status).toBe(400);
    expect(short.json()).toMatchObject({ errors: [{ code: 'PARAMETER_INVALID' }] });
    expect((await sched({ remote: 'nope', everySeconds: 3600 })).status).toBe(404);
    const noSchedule = await http('DELETE', `${s.url}/api/v1/repositories/team/a/-/sync-schedule`);
    expect(noSchedule.status).toBe(404);
    const noRun = await http('GET', `${s.url}/api/v1/sync-runs/no-such-run`);
    expect(noRun.json()).toMatchObject({ errors: [{ code: 'SYNC_RUN_UNKNOWN' }] });
    expect(await snapshot(s.berth, s.data)).toEqual(before);
  });

  it('a schedule is set, shown and removed', async () => {
    const path = `${s.url}/api/v1/repositories/team/s/-/sync-schedule`;
    const set = await http(
      'PUT',
      path,
      JSON.stringify({ remote: 'dist', upstream: 'lib/app', everySeconds: 3600 }),
      JSON_BODY,
    );
    expect(set.status, set.body.toString()).toBe(200);
    expect(set.json()).toMatchObject({
      run: null,
      schedule: { repository: 'team/s', remote: 'dist', upstream: 'lib/app', everySeconds: 3600 },
    });
    expect((await http('GET', path)).json()).toMatchObject({ schedule: { everySeconds: 3600 } });
    expect((await http('DELETE', path)).status).toBe(204);
    expect((await http('GET', path)).status).toBe(404);
  });
});
