// NUL and other control characters in parameters, names, tags, user names, JSON bodies and manifests: a 4xx, nothing kept.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, http, basic, type TestServer } from '../helpers/in-process.js';
import { dirImage, tarOf } from '../helpers/images.js';
import { snapshot } from '../helpers/state.js';
import { ociImage, Registry } from '../registry/oci.js';

let s: TestServer;
let reg: Registry;
beforeAll(async () => {
  s = await startTestServer('controls');
  reg = new Registry(s.url);
  await reg.pushImage('good/app', ociImage({ n: 1 }), 't');
});
afterAll(async () => s?.close());

/** Sends the request, expects the status and error code, and that no row nor file changed. */
async function refused(
  method: string,
  path: string,
  status: number,
  code: string,
  body?: Buffer | string,
  headers: Record<string, string> = {},
) {
  const before = await snapshot(s.berth, s.data);
  const r = await http(method, `${s.url}${path}`, body, headers);
  expect(r.status, `${method} ${path}: ${r.body.toString()}`).toBe(status);
  expect(r.json().errors[0].code).toBe(code);
  expect(await snapshot(s.berth, s.data)).toEqual(before);
  return r.json().errors[0] as { code: string; message: string };
}

describe('control characters are refused with a 4xx on every input', () => {
  it.each([
    '/v2/good/app/tags/list?last=%00',
    '/v2/good/app/tags/list?last=a%01b',
    '/v2/good/app/tags/list?n=%00',
    '/v2/_catalog?last=%00',
    '/v2/_catalog?n=1&last=x%00y',
    '/api/v1/repositories?last=%00',
    '/api/v1/audit?user=%00',
  ])('query parameter: GET %s', async (path) => {
    const e = await refused('GET', path, 400, 'PARAMETER_INVALID');
    expect(e.message).toMatch(/control character|non-negative integer/);
  });

  it('repository names, tags and user names in the path', async () => {
    await refused('GET', '/v2/good%00/app/tags/list', 400, 'NAME_INVALID');
    await refused('GET', '/api/v1/repositories/good/app%00', 400, 'NAME_INVALID');
    await refused('GET', '/v2/good/app/manifests/t%00', 400, 'TAG_INVALID');
    await refused('PUT', '/v2/good/app/manifests/t%00', 400, 'TAG_INVALID', '{}', {
      'content-type': 'application/vnd.oci.image.manifest.v1+json',
    });
    await refused('GET', '/api/v1/users/ann%00/permissions', 400, 'PARAMETER_INVALID');
  });

  it('a Basic user name: 401 with a challenge', async () => {
    for (const path of ['/v2/_catalog', '/api/v1/repositories', '/token?service=berth']) {
      const r = await http('GET', `${s.url}${path}`, undefined, { authorization: basic('ad\u0000min', 'x') });
      expect(r.status, `${path}: ${r.body.toString()}`).toBe(401);
      expect(r.json().errors[0].code).toBe('UNAUTHORIZED');
    }
  });

  it('JSON bodies: any string, key or value', async () => {
    const json = { 'content-type': 'application/json' };
    await refused(
      'POST',
      '/api/v1/users',
      400,
      'PARAMETER_INVALID',
      '{"name":"ann\\u0000","password":"pw-123456789"}',
      json,
    );
    await refused('POST', '/api/v1/tokens', 400, 'PARAMETER_INVALID', '{"name":"ci\\u0000"}', json);
    await refused('POST', '/api/v1/tokens', 400, 'PARAMETER_INVALID', '{"name":"ci\\u001b[31m"}', json);
    const e = await refused(
      'POST',
      '/api/v1/users',
      400,
      'PARAMETER_INVALID',
      '{"name":"ann","pass\\u0000word":"x"}',
      json,
    );
    expect(e.message).toMatch(/control character/);
  });

  it('a manifest holding \\u0000 in a string: MANIFEST_INVALID, its file not kept', async () => {
    const img = ociImage({ n: 1, annotations: { 'org.example.a': 'x\u0000y' } });
    for (const b of img.blobs) await reg.pushBlob('good/app', b);
    const e = await refused('PUT', '/v2/good/app/manifests/nul', 400, 'MANIFEST_INVALID', img.bytes, {
      'content-type': img.mediaType,
    });
    expect(e.message).toMatch(/NUL/);
    expect((await http('GET', `${s.url}/v2/good/app/manifests/${img.digest}`)).status).toBe(404);
    // newlines stay allowed in a manifest's strings (descriptions)
    const ok = ociImage({ n: 1, annotations: { 'org.opencontainers.image.description': 'line 1\nline 2' } });
    await reg.pushImage('good/app', ok, 'described');
  });

  it('an archive whose manifest holds \\u0000: ARCHIVE or MANIFEST refusal, nothing kept', async () => {
    const img = dirImage({ n: 1 });
    const manifest = Buffer.from(JSON.stringify({ ...img.manifest, annotations: { a: 'x\u0000y' } }));
    const entries = img.entries.map((e) => (e.name === 'manifest.json' ? { ...e, data: manifest } : e));
    const before = await snapshot(s.berth, s.data);
    const r = await http(
      'POST',
      `${s.url}/api/v1/repositories/good/app/-/archives?tag=nul`,
      await tarOf(entries),
      {
        'content-type': 'application/x-tar',
      },
    );
    expect(r.status, r.body.toString()).toBe(400);
    expect(r.json().errors[0].message).toMatch(/NUL/);
    expect(await snapshot(s.berth, s.data)).toEqual(before);
  });
});

describe('bad percent-encoding', () => {
  it.each([
    '/v2/bad/%E0%A4%A/tags/list',
    '/v2/bad/%E0%A4%A/manifests/latest',
    '/api/v1/repositories/bad/%E0%A4%A',
  ])('%s answers NAME_INVALID in an OCI error body', async (path) => {
    const r = await http('GET', `${s.url}${path}`);
    expect(r.status, r.body.toString()).toBe(400);
    expect(r.headers['content-type']).toMatch(/application\/json/);
    expect(r.json().errors[0].code).toBe('NAME_INVALID');
  });
});
