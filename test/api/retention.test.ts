// Version retention by count and by age (whichever keeps more), on an injected clock: at commit, by cleanup, set
// through PATCH with a dry run, audited; a restore of a version retention removed is refused naming the rule.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, http, type TestServer } from '../helpers/in-process.js';
import { dirImage, tarOf } from '../helpers/images.js';
import { snapshot } from '../helpers/state.js';
import { FakeClock } from '../helpers/fake-clock.js';

const DAY = 24 * 3600 * 1000;
const T0 = Date.parse('2026-01-01T00:00:00Z');
let s: TestServer;
const clock = new FakeClock(T0);
const json = { 'content-type': 'application/json' };
const url = (name: string, path = '') => `${s.url}/api/v1/repositories/${name}${path}`;
const get = async (name: string, path = '') => (await http('GET', url(name, path))).json();
const patch = (name: string, body: unknown) => http('PATCH', url(name), JSON.stringify(body), json);
const numbers = async (name: string): Promise<number[]> =>
  (await get(name, '/-/versions')).versions.map((v: { number: number }) => v.number);

async function upload(name: string): Promise<number> {
  const r = await http('POST', url(name, '/-/archives?tag=latest'), await tarOf(dirImage({ n: 1 }).entries));
  expect(r.status, r.body.toString()).toBe(201);
  return r.json().version;
}

beforeAll(async () => {
  s = await startTestServer('retention', { clock });
});
afterAll(async () => s?.close());

describe('retention by count and by age', () => {
  it('a new repository keeps the latest 10 versions and those younger than 30 days (the server default)', async () => {
    await upload('fresh/app');
    expect(await get('fresh/app')).toMatchObject({ retainVersions: 10, retainDays: 30 });
    // 12 more versions on the same day: the count alone would drop some, the age rule keeps them all
    for (let i = 0; i < 12; i++) await upload('fresh/app');
    expect(await numbers('fresh/app')).toEqual([...Array(14).keys()]);
    // 31 days later, the next commit drops what neither rule keeps: all but the latest 10
    clock.advanceTo(T0 + 31 * DAY);
    expect(await upload('fresh/app')).toBe(14);
    expect(await numbers('fresh/app')).toEqual([5, 6, 7, 8, 9, 10, 11, 12, 13, 14]);
  });

  it('the server options set the rule of new repositories', async () => {
    const other = await startTestServer('retention-options', {
      clock,
      retention: { versions: 2, days: null },
    });
    try {
      const r = await http(
        'POST',
        `${other.url}/api/v1/repositories/opt/app/-/archives`,
        await tarOf(dirImage({ n: 1 }).entries),
      );
      expect(r.status, r.body.toString()).toBe(201);
      const repo = (await http('GET', `${other.url}/api/v1/repositories/opt/app`)).json();
      expect(repo).toMatchObject({ retainVersions: 2, retainDays: null });
      // versions 0 and 1 were made; the upload's commit left the latest 2
      const versions = (await http('GET', `${other.url}/api/v1/repositories/opt/app/-/versions`)).json();
      expect(versions.versions.map((v: { number: number }) => v.number)).toEqual([0, 1]);
    } finally {
      await other.close();
    }
  });

  it('age keeps more than count, then count more than age; cleanup applies the rule without a commit', async () => {
    const name = 'aging/app';
    const start = clock.now();
    for (let i = 0; i < 5; i++) await upload(name); // versions 0..5, all made now
    const set = await patch(name, { retainVersions: 3, retainDays: 5 });
    expect(set.status, set.body.toString()).toBe(200);
    expect(set.json()).toMatchObject({
      retainVersions: 3,
      retainDays: 5,
      removedVersions: [],
      dryRun: false,
    });
    expect(await numbers(name)).toEqual([0, 1, 2, 3, 4, 5]); // all younger than 5 days
    clock.advanceTo(start + 6 * DAY);
    const cleanup = await http('POST', `${s.url}/api/v1/cleanup`, '{"protectionSeconds": 3600}', json);
    expect(cleanup.status, cleanup.body.toString()).toBe(200);
    expect(cleanup.json().removed.versions).toBeGreaterThanOrEqual(3);
    expect(await numbers(name)).toEqual([3, 4, 5]); // all older than 5 days: the latest 3
    expect(await upload(name)).toBe(6);
    expect(await numbers(name)).toEqual([4, 5, 6]);
  });

  it('a dry run answers what would go and changes nothing; the real run removes exactly that, and the audit says so', async () => {
    const name = 'aging/app';
    const before = await get(name);
    const beforeVersions = await numbers(name);
    const dry = await patch(name, { retainDays: 1, dryRun: true });
    expect(dry.status, dry.body.toString()).toBe(200);
    expect(dry.json()).toMatchObject({
      removedVersions: [4, 5],
      dryRun: true,
      retainVersions: 3,
      retainDays: 5,
    });
    expect(await get(name)).toEqual(before);
    expect(await numbers(name)).toEqual(beforeVersions);
    const real = await patch(name, { retainDays: 1 });
    expect(real.json()).toMatchObject({
      removedVersions: [4, 5],
      dryRun: false,
      retainVersions: null,
      retainDays: 1,
    });
    expect(await numbers(name)).toEqual([6]);
    const audit = (
      await http('GET', `${s.url}/api/v1/audit?action=repository.update&repository=${name}`)
    ).json();
    const details = audit.entries.map((e: { detail: Record<string, unknown> }) => e.detail);
    expect(details).toContainEqual(
      expect.objectContaining({
        retainVersions: null,
        retainDays: 1,
        dryRun: false,
        removedVersions: [4, 5],
      }),
    );
    expect(details).toContainEqual(
      expect.objectContaining({ retainVersions: 3, retainDays: 5, dryRun: false, removedVersions: [] }),
    );
  });

  it('restoring a version retention removed: 404 naming the version, the rule and what to do; nothing changes', async () => {
    const name = 'aging/app';
    const before = await snapshot(s.berth, s.data);
    const r = await http('POST', url(name, '/-/versions/5/restore'));
    expect(r.status).toBe(404);
    const e = r.json().errors[0];
    expect(e.code).toBe('VERSION_UNKNOWN');
    expect(e.message).toContain('version 5 of aging/app was removed by retention');
    expect(e.message).toContain('keep versions younger than 1 day');
    expect(e.message).toContain('berth repo retain aging/app --versions N --days D');
    expect(e.detail).toMatchObject({ version: 5, retiredBefore: 6 });
    // an older one, removed earlier by cleanup: the same refusal
    const older = await http('POST', url(name, '/-/versions/2/restore'));
    expect(older.status).toBe(404);
    expect(older.json().errors[0].message).toContain('version 2 of aging/app was removed by retention');
    expect(await snapshot(s.berth, s.data)).toEqual(before);
    // a number never made is still the plain answer
    const never = await http('POST', url(name, '/-/versions/99/restore'));
    expect(never.json().errors[0].message).toBe('repository aging/app has no version 99');
  });

  it.each([
    ['retainDays 0', { retainDays: 0 }, 'retainDays'],
    ['retainDays -1', { retainDays: -1 }, 'retainDays'],
    ['retainDays "x"', { retainDays: 'x' }, 'retainDays'],
    ['retainDays 1.5', { retainDays: 1.5 }, 'retainDays'],
    ['dryRun "yes"', { retainDays: 1, dryRun: 'yes' }, 'dryRun'],
    ['neither field', { dryRun: true }, 'retainVersions, retainDays'],
  ])('PATCH with %s: 400 PARAMETER_INVALID naming it; nothing changes', async (_, body, named) => {
    const before = await snapshot(s.berth, s.data);
    const r = await patch('aging/app', body);
    expect(r.status).toBe(400);
    expect(r.json().errors[0].code).toBe('PARAMETER_INVALID');
    // the message shows the expected shape; the detail names the field at fault
    expect(JSON.stringify(r.json().errors[0].detail)).toContain(named);
    expect(await snapshot(s.berth, s.data)).toEqual(before);
  });
});
