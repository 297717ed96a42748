// GET /v2/_catalog with authentication on (issue 11): an anonymous caller is challenged for registry:catalog:*
// while no repository is public, and sees the public ones otherwise; a signed-in caller (by password or by a
// registry token obtained from the challenge, as oras and regctl obtain theirs) sees exactly what it may pull.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ANONYMOUS,
  basic,
  http,
  startTestServer,
  type HttpResult,
  type TestServer,
} from '../helpers/in-process.js';
import { ociImage, Registry } from '../registry/oci.js';

let s: TestServer;
const PASSWORD = 'catalog-password';
const READER = { authorization: basic('reader', PASSWORD) };
const PRIVATE = ['other/secret', 'team/app', 'team/lib'];
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

beforeAll(async () => {
  s = await startTestServer('catalog');
  const reg = new Registry(s.url);
  await s.berth.auth.users.create('reader', PASSWORD);
  await s.berth.auth.users.grant('reader', 'team/*', ['pull']);
  for (const repo of PRIVATE) await reg.pushImage(repo, ociImage({ n: 1 }), 'v1');
});
afterAll(async () => s?.close());

const catalog = (h: Record<string, string>, query = '') =>
  http('GET', `${s.url}/v2/_catalog${query}`, undefined, h);

/** The parameters of a Bearer challenge. */
function challengeOf(r: HttpResult): Record<string, string> {
  const h = String(r.headers['www-authenticate']);
  expect(h).toMatch(/^Bearer /);
  return Object.fromEntries([...h.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1]!, m[2]!]));
}

/** A registry token from the realm of a challenge, for its scope, as a client of the token flow gets one. */
async function tokenFrom(c: Record<string, string>, h: Record<string, string>): Promise<string> {
  const q = new URLSearchParams({ service: c.service!, scope: c.scope! });
  const r = await http('GET', `${c.realm}?${q}`, undefined, h);
  expect(r.status, r.body.toString()).toBe(200);
  return r.json().token;
}

function expectChallenged(r: HttpResult, label: string): void {
  expect(r.status, `${label}: ${r.body.toString()}`).toBe(401);
  expect(r.json().errors[0].code).toBe('UNAUTHORIZED');
  expect(r.headers['www-authenticate'], label).toBe(
    `Bearer realm="${s.url}/token",service="berth",scope="registry:catalog:*"`,
  );
}

describe('while no repository is public', () => {
  it('an anonymous caller is challenged for registry:catalog:*, whatever the page asked', async () => {
    for (const q of ['', '?n=1', '?n=0', '?n=10&last=team/app', '?last=zzz'])
      expectChallenged(await catalog(ANONYMOUS, q), `?${q}`);
  });
  it('a public pattern naming no repository changes nothing', async () => {
    await s.berth.auth.users.addPublic('nothing/*');
    try {
      expectChallenged(await catalog(ANONYMOUS), 'nothing/* public');
    } finally {
      await s.berth.auth.users.removePublic('nothing/*');
    }
  });
  it('the token flow from that challenge lists what the user may pull, paginated as before', async () => {
    const c = challengeOf(await catalog(ANONYMOUS));
    const token = await tokenFrom(c, READER);
    const claims = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString());
    expect(claims.access).toEqual([{ type: 'registry', name: 'catalog', actions: ['*'] }]);
    const all = await catalog(bearer(token));
    expect(all.status, all.body.toString()).toBe(200);
    expect(all.json().repositories).toEqual(['team/app', 'team/lib']);
    const p1 = await catalog(bearer(token), '?n=1');
    expect(p1.json().repositories).toEqual(['team/app']);
    expect(p1.headers.link).toBe(`</v2/_catalog?n=1&last=${encodeURIComponent('team/app')}>; rel="next"`);
    const p2 = await catalog(bearer(token), `?n=1&last=${encodeURIComponent('team/app')}`);
    expect(p2.json().repositories).toEqual(['team/lib']);
    expect(p2.headers.link).toBeUndefined();
  });
  it('by password the user sees the same; the administrator sees everything', async () => {
    expect((await catalog(READER)).json().repositories).toEqual(['team/app', 'team/lib']);
    expect((await catalog({})).json().repositories).toEqual(PRIVATE);
  });
  it('a signed-in user who may pull nothing gets an empty list, not a challenge', async () => {
    await s.berth.auth.users.create('nobody', PASSWORD);
    const r = await catalog({ authorization: basic('nobody', PASSWORD) });
    expect(r.status).toBe(200);
    expect(r.json().repositories).toEqual([]);
  });
  it('a registry token obtained without credentials is still anonymous: challenged again', async () => {
    const token = await tokenFrom(challengeOf(await catalog(ANONYMOUS)), ANONYMOUS);
    expectChallenged(await catalog(bearer(token)), 'anonymous registry token');
  });
});

describe('once a repository is public', () => {
  beforeAll(async () => {
    const reg = new Registry(s.url);
    for (const repo of ['pub/a', 'pub/b']) await reg.pushImage(repo, ociImage({ n: 1 }), 'v1');
    await s.berth.auth.users.addPublic('pub/*');
  });
  afterAll(async () => s.berth.auth.users.removePublic('pub/*'));

  it('an anonymous caller sees the public repositories only, paginated as before', async () => {
    const all = await catalog(ANONYMOUS);
    expect(all.status, all.body.toString()).toBe(200);
    expect(all.json().repositories).toEqual(['pub/a', 'pub/b']);
    const p1 = await catalog(ANONYMOUS, '?n=1');
    expect(p1.json().repositories).toEqual(['pub/a']);
    expect(p1.headers.link).toBe(`</v2/_catalog?n=1&last=${encodeURIComponent('pub/a')}>; rel="next"`);
    const p2 = await catalog(ANONYMOUS, `?n=1&last=${encodeURIComponent('pub/a')}`);
    expect(p2.json().repositories).toEqual(['pub/b']);
    expect(p2.headers.link).toBeUndefined();
    // a page past the last public repository is empty, not a challenge
    const past = await catalog(ANONYMOUS, `?last=${encodeURIComponent('pub/b')}`);
    expect(past.status).toBe(200);
    expect(past.json().repositories).toEqual([]);
  });
  it('a signed-in caller sees what it may pull, public repositories included', async () => {
    expect((await catalog(READER)).json().repositories).toEqual(['pub/a', 'pub/b', 'team/app', 'team/lib']);
    const token = await tokenFrom(
      { realm: `${s.url}/token`, service: 'berth', scope: 'registry:catalog:*' },
      READER,
    );
    expect((await catalog(bearer(token))).json().repositories).toEqual([
      'pub/a',
      'pub/b',
      'team/app',
      'team/lib',
    ]);
  });
});
