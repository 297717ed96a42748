// The /v2/ route table (OCI distribution spec): named routes whose paths take repository names with slashes; each
// route says who may call it and what the audit log records.
import type { FastifyInstance } from 'fastify';
import type { Berth } from '../app.js';
import { mountRoutes, route, type Route } from '../http/router.js';
import { auditor, authorizer } from '../http/access.js';
import { refusingPushes } from '../http/push-guard.js';
import { installMirrorRequests } from './mirror.js';
import { deleteManifest, getManifest, putManifest } from './manifests.js';
import { deleteBlob, getBlob } from './blobs.js';
import { cancelUpload, finishUpload, patchUpload, startUpload, uploadStatus } from './uploads.js';
import { listReferrers } from './referrers.js';
import { listTags } from './tags.js';
import { catalog } from './catalog.js';
import { issueToken } from './token.js';
import type { BlobSender } from '../http/sendfile.js';

export function registryRoutes(berth: Berth, sender?: BlobSender): Route[] {
  return [
    route({
      name: 'base',
      methods: ['GET', 'HEAD'],
      path: '/v2/?',
      access: 'signed-in',
      handler: async ({ reply }) => reply.send({}),
    }),
    route({
      name: 'catalog',
      methods: ['GET'],
      path: '/v2/_catalog',
      access: 'anyone',
      handler: (c) => catalog(berth, c),
    }),
    route({
      name: 'tags.list',
      methods: ['GET'],
      path: '/v2/{name}/tags/list',
      access: 'pull',
      handler: (c) => listTags(berth, c),
    }),
    route({
      name: 'manifest.get',
      methods: ['GET', 'HEAD'],
      path: '/v2/{name}/manifests/{tagOrDigest}',
      access: 'pull',
      handler: (c) => getManifest(berth, c),
    }),
    route({
      name: 'manifest.put',
      methods: ['PUT'],
      path: '/v2/{name}/manifests/{reference}',
      access: 'push',
      audit: 'manifest.push',
      handler: (c) => putManifest(berth, c),
    }),
    route({
      name: 'manifest.delete',
      methods: ['DELETE'],
      path: '/v2/{name}/manifests/{reference}',
      access: 'delete',
      audit: 'manifest.delete',
      handler: (c) => deleteManifest(berth, c),
    }),
    route({
      name: 'upload.start',
      methods: ['POST'],
      path: '/v2/{name}/blobs/uploads/?',
      access: 'push',
      handler: (c) => startUpload(berth, c),
    }),
    route({
      name: 'upload.patch',
      methods: ['PATCH'],
      path: '/v2/{name}/blobs/uploads/{id}',
      access: 'push',
      handler: (c) => patchUpload(berth, c),
    }),
    route({
      name: 'upload.finish',
      methods: ['PUT'],
      path: '/v2/{name}/blobs/uploads/{id}',
      access: 'push',
      handler: (c) => finishUpload(berth, c),
    }),
    route({
      name: 'upload.status',
      methods: ['GET'],
      path: '/v2/{name}/blobs/uploads/{id}',
      access: 'push',
      handler: (c) => uploadStatus(berth, c),
    }),
    route({
      name: 'upload.cancel',
      methods: ['DELETE'],
      path: '/v2/{name}/blobs/uploads/{id}',
      access: 'push',
      handler: (c) => cancelUpload(berth, c),
    }),
    route({
      name: 'blob.get',
      methods: ['GET', 'HEAD'],
      path: '/v2/{name}/blobs/{digest}',
      access: 'pull',
      handler: (c) => getBlob(berth, c, sender),
    }),
    route({
      name: 'blob.delete',
      methods: ['DELETE'],
      path: '/v2/{name}/blobs/{digest}',
      access: 'delete',
      audit: 'blob.delete',
      handler: (c) => deleteBlob(berth, c),
    }),
    route({
      name: 'referrers.list',
      methods: ['GET'],
      path: '/v2/{name}/referrers/{digest}',
      access: 'pull',
      handler: (c) => listReferrers(berth, c),
    }),
  ];
}

/** Mounts /v2/ and /token; whole blobs go by sendfile through `sender` where it may carry them. */
export function mountRegistry(app: FastifyInstance, berth: Berth, sender?: BlobSender): void {
  // before the table's own hook reads the path: containerd's ?ns= requests go to the cache of that host
  installMirrorRequests(app, berth);
  mountRoutes(app, '/v2', registryRoutes(berth, sender), {
    onEvery: (reply) => reply.header('Docker-Distribution-API-Version', 'registry/2.0'),
    // a pull-through cache's repositories take no pushes
    authorize: refusingPushes(authorizer(berth.auth, 'registry'), (name) => berth.caches.refusePush(name)),
    audit: auditor(berth.auth),
  });
  // The token endpoint of the registry's token flow (the realm of the challenges above).
  mountRoutes(
    app,
    '/token',
    [
      route({
        name: 'token',
        methods: ['GET'],
        path: '/token',
        access: 'anyone',
        handler: (c) => issueToken(berth, c),
      }),
    ],
    { authorize: authorizer(berth.auth, 'api') },
  );
}
