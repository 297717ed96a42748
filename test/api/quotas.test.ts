// /api/v1/quotas: administrators set, change, list and remove quotas (audited); bad input changes nothing; a
// repository's usage and the quotas on it are in GET /api/v1/repositories/<name>.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { basic, http, startTestServer, type TestServer } from '../helpers/in-process.js';
import { snapshot } from '../helpers/state.js';
import { ociImage, Registry } from '../registry/oci.js';

let s: TestServer;
let reg: Registry;

beforeAll(async () => {
  s = await startTestServer('api-quotas');
  reg = new Registry(s.url);
  await s.berth.auth.users.create('dev', 'dev-password');
  await s.berth.auth.users.grant('dev', 'team/*', ['pull', 'push', 'delete', 'admin']);
});
afterAll(async () => s?.close());

const JSON_BODY = { 'content-type': 'application/json' };
const put = (body: unknown, headers: Record<string, string> = {}) =>
  http('PUT', `${s.url}/api/v1/quotas`, typeof body === 'string' ? body : JSON.stringify(body), {
    ...JSON_BODY,
    ...headers,
  });
const DEV = { authorization: basic('dev', 'dev-password') };

describe('setting, listing and removing quotas', () => {
  it('sets a quota from a size or a number of bytes, changes it, lists it with its usage, and removes it', async () => {
    const img = ociImage({ n: 2 });
    await reg.pushImage('team/app', img, 'v1');
    const held = img.blobs.reduce((n, b) => n + b.length, 0) + img.bytes.length;

    const set = await put({ pattern: 'team/*', limit: '2GiB' });
    expect(set.status, set.body.toString()).toBe(200);
    expect(set.json()).toMatchObject({ pattern: 'team/*', limit: 2 * 1024 ** 3, usage: held });
    const changed = await put({ pattern: 'team/*', limit: 5000 });
    expect(changed.json()).toMatchObject({ pattern: 'team/*', limit: 5000, usage: held });
    await put({ pattern: 'team/app', limit: '1MiB' });

    const list = await http('GET', `${s.url}/api/v1/quotas`);
    expect(list.status).toBe(200);
    expect(list.json().quotas.map((q: object) => ({ ...q, createdAt: 'x' }))).toEqual([
      { pattern: 'team/*', limit: 5000, usage: held, createdAt: 'x' },
      { pattern: 'team/app', limit: 1024 * 1024, usage: held, createdAt: 'x' },
    ]);

    // the repository shows what quotas count for it and every quota that governs it
    const show = await http('GET', `${s.url}/api/v1/repositories/team/app`);
    expect(show.json().usage).toEqual({
      bytes: held,
      quotas: [
        { pattern: 'team/*', limit: 5000, usage: held },
        { pattern: 'team/app', limit: 1024 * 1024, usage: held },
      ],
    });

    expect((await http('DELETE', `${s.url}/api/v1/quotas?pattern=team/app`)).status).toBe(204);
    const after = await http('GET', `${s.url}/api/v1/repositories/team/app`);
    expect(after.json().usage.quotas.map((q: { pattern: string }) => q.pattern)).toEqual(['team/*']);
    expect((await http('DELETE', `${s.url}/api/v1/quotas?pattern=team/*`)).status).toBe(204);
  });

  it('records every change in the audit log, with the pattern and the limit in bytes', async () => {
    await put({ pattern: 'audited/*', limit: '500MiB' });
    await http('DELETE', `${s.url}/api/v1/quotas?pattern=audited/*`);
    const audit = await http('GET', `${s.url}/api/v1/audit?action=quota.set`);
    expect(audit.json().entries[0]).toMatchObject({
      actor: 'admin',
      action: 'quota.set',
      detail: { pattern: 'audited/*', limit: 500 * 1024 * 1024 },
    });
    const removed = await http('GET', `${s.url}/api/v1/audit?action=quota.remove`);
    expect(removed.json().entries[0]).toMatchObject({
      action: 'quota.remove',
      detail: { pattern: 'audited/*' },
    });
  });

  it('a repository with no quota shows its usage and an empty list', async () => {
    const blob = randomBytes(321);
    await reg.pushImage('free/app', ociImage({ layers: [blob] }), 'v1');
    const show = await http('GET', `${s.url}/api/v1/repositories/free/app`);
    expect(show.json().usage.quotas).toEqual([]);
    expect(show.json().usage.bytes).toBeGreaterThan(321);
  });
});

describe('refusals change nothing', () => {
  async function refused(
    send: () => Promise<{ status: number; json(): any; body: Buffer }>, // eslint-disable-line @typescript-eslint/no-explicit-any
    status: number,
    code: string,
    message: RegExp,
  ) {
    const before = await snapshot(s.berth, s.data);
    const r = await send();
    expect(r.status, r.body.toString()).toBe(status);
    expect(r.json().errors[0].code).toBe(code);
    expect(r.json().errors[0].message).toMatch(message);
    expect(await snapshot(s.berth, s.data)).toEqual(before);
  }

  it('bad sizes', async () => {
    for (const limit of ['lots', '2 GiB please', '-1GiB', '1e9', '', '9PiB']) {
      await refused(
        () => put({ pattern: 'team/*', limit }),
        400,
        'PARAMETER_INVALID',
        /is not a size.*500MiB/,
      );
    }
    await refused(() => put({ pattern: 'team/*', limit: -1 }), 400, 'PARAMETER_INVALID', /limit/);
    await refused(() => put({ pattern: 'team/*', limit: 1.5 }), 400, 'PARAMETER_INVALID', /limit/);
  });

  it('bad patterns and bodies', async () => {
    for (const pattern of ['Team/*', 'team/', 'team*', '/*', '', 'a//b']) {
      await refused(
        () => put({ pattern, limit: '1GiB' }),
        400,
        'PARAMETER_INVALID',
        /is not a repository pattern/,
      );
    }
    await refused(() => put({ limit: '1GiB' }), 400, 'PARAMETER_INVALID', /the body must be JSON/);
    await refused(() => put({ pattern: 'team/*' }), 400, 'PARAMETER_INVALID', /the body must be JSON/);
    await refused(
      () => put({ pattern: 'team/*', limit: '1GiB', extra: 1 }),
      400,
      'PARAMETER_INVALID',
      /the body must be JSON \{"pattern": "team\/\*", "limit": "2GiB"\}/,
    );
    await refused(() => put('{not json'), 400, 'PARAMETER_INVALID', /./);
  });

  it('removing: no pattern given, or no such quota', async () => {
    const del = (q: string) => () => http('DELETE', `${s.url}/api/v1/quotas${q}`);
    await refused(del(''), 400, 'PARAMETER_INVALID', /say which quota/);
    await refused(del('?pattern=nothing/*'), 404, 'NOT_FOUND', /no quota on "nothing\/\*"/);
  });

  it('only administrators: a user with admin on repositories may neither set, remove nor list quotas', async () => {
    await put({ pattern: 'team/*', limit: '1GiB' });
    await refused(() => put({ pattern: 'team/*', limit: '10GiB' }, DEV), 403, 'DENIED', /./);
    await refused(
      () => http('DELETE', `${s.url}/api/v1/quotas?pattern=team/*`, undefined, DEV),
      403,
      'DENIED',
      /./,
    );
    await refused(() => http('GET', `${s.url}/api/v1/quotas`, undefined, DEV), 403, 'DENIED', /./);
    await refused(
      () => put({ pattern: 'team/*', limit: '10GiB' }, { authorization: '' }),
      401,
      'UNAUTHORIZED',
      /./,
    );
  });
});
