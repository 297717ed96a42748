// Archive uploads over HTTP, fixture by fixture, as DESIGN.md's table says.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, http, fixture, type TestServer } from '../helpers/in-process.js';

let s: TestServer;
beforeAll(async () => {
  s = await startTestServer('archive');
});
afterAll(async () => s?.close());

const upload = (repo: string, file: string, tag?: string) =>
  http(
    'POST',
    `${s.url}/api/v1/repositories/${repo}/-/archives${tag ? `?tag=${tag}` : ''}`,
    { file: fixture(file) },
    {
      'content-type': 'application/x-tar',
    },
  );

describe('archive upload', () => {
  it('accepts a skopeo dir tar and serves the manifest', async () => {
    const r = await upload('library/app', 'base.dir.tar', 'base');
    expect(r.status, r.body.toString()).toBe(201);
    const res = r.json();
    expect(res.version).toBe(1);
    expect(res.blobs).toEqual({ uploaded: 3, reused: 0, foreign: 0 });
    const m = await http('GET', `${s.url}/v2/library/app/manifests/base`);
    expect(m.status).toBe(200);
    expect(m.headers['docker-content-digest']).toBe(res.manifests[0].digest);
  });
  it('accepts a partial dir tar when the repository holds the left-out layers', async () => {
    const r = await upload('library/app', 'app.dir.partial.tar', '1.0');
    expect(r.status, r.body.toString()).toBe(201);
    expect(r.json().blobs).toEqual({ uploaded: 2, reused: 2, foreign: 0 });
  });
  it('refuses the same partial tar into another repository', async () => {
    const r = await upload('other/app', 'app.dir.partial.tar', '1.0');
    expect(r.status).toBe(404);
    expect(r.json().errors[0].code).toBe('BLOB_UNKNOWN');
  });
});
