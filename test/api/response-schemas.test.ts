// Every /api/v1 answer parses with the schema its route declares, the one the CLI parses it with (src/api/schemas.ts).
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiRoutes } from '../../src/api/routes.js';
import * as S from '../../src/api/schemas.js';
import { expect as parseAnswer } from '../../src/cli/api-types.js';
import { findRoute } from '../../src/http/router.js';
import { basic, fixture, http, startTestServer, type TestServer } from '../helpers/in-process.js';

let s: TestServer;
beforeAll(async () => {
  s = await startTestServer('schemas');
});
afterAll(async () => s?.close());

const REPO = 'schemas/app';
const json = (body: unknown) => ({
  body: JSON.stringify(body),
  headers: { 'content-type': 'application/json' },
});

describe('API answers and their schemas', () => {
  it('each route with a JSON answer declares its schema, and its actual answer parses with it', async () => {
    const routes = apiRoutes(s.berth);
    const parsed = new Set<string>();
    const call = async (
      method: string,
      path: string,
      opts: { body?: string | { file: string }; headers?: Record<string, string> } = {},
    ) => {
      const r = await http(method, `${s.url}/api/v1${path}`, opts.body, opts.headers);
      expect(r.status, `${method} ${path}: ${r.body.toString()}`).toBeLessThan(300);
      const row = findRoute(routes, method, `/api/v1${path.split('?')[0]}`).route!;
      if (r.body.length === 0) {
        expect(row.response, `${row.name} answers nothing`).toBeUndefined();
        return;
      }
      expect(row.response, `${row.name} answers JSON`).toBeDefined();
      const answer = r.json<unknown>();
      // the CLI's check, with the route's schema
      parseAnswer(row.response!, answer, `${method} ${path}`);
      parsed.add(row.name);
      return answer;
    };
    const tar = { body: { file: fixture('base.oci.tar') }, headers: { 'content-type': 'application/x-tar' } };
    await call('POST', `/repositories/${REPO}/-/archives?tag=1.0`, tar);
    await call('POST', `/repositories/${REPO}/-/archives?tag=2.0`, tar);
    await call('GET', '/repositories');
    await call('GET', `/repositories/${REPO}`);
    await call('PATCH', `/repositories/${REPO}`, json({ retainVersions: 10 }));
    await call('PUT', `/repositories/${REPO}/-/untagged`, json({ policy: 'remove', afterHours: 24 }));
    await call(
      'POST',
      `/repositories/${REPO}/-/blobs/present`,
      json({ digests: [`sha256:${'a'.repeat(64)}`] }),
    );
    await call('GET', `/repositories/${REPO}/-/versions`);
    await call('GET', `/repositories/${REPO}/-/versions/2`);
    await call('GET', `/repositories/${REPO}/-/versions/2/diff`);
    await call('POST', `/repositories/${REPO}/-/versions/1/restore`);
    await call('DELETE', `/repositories/${REPO}/-/versions/1`);
    await call('POST', `/repositories/${REPO}/-/archives?tag=3.0`, tar);
    await call('POST', `/repositories/${REPO}/-/archives?tag=4.0`, tar);
    await call('DELETE', `/repositories/${REPO}/-/tags/3.0`);
    await call('DELETE', `/repositories/${REPO}/-/manifests/4.0`);
    await call('DELETE', `/repositories/${REPO}`);
    await call('POST', '/cleanup', json({ dryRun: true }));
    await call('POST', '/users', json({ name: 'ann', password: 'ann-password-1' }));
    await call('GET', '/users');
    await call('GET', '/users/ann');
    await call('PUT', '/users/ann/permissions', json({ pattern: 'schemas/*', actions: ['pull'] }));
    await call('GET', '/users/ann/permissions');
    await call('PUT', '/users/ann/password', json({ password: 'ann-password-2' }));
    await call('PUT', '/public', json({ pattern: 'open/*' }));
    await call('GET', '/public');
    await call('DELETE', '/public?pattern=open/*');
    const token = (await call(
      'POST',
      '/tokens',
      json({ user: 'ann', scopes: ['repository:schemas/*:pull'] }),
    )) as {
      id: string;
    };
    await call('GET', '/tokens');
    await call('GET', '/whoami', { headers: { authorization: basic('ann', 'ann-password-2') } });
    await call('DELETE', `/tokens/${token.id}`);
    await call('DELETE', '/users/ann/permissions?pattern=schemas/*');
    await call('DELETE', '/users/ann');
    await call('PUT', '/quotas', json({ pattern: 'schemas/*', limit: '1GiB' }));
    await call('GET', '/quotas');
    await call('GET', `/repositories/${REPO}/-/usage`);
    await call('GET', '/usage');
    await call('DELETE', '/quotas?pattern=schemas/*');
    await call('POST', '/immutable-tags', json({ repository: 'schemas/*', tag: 'v*' }));
    await call('GET', '/immutable-tags');
    await call('DELETE', '/immutable-tags?repository=schemas/*&tag=v*');
    await call('POST', '/remotes', json({ name: 'up', url: 'http://127.0.0.1:5999' }));
    await call('GET', '/remotes');
    await call('GET', '/remotes/up');
    await call('PATCH', '/remotes/up', json({ concurrency: 2 }));
    await call('DELETE', '/remotes/up');
    await call('GET', '/audit');
    // sync: a remote no one answers at (the run fails, which is still a run to show)
    await s.berth.remotes.add({ name: 'schemas-remote', url: 'http://127.0.0.1:9' });
    const sync = json({ remote: 'schemas-remote', upstream: 'lib/app' });
    const started = (await call('POST', `/repositories/${REPO}/-/sync`, sync)) as { run: { id: string } };
    while (((await call('GET', `/sync-runs/${started.run.id}`)) as { state: string }).state === 'running') {
      await new Promise((r) => setTimeout(r, 50));
    }
    await call('GET', `/sync-runs?repository=${REPO}`);
    const every = json({ remote: 'schemas-remote', everySeconds: 3600 });
    await call('PUT', `/repositories/${REPO}/-/sync-schedule`, every);
    await call('GET', `/repositories/${REPO}/-/sync-schedule`);
    await call('DELETE', `/repositories/${REPO}/-/sync-schedule`);
    // pull-through caches
    await call(
      'POST',
      '/caches',
      json({ name: 'schemas', remote: 'schemas-remote', prefix: 'schemas-cache' }),
    );
    await call('GET', '/caches');
    await call('GET', '/caches/schemas');
    await call('PATCH', '/caches/schemas', json({ checkSeconds: 600 }));
    await call('DELETE', '/caches/schemas');
    const declared = routes.filter((r) => r.response !== undefined).map((r) => r.name);
    expect([...parsed].sort()).toEqual(declared.sort());
  });

  it('an answer that does not match its schema fails the CLI, naming the request', () => {
    const answer = { repositories: [{ name: 'a/b', latestVersion: '3', createdAt: '2026-01-01T00:00:00Z' }] };
    expect(() => parseAnswer(S.RepositoryList, answer, 'GET /api/v1/repositories')).toThrow(
      expect.objectContaining({
        code: 'BAD_RESPONSE',
        message: 'unexpected answer from the server to GET /api/v1/repositories',
      }),
    );
  });

  it('come from a module the CLI can import: it imports zod and nothing else', () => {
    const source = readFileSync(new URL('../../src/api/schemas.ts', import.meta.url), 'utf8');
    expect([...source.matchAll(/from '([^']+)'/g)].map((m) => m[1])).toEqual(['zod']);
  });
});
