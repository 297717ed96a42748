// The /v2/ route table (OCI distribution spec): patterns take repository names with slashes.
import type { FastifyInstance } from 'fastify';
import type { Berth } from '../app.js';
import { mountRoutes, type Route } from '../http/router.js';
import { deleteManifest, getManifest, putManifest } from './manifests.js';
import { deleteBlob, getBlob } from './blobs.js';
import { cancelUpload, finishUpload, patchUpload, startUpload, uploadStatus } from './blob-uploads.js';
import { listReferrers } from './referrers.js';
import { listTags } from './tags.js';
import { catalog } from './catalog.js';

const NAME = '(?<name>[^?#]+?)';

export function registryRoutes(berth: Berth): Route[] {
  const manifest = new RegExp(`^/v2/${NAME}/manifests/(?<reference>[^/]+)$`);
  const upload = new RegExp(`^/v2/${NAME}/blobs/uploads/(?<id>[^/]+)$`);
  const blob = new RegExp(`^/v2/${NAME}/blobs/(?<digest>[^/]+)$`);
  return [
    { methods: ['GET', 'HEAD'], pattern: /^\/v2\/?$/, handler: async ({ reply }) => reply.send({}) },
    { methods: ['GET'], pattern: /^\/v2\/_catalog$/, handler: (c) => catalog(berth, c) },
    { methods: ['GET'], pattern: new RegExp(`^/v2/${NAME}/tags/list$`), handler: (c) => listTags(berth, c) },
    { methods: ['GET', 'HEAD'], pattern: manifest, handler: (c) => getManifest(berth, c) },
    { methods: ['PUT'], pattern: manifest, handler: (c) => putManifest(berth, c) },
    { methods: ['DELETE'], pattern: manifest, handler: (c) => deleteManifest(berth, c) },
    {
      methods: ['POST'],
      pattern: new RegExp(`^/v2/${NAME}/blobs/uploads/?$`),
      handler: (c) => startUpload(berth, c),
    },
    { methods: ['PATCH'], pattern: upload, handler: (c) => patchUpload(berth, c) },
    { methods: ['PUT'], pattern: upload, handler: (c) => finishUpload(berth, c) },
    { methods: ['GET'], pattern: upload, handler: (c) => uploadStatus(berth, c) },
    { methods: ['DELETE'], pattern: upload, handler: (c) => cancelUpload(berth, c) },
    { methods: ['GET', 'HEAD'], pattern: blob, handler: (c) => getBlob(berth, c) },
    { methods: ['DELETE'], pattern: blob, handler: (c) => deleteBlob(berth, c) },
    {
      methods: ['GET'],
      pattern: new RegExp(`^/v2/${NAME}/referrers/(?<digest>[^/]+)$`),
      handler: (c) => listReferrers(berth, c),
    },
  ];
}

export function mountRegistry(app: FastifyInstance, berth: Berth): void {
  mountRoutes(app, '/v2', registryRoutes(berth), (reply) =>
    reply.header('Docker-Distribution-API-Version', 'registry/2.0'),
  );
}
