// The untagged policy of a repository: PUT …/-/untagged and `berth repo untagged`; every bad input refused, changing nothing.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { http, startTestServer, type TestServer } from '../helpers/in-process.js';
import { runBerth } from '../helpers/cli.js';
import { snapshot } from '../helpers/state.js';
import { Registry, ociImage } from '../registry/oci.js';

let s: TestServer;
const REPO = 'untagged/app';
beforeAll(async () => {
  s = await startTestServer('untagged');
  await new Registry(s.url).pushImage(REPO, ociImage(), 'v1');
});
afterAll(async () => s?.close());

const put = (body: string, repo = REPO) =>
  http('PUT', `${s.url}/api/v1/repositories/${repo}/-/untagged`, body, {
    'content-type': 'application/json',
  });
const untaggedOf = async () => (await http('GET', `${s.url}/api/v1/repositories/${REPO}`)).json().untagged;

describe('the untagged policy', () => {
  it('is the server default at first; keep, remove after N hours and default are set and shown', async () => {
    expect(await untaggedOf()).toEqual({ policy: 'default', afterHours: null });
    const remove = await put(JSON.stringify({ policy: 'remove', afterHours: 24 }));
    expect(remove.status, remove.body.toString()).toBe(200);
    expect(remove.json().untagged).toEqual({ policy: 'remove', afterHours: 24 });
    expect(await untaggedOf()).toEqual({ policy: 'remove', afterHours: 24 });
    expect((await put(JSON.stringify({ policy: 'keep' }))).status).toBe(200);
    expect(await untaggedOf()).toEqual({ policy: 'keep', afterHours: null });
    expect((await put(JSON.stringify({ policy: 'default' }))).status).toBe(200);
    expect(await untaggedOf()).toEqual({ policy: 'default', afterHours: null });
  });

  it.each([
    ['no policy', '{}'],
    ['remove without afterHours', '{"policy":"remove"}'],
    ['negative hours', '{"policy":"remove","afterHours":-1}'],
    ['fractional hours', '{"policy":"remove","afterHours":1.5}'],
    ['hours as a string', '{"policy":"remove","afterHours":"24"}'],
    ['too many hours', '{"policy":"remove","afterHours":1e9}'],
    ['keep with hours', '{"policy":"keep","afterHours":3}'],
    ['an unknown policy', '{"policy":"sometimes"}'],
    ['an unknown key', '{"policy":"keep","when":"now"}'],
    ['not JSON', 'keep'],
  ])('refuses %s with 400 naming what to send, and changes nothing', async (_what, body) => {
    const before = await snapshot(s.berth, s.data);
    const r = await put(body);
    expect(r.status, r.body.toString()).toBe(400);
    const err = r.json().errors[0];
    expect(err.message.length).toBeGreaterThan(10);
    expect(await snapshot(s.berth, s.data)).toEqual(before);
  });

  it('answers NAME_UNKNOWN for a repository that does not exist, making none', async () => {
    const before = await snapshot(s.berth, s.data);
    const r = await put('{"policy":"keep"}', 'untagged/ghost');
    expect(r.status).toBe(404);
    expect(r.json().errors[0].code).toBe('NAME_UNKNOWN');
    expect(await snapshot(s.berth, s.data)).toEqual(before);
  });

  it('berth repo untagged sets it, and refuses a missing or doubled policy as a usage error', async () => {
    const after = await runBerth(s.url, 'repo', 'untagged', REPO, '--after', '48');
    expect(after.code, after.err).toBe(0);
    expect(after.out).toContain(`${REPO} removes untagged manifests 48 hour(s) after`);
    expect(await untaggedOf()).toEqual({ policy: 'remove', afterHours: 48 });
    const keep = await runBerth(s.url, 'repo', 'untagged', REPO, 'keep');
    expect(keep.out).toContain(`${REPO} keeps untagged manifests`);
    const dflt = await runBerth(s.url, 'repo', 'untagged', REPO, 'default', '--json');
    expect(JSON.parse(dflt.out).untagged).toEqual({ policy: 'default', afterHours: null });
    const before = await snapshot(s.berth, s.data);
    for (const args of [[], ['keep', '--after', '3'], ['sometimes'], ['--after', 'soon']]) {
      const r = await runBerth(s.url, 'repo', 'untagged', REPO, ...args);
      expect(r.code, `${args.join(' ')}: ${r.err}`).toBe(2);
      expect(r.err).toMatch(/keep, default|not a number of hours/);
    }
    expect(await snapshot(s.berth, s.data)).toEqual(before);
  });
});
