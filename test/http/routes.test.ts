// The route tables: every row has a unique name (the metrics label), and paths reach the row they should.
import { describe, expect, it } from 'vitest';
import type { Berth } from '../../src/app.js';
import { apiRoutes } from '../../src/api/routes.js';
import { registryRoutes } from '../../src/registry/routes.js';
import { findRoute, route } from '../../src/http/router.js';

const berth = {} as Berth; // the handlers are not called here
const registry = registryRoutes(berth);
const api = apiRoutes(berth);
const D = `sha256:${'a'.repeat(64)}`;

describe('route tables', () => {
  it('name every row, uniquely across the tables', () => {
    const names = [...registry, ...api].map((r) => r.name);
    expect(new Set(names).size).toBe(names.length);
    for (const n of names) expect(n).toMatch(/^[a-z]+(\.[a-z]+)?$/);
  });

  it.each([
    ['GET', '/v2/', 'base'],
    ['GET', '/v2', 'base'],
    ['GET', '/v2/_catalog', 'catalog'],
    ['GET', '/v2/library/app/tags/list', 'tags.list'],
    ['HEAD', '/v2/library/app/manifests/1.0', 'manifest.get'],
    ['PUT', `/v2/library/app/manifests/${D}`, 'manifest.put'],
    ['DELETE', '/v2/library/app/manifests/1.0', 'manifest.delete'],
    ['POST', '/v2/library/app/blobs/uploads/', 'upload.start'],
    ['POST', '/v2/library/app/blobs/uploads', 'upload.start'],
    ['PATCH', '/v2/library/app/blobs/uploads/0b1c2d', 'upload.patch'],
    ['PUT', '/v2/library/app/blobs/uploads/0b1c2d', 'upload.finish'],
    ['GET', `/v2/library/app/blobs/${D}`, 'blob.get'],
    ['GET', `/v2/library/app/referrers/${D}`, 'referrers.list'],
    ['PATCH', '/v2/a/manifests/b/blobs/uploads/x', 'upload.patch'],
    ['GET', '/v2/a/blobs/b/manifests/latest', 'manifest.get'],
    ['GET', '/api/v1/repositories', 'repository.list'],
    ['GET', '/api/v1/remotes', 'remote.list'],
    ['POST', '/api/v1/remotes', 'remote.add'],
    ['PATCH', '/api/v1/remotes/hub', 'remote.edit'],
    ['DELETE', '/api/v1/remotes/hub', 'remote.remove'],
    ['GET', '/api/v1/repositories/', 'repository.list'],
    ['GET', '/api/v1/repositories/library/app', 'repository.show'],
    ['POST', '/api/v1/repositories/library/app/-/archives', 'archive.upload'],
    ['POST', '/api/v1/repositories/library/app/-/blobs/present', 'blobs.present'],
    ['GET', '/api/v1/repositories/library/app/-/versions', 'version.list'],
    ['GET', '/api/v1/repositories/library/app/-/versions/3/diff', 'version.diff'],
    ['POST', '/api/v1/cleanup', 'cleanup.run'],
    ['PUT', '/api/v1/users/ann/permissions', 'permission.grant'],
    ['DELETE', '/api/v1/tokens/t1', 'token.revoke'],
  ])('%s %s is %s', (method, path, name) => {
    const tables = path.startsWith('/v2') ? registry : api;
    expect(findRoute(tables, method, path).route?.name).toBe(name);
  });

  it('tell a path with another method from an unknown path', () => {
    const other = findRoute(registry, 'DELETE', '/v2/_catalog');
    expect([other.route, other.pathKnown]).toEqual([undefined, true]);
    const unknown = findRoute(registry, 'GET', '/v2/a/nothing');
    expect([unknown.route, unknown.pathKnown]).toEqual([undefined, false]);
  });

  it('take only the path parameters that have a parser', () => {
    expect(() =>
      route({ name: 'x', methods: ['GET'], path: '/v2/{nope}', access: 'anyone', handler: async () => {} }),
    ).toThrow('no parser for {nope}');
  });
});
