// Tokens end with their user (issue 19, point 1): a registry token, an API token, or a registry token obtained
// with an API token, of a removed user is refused, also once a new user of the same name exists; credentials
// another instance still remembers (cacheSeconds) of the removed user cannot act on the new one.
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openBerth } from '../../src/app.js';
import { buildServer } from '../../src/server.js';
import { ANONYMOUS, basic, http, startTestServer, type TestServer } from '../helpers/in-process.js';
import { code, ociImage, Registry } from '../registry/oci.js';

const REPO = 'mallory-ns/app';
const JSON_TYPE = { 'content-type': 'application/json' };

describe('a token of a removed user does not work for a new user of the same name', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer('token-identity');
    const reg = new Registry(s.url);
    const img = ociImage();
    expect((await reg.pushImage(REPO, img, 'v1')).status).toBe(201);
  });
  afterAll(async () => s?.close());

  const admin = (method: string, path: string, body?: unknown) =>
    http(method, `${s.url}${path}`, body === undefined ? undefined : JSON.stringify(body), JSON_TYPE);
  const registryToken = async (authorization: string) => {
    const r = await http(
      'GET',
      `${s.url}/token?service=berth&scope=repository:${REPO}:pull,push`,
      undefined,
      { authorization },
    );
    expect(r.status, r.body.toString()).toBe(200);
    return r.json().token as string;
  };
  const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
  const read = (token: string) => http('GET', `${s.url}/v2/${REPO}/tags/list`, undefined, bearer(token));
  const upload = (token: string) =>
    http('POST', `${s.url}/v2/${REPO}/blobs/uploads/`, undefined, bearer(token));

  it('registry tokens (by password and by API token) and API tokens are refused after remove and re-create', async () => {
    expect(
      (await admin('POST', '/api/v1/users', { name: 'mallory', password: 'mallory-password-1' })).status,
    ).toBe(201);
    const perm = await admin('PUT', '/api/v1/users/mallory/permissions', {
      pattern: 'mallory-ns/*',
      actions: ['pull', 'push'],
    });
    expect(perm.status, perm.body.toString()).toBeLessThan(300);
    const mallory = basic('mallory', 'mallory-password-1');
    const made = await http('POST', `${s.url}/api/v1/tokens`, JSON.stringify({ name: 'ci' }), {
      ...JSON_TYPE,
      authorization: mallory,
    });
    expect(made.status, made.body.toString()).toBe(201);
    const apiToken = made.json().token as string;
    const byPassword = await registryToken(mallory);
    const byApiToken = await registryToken(basic('mallory', apiToken));
    for (const t of [byPassword, byApiToken, apiToken]) {
      expect((await read(t)).status).toBe(200);
      expect((await upload(t)).status).toBe(202);
    }

    expect((await admin('DELETE', '/api/v1/users/mallory')).status).toBe(204);
    for (const t of [byPassword, byApiToken, apiToken]) expect((await read(t)).status).toBe(401);

    // a new, unrelated user of the same name, with no permissions (and another password)
    expect(
      (await admin('POST', '/api/v1/users', { name: 'mallory', password: 'mallory-password-2' })).status,
    ).toBe(201);
    for (const t of [byPassword, byApiToken, apiToken]) {
      const r = await read(t);
      expect(r.status, r.body.toString()).toBe(401);
      expect(code(r)).toBe('UNAUTHORIZED');
      expect((await upload(t)).status).toBe(401);
      expect((await http('GET', `${s.url}/v2/_catalog`, undefined, bearer(t))).status).toBe(401);
    }
    // the new mallory signs in and sees nothing of the old one's
    const fresh = await registryToken(basic('mallory', 'mallory-password-2'));
    expect((await read(fresh)).status).toBe(403);
    expect((await http('GET', `${s.url}/v2/${REPO}/tags/list`, undefined, ANONYMOUS)).status).toBe(401);
  });
});

describe('credentials another instance remembers of a removed user do not reach the new user of that name', () => {
  let s: TestServer;
  let other: FastifyInstance;
  let otherUrl: string;
  beforeAll(async () => {
    s = await startTestServer('token-identity-two');
    // a second instance on the same database and data, remembering credentials for a minute
    const berth = await openBerth({
      data: s.data,
      database: s.berth.config.database!,
      auth: { cacheSeconds: 60 },
    });
    other = buildServer(berth, { logLevel: 'silent' });
    await other.listen({ host: '127.0.0.1', port: 0 });
    const addr = other.server.address();
    otherUrl = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
  });
  afterAll(async () => {
    await other?.close();
    await s?.close();
  });

  it('no password change, API token or registry token for the new user through the old credentials', async () => {
    const admin = (method: string, path: string, body?: unknown) =>
      http(method, `${s.url}${path}`, body === undefined ? undefined : JSON.stringify(body), JSON_TYPE);
    expect(
      (await admin('POST', '/api/v1/users', { name: 'mallory', password: 'same-password-1' })).status,
    ).toBe(201);
    const old = { ...JSON_TYPE, authorization: basic('mallory', 'same-password-1') };
    expect((await http('GET', `${otherUrl}/api/v1/users/mallory/permissions`, undefined, old)).status).toBe(
      200,
    );
    expect((await admin('DELETE', '/api/v1/users/mallory')).status).toBe(204);
    // the new mallory even has the same password: the credentials are hers now, the remembered principal not
    expect(
      (await admin('POST', '/api/v1/users', { name: 'mallory', password: 'same-password-1' })).status,
    ).toBe(201);

    const takeover = await http(
      'PUT',
      `${otherUrl}/api/v1/users/mallory/password`,
      JSON.stringify({ password: 'taken-over-1' }),
      old,
    );
    expect(takeover.status, takeover.body.toString()).toBe(401);
    const made = await http('POST', `${otherUrl}/api/v1/tokens`, JSON.stringify({ name: 'kept' }), old);
    expect(made.status, made.body.toString()).toBe(401);
    const r = await http(
      'GET',
      `${otherUrl}/token?service=berth&scope=repository:${REPO}:pull`,
      undefined,
      old,
    );
    expect(r.status, r.body.toString()).toBe(200); // what the old credentials may do, by name: nothing
    const t = { authorization: `Bearer ${r.json().token as string}` };
    expect((await http('GET', `${s.url}/v2/`, undefined, t)).status).toBe(401);
    // nothing changed for the new mallory
    expect(
      (await http('GET', `${s.url}/v2/`, undefined, { authorization: basic('mallory', 'same-password-1') }))
        .status,
    ).toBe(200);
    expect(
      (await http('GET', `${s.url}/v2/`, undefined, { authorization: basic('mallory', 'taken-over-1') }))
        .status,
    ).toBe(401);
    expect((await admin('GET', '/api/v1/tokens?user=mallory')).json().tokens).toEqual([]);
  });
});
