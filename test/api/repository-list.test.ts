// GET /api/v1/repositories pages like the registry's catalog: `n` and `last`, and a Link header (RFC 5988) to the next page.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { basic, http, startTestServer, type TestServer } from '../helpers/in-process.js';
import { dirImage, tarOf } from '../helpers/images.js';

let s: TestServer;
const NAMES = ['aa/one', 'bb/two', 'cc/three', 'team/four', 'team/five'];
const JSON_TYPE = { 'content-type': 'application/json' };

beforeAll(async () => {
  s = await startTestServer('repository-list');
  for (const name of NAMES) {
    const r = await http(
      'POST',
      `${s.url}/api/v1/repositories/${name}/-/archives?tag=1`,
      await tarOf(dirImage({ n: 1 }).entries),
    );
    expect(r.status, r.body.toString()).toBe(201);
  }
  const user = await http(
    'POST',
    `${s.url}/api/v1/users`,
    JSON.stringify({ name: 'teamer', password: 'teamer-password-1' }),
    JSON_TYPE,
  );
  expect(user.status, user.body.toString()).toBe(201);
  const perm = await http(
    'PUT',
    `${s.url}/api/v1/users/teamer/permissions`,
    JSON.stringify({ pattern: 'team/*', actions: ['pull'] }),
    JSON_TYPE,
  );
  expect(perm.status, perm.body.toString()).toBeLessThan(300);
});
afterAll(async () => s?.close());

const list = (query: string, headers: Record<string, string> = {}) =>
  http('GET', `${s.url}/api/v1/repositories${query}`, undefined, headers);
const names = (r: { json: <T>() => T }) =>
  r.json<{ repositories: { name: string }[] }>().repositories.map((x) => x.name);

describe('GET /api/v1/repositories?n=&last=', () => {
  it('answers a page and a Link to the next one while more follow, and none on the last page', async () => {
    const all = [...NAMES].sort();
    const p1 = await list('?n=2');
    expect(p1.status).toBe(200);
    expect(names(p1)).toEqual(all.slice(0, 2));
    expect(p1.headers.link).toBe(
      `</api/v1/repositories?n=2&last=${encodeURIComponent(all[1]!)}>; rel="next"`,
    );
    // following the links walks every repository once
    const seen = [...names(p1)];
    let link = p1.headers.link as string | undefined;
    while (link) {
      const next = /^<([^>]+)>; rel="next"$/.exec(link)![1]!;
      const r = await http('GET', `${s.url}${next}`);
      expect(r.status).toBe(200);
      seen.push(...names(r));
      link = r.headers.link as string | undefined;
    }
    expect(seen).toEqual(all);
  });

  it('sends no Link when the page holds the rest, nor without n', async () => {
    const exact = await list(`?n=${NAMES.length}`);
    expect(names(exact)).toHaveLength(NAMES.length);
    expect(exact.headers.link).toBeUndefined();
    const whole = await list('');
    expect(names(whole)).toHaveLength(NAMES.length);
    expect(whole.headers.link).toBeUndefined();
    const none = await list('?n=0');
    expect(names(none)).toEqual([]);
    expect(none.headers.link).toBeUndefined();
  });

  it('pages over what the caller may pull only', async () => {
    const teamer = { authorization: basic('teamer', 'teamer-password-1') };
    const p1 = await list('?n=1', teamer);
    expect(names(p1)).toEqual(['team/five']);
    expect(p1.headers.link).toBe(
      `</api/v1/repositories?n=1&last=${encodeURIComponent('team/five')}>; rel="next"`,
    );
    const p2 = await list(`?n=1&last=${encodeURIComponent('team/five')}`, teamer);
    expect(names(p2)).toEqual(['team/four']);
    expect(p2.headers.link).toBeUndefined();
  });

  it('refuses an n that is not a number, changing nothing', async () => {
    const r = await list('?n=many');
    expect(r.status).toBe(400);
  });
});
