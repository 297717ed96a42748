// /api/v1/caches: administrators add, list, show, edit and remove pull-through caches (audited); every bad input is a 4xx naming it and changes nothing.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { basic, http, startTestServer, type TestServer } from '../helpers/in-process.js';
import { snapshot } from '../helpers/state.js';

let s: TestServer;
beforeAll(async () => {
  s = await startTestServer('api-caches');
  await s.berth.remotes.add({ name: 'hub', url: 'https://registry-1.docker.io' });
  await s.berth.auth.users.create('dev', 'dev-password-123');
  await s.berth.auth.users.grant('dev', '*', ['pull', 'push', 'delete', 'admin']);
});
afterAll(async () => s?.close());

const JSON_BODY = { 'content-type': 'application/json' };
const post = (body: unknown, headers: Record<string, string> = {}) =>
  http('POST', `${s.url}/api/v1/caches`, typeof body === 'string' ? body : JSON.stringify(body), {
    ...JSON_BODY,
    ...headers,
  });

const patch = (name: string, body: unknown, headers: Record<string, string> = {}) =>
  http('PATCH', `${s.url}/api/v1/caches/${name}`, typeof body === 'string' ? body : JSON.stringify(body), {
    ...JSON_BODY,
    ...headers,
  });

describe('/api/v1/caches', () => {
  it('adds (201), lists, shows and removes (204) a cache; each change audited', async () => {
    const added = await post({
      name: 'hub',
      remote: 'hub',
      prefix: 'cache/hub',
      checkSeconds: 30,
      retainDays: 14,
    });
    expect(added.status, added.body.toString()).toBe(201);
    expect(added.json()).toMatchObject({
      name: 'hub',
      remote: 'hub',
      prefix: 'cache/hub',
      checkSeconds: 30,
      staleSeconds: 86400,
      retainDays: 14,
      repositories: 0,
    });
    const list = await http('GET', `${s.url}/api/v1/caches`);
    expect(list.json().caches.map((c: { name: string }) => c.name)).toEqual(['hub']);
    expect((await http('GET', `${s.url}/api/v1/caches/hub`)).json()).toMatchObject({ prefix: 'cache/hub' });
    // the remote a cache uses cannot be removed
    const busy = await http('DELETE', `${s.url}/api/v1/remotes/hub`);
    expect(busy.status).toBe(409);
    expect((await http('DELETE', `${s.url}/api/v1/caches/hub`)).status).toBe(204);
    const audit = await http('GET', `${s.url}/api/v1/audit?action=cache.add`);
    expect(audit.json().entries[0]).toMatchObject({
      actor: 'admin',
      detail: { cache: 'hub', remote: 'hub', prefix: 'cache/hub' },
    });
    const removed = await http('GET', `${s.url}/api/v1/audit?action=cache.remove`);
    expect(removed.json().entries[0]).toMatchObject({ detail: { cache: 'hub' } });
  });

  it('bad input: a 4xx naming the problem, and nothing changes', async () => {
    await post({ name: 'taken', remote: 'hub', prefix: 'cache/taken' });
    const before = await snapshot(s.berth, s.data);
    const cases: [unknown, number, string, RegExp][] = [
      ['{', 400, 'PARAMETER_INVALID', /JSON|json/],
      [{ remote: 'hub', prefix: 'x' }, 400, 'PARAMETER_INVALID', /name/],
      [{ name: 'a', remote: 'hub', prefix: 'x', extra: 1 }, 400, 'PARAMETER_INVALID', /extra|"name": "hub"/],
      [
        { name: 'a', remote: 'hub', prefix: 'x', checkSeconds: '5' },
        400,
        'PARAMETER_INVALID',
        /checkSeconds/,
      ],
      [{ name: 'A!', remote: 'hub', prefix: 'x' }, 400, 'PARAMETER_INVALID', /"A!" is not a cache name/],
      [{ name: 'a', remote: 'hub', prefix: 'X/Y' }, 400, 'NAME_INVALID', /lowercase/],
      [{ name: 'a', remote: 'nope', prefix: 'x' }, 400, 'PARAMETER_INVALID', /remote nope does not exist/],
      [{ name: 'a', remote: 'hub', prefix: 'x', staleSeconds: -5 }, 400, 'PARAMETER_INVALID', /staleSeconds/],
      [{ name: 'taken', remote: 'hub', prefix: 'x' }, 409, 'ALREADY_EXISTS', /cache taken exists already/],
      [{ name: 'a', remote: 'hub', prefix: 'cache/taken/sub' }, 409, 'ALREADY_EXISTS', /overlaps/],
    ];
    for (const [body, status, code, message] of cases) {
      const r = await post(body);
      expect([r.status, r.json().errors[0].code], JSON.stringify(body)).toEqual([status, code]);
      expect(r.json().errors[0].message, JSON.stringify(body)).toMatch(message);
    }
    const unknown = await http('GET', `${s.url}/api/v1/caches/nope`);
    expect([unknown.status, unknown.json().errors[0].code]).toEqual([404, 'CACHE_UNKNOWN']);
    expect((await http('DELETE', `${s.url}/api/v1/caches/nope`)).status).toBe(404);
    expect(await snapshot(s.berth, s.data)).toEqual(before);
  });

  it('PATCH changes the settings given (200 with the cache), keeps the others; audited', async () => {
    await s.berth.remotes.add({ name: 'quay', url: 'https://quay.io' });
    expect((await post({ name: 'ed', remote: 'hub', prefix: 'cache/ed', staleSeconds: 60 })).status).toBe(
      201,
    );
    const r = await patch('ed', { remote: 'quay', checkSeconds: 10, retainDays: 3 });
    expect(r.status, r.body.toString()).toBe(200);
    expect(r.json()).toMatchObject({
      name: 'ed',
      remote: 'quay',
      prefix: 'cache/ed',
      checkSeconds: 10,
      staleSeconds: 60,
      retainDays: 3,
    });
    expect((await http('GET', `${s.url}/api/v1/caches/ed`)).json()).toMatchObject({
      remote: 'quay',
      retainDays: 3,
    });
    expect((await patch('ed', { retainDays: null })).json()).toMatchObject({
      retainDays: null,
      checkSeconds: 10,
    });
    const audit = await http('GET', `${s.url}/api/v1/audit?action=cache.edit`);
    expect(audit.json().entries.at(-1) ?? audit.json().entries[0]).toMatchObject({
      actor: 'admin',
      detail: { cache: 'ed' },
    });
    expect(audit.json().entries).toHaveLength(2);
  });

  it('PATCH: bad input is a 4xx naming the problem, and nothing changes', async () => {
    await post({ name: 'fixed', remote: 'hub', prefix: 'cache/fixed' });
    const before = await snapshot(s.berth, s.data);
    const cases: [string, unknown, number, string, RegExp][] = [
      ['fixed', '{', 400, 'PARAMETER_INVALID', /JSON|json/],
      ['fixed', {}, 400, 'PARAMETER_INVALID', /JSON naming what to change/],
      ['fixed', { name: 'other' }, 400, 'PARAMETER_INVALID', /name|"remote": "dockerhub"/],
      ['fixed', { checkSeconds: 'often' }, 400, 'PARAMETER_INVALID', /checkSeconds/],
      ['fixed', { staleSeconds: -1 }, 400, 'PARAMETER_INVALID', /staleSeconds must be/],
      ['fixed', { remote: 'nope' }, 400, 'PARAMETER_INVALID', /remote nope does not exist/],
      [
        'fixed',
        { prefix: 'cache/moved' },
        400,
        'PARAMETER_INVALID',
        /prefix of cache fixed .* cannot change/,
      ],
      ['nope', { checkSeconds: 1 }, 404, 'CACHE_UNKNOWN', /cache nope does not exist/],
    ];
    for (const [name, body, status, code, message] of cases) {
      const r = await patch(name, body);
      expect([r.status, r.json().errors[0].code], JSON.stringify(body)).toEqual([status, code]);
      expect(r.json().errors[0].message, JSON.stringify(body)).toMatch(message);
    }
    expect(await snapshot(s.berth, s.data)).toEqual(before);
    const dev = { authorization: basic('dev', 'dev-password-123') };
    expect((await patch('fixed', { checkSeconds: 1 }, dev)).status).toBe(403);
  });

  it('administrators only: a repository admin is DENIED, anonymous UNAUTHORIZED', async () => {
    const dev = { authorization: basic('dev', 'dev-password-123') };
    expect((await http('GET', `${s.url}/api/v1/caches`, undefined, dev)).status).toBe(403);
    expect((await post({ name: 'b', remote: 'hub', prefix: 'b' }, dev)).status).toBe(403);
    expect((await http('GET', `${s.url}/api/v1/caches`, undefined, { authorization: '' })).status).toBe(401);
  });
});
