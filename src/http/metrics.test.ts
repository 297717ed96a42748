// routeName: every endpoint maps to its bounded route label, whatever the repository is called.
import { describe, expect, it } from 'vitest';
import { routeName } from './metrics.js';

const D = `sha256:${'a'.repeat(64)}`;

describe('routeName', () => {
  it.each([
    ['/v2/', 'base'],
    ['/v2', 'base'],
    ['/v2/_catalog', 'catalog'],
    ['/v2/library/app/tags/list', 'tags'],
    ['/v2/library/app/manifests/1.0', 'manifests'],
    [`/v2/library/app/manifests/${D}`, 'manifests'],
    ['/v2/library/app/blobs/uploads/', 'blob_uploads'],
    ['/v2/library/app/blobs/uploads', 'blob_uploads'],
    ['/v2/library/app/blobs/uploads/0b1c2d', 'blob_uploads'],
    [`/v2/library/app/blobs/${D}`, 'blobs'],
    [`/v2/library/app/referrers/${D}`, 'referrers'],
    ['/v2/a/manifests/b/blobs/uploads/x', 'blob_uploads'],
    ['/v2/a/blobs/b/manifests/latest', 'manifests'],
    ['/v2/nothing-here', 'other'],
    ['/api/v1/repositories', 'api_repositories'],
    ['/api/v1/repositories/', 'api_repositories'],
    ['/api/v1/repositories/library/app', 'api_repository'],
    ['/api/v1/repositories/library/app/-/archives', 'api_archives'],
    ['/api/v1/repositories/library/app/-/blobs/present', 'api_blobs_present'],
    ['/api/v1/repositories/library/app/-/versions', 'api_versions'],
    ['/api/v1/repositories/library/app/-/versions/3/diff', 'api_versions'],
    ['/api/v1/cleanup', 'api_cleanup'],
    ['/api/v1/users', 'api_other'],
    ['/metrics', 'metrics'],
    ['/healthz', 'healthz'],
    ['/readyz', 'readyz'],
    ['/favicon.ico', 'other'],
  ])('%s is %s', (path, route) => {
    expect(routeName(path)).toBe(route);
  });
});
