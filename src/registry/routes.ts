// The /v2/ route table (OCI distribution spec): patterns take repository names with slashes; each route says
// who may call it and what the audit log records.
import type { FastifyInstance } from 'fastify';
import type { Berth } from '../app.js';
import { mountRoutes, type Route } from '../http/router.js';
import { auditor, authorizer } from '../http/access.js';
import { deleteManifest, getManifest, putManifest } from './manifests.js';
import { deleteBlob, getBlob } from './blobs.js';
import { cancelUpload, finishUpload, patchUpload, startUpload, uploadStatus } from './blob-uploads.js';
import { listReferrers } from './referrers.js';
import { listTags } from './tags.js';
import { catalog } from './catalog.js';
import { issueToken } from './token.js';

const NAME = '(?<name>[^?#]+?)';

export function registryRoutes(berth: Berth): Route[] {
  const manifest = new RegExp(`^/v2/${NAME}/manifests/(?<reference>[^/]+)$`);
  const upload = new RegExp(`^/v2/${NAME}/blobs/uploads/(?<id>[^/]+)$`);
  const blob = new RegExp(`^/v2/${NAME}/blobs/(?<digest>[^/]+)$`);
  return [
    {
      methods: ['GET', 'HEAD'],
      pattern: /^\/v2\/?$/,
      access: 'signed-in',
      handler: async ({ reply }) => reply.send({}),
    },
    { methods: ['GET'], pattern: /^\/v2\/_catalog$/, access: 'anyone', handler: (c) => catalog(berth, c) },
    {
      methods: ['GET'],
      pattern: new RegExp(`^/v2/${NAME}/tags/list$`),
      access: 'pull',
      handler: (c) => listTags(berth, c),
    },
    { methods: ['GET', 'HEAD'], pattern: manifest, access: 'pull', handler: (c) => getManifest(berth, c) },
    {
      methods: ['PUT'],
      pattern: manifest,
      access: 'push',
      audit: 'manifest.push',
      handler: (c) => putManifest(berth, c),
    },
    {
      methods: ['DELETE'],
      pattern: manifest,
      access: 'delete',
      audit: 'manifest.delete',
      handler: (c) => deleteManifest(berth, c),
    },
    {
      methods: ['POST'],
      pattern: new RegExp(`^/v2/${NAME}/blobs/uploads/?$`),
      access: 'push',
      handler: (c) => startUpload(berth, c),
    },
    { methods: ['PATCH'], pattern: upload, access: 'push', handler: (c) => patchUpload(berth, c) },
    { methods: ['PUT'], pattern: upload, access: 'push', handler: (c) => finishUpload(berth, c) },
    { methods: ['GET'], pattern: upload, access: 'push', handler: (c) => uploadStatus(berth, c) },
    { methods: ['DELETE'], pattern: upload, access: 'push', handler: (c) => cancelUpload(berth, c) },
    { methods: ['GET', 'HEAD'], pattern: blob, access: 'pull', handler: (c) => getBlob(berth, c) },
    {
      methods: ['DELETE'],
      pattern: blob,
      access: 'delete',
      audit: 'blob.delete',
      handler: (c) => deleteBlob(berth, c),
    },
    {
      methods: ['GET'],
      pattern: new RegExp(`^/v2/${NAME}/referrers/(?<digest>[^/]+)$`),
      access: 'pull',
      handler: (c) => listReferrers(berth, c),
    },
  ];
}

export function mountRegistry(app: FastifyInstance, berth: Berth): void {
  mountRoutes(app, '/v2', registryRoutes(berth), {
    onEvery: (reply) => reply.header('Docker-Distribution-API-Version', 'registry/2.0'),
    authorize: authorizer(berth.auth, 'registry'),
    audit: auditor(berth.auth),
  });
  // The token endpoint of the registry's token flow (the realm of the challenges above).
  mountRoutes(
    app,
    '/token',
    [{ methods: ['GET'], pattern: /^\/token$/, access: 'anyone', handler: (c) => issueToken(berth, c) }],
    { authorize: authorizer(berth.auth, 'api') },
  );
}
