// The /v2/ route table (OCI distribution spec): patterns take repository names with slashes.
import type { FastifyInstance } from 'fastify';
import type { Berth } from '../app.js';
import { mountRoutes, type Route } from '../http/router.js';
import { getManifest } from './manifests.js';
import { getBlob } from './blobs.js';
import { listTags } from './tags.js';
import { catalog } from './catalog.js';

const NAME = '(?<name>[^?#]+?)';

export function registryRoutes(berth: Berth): Route[] {
  return [
    { methods: ['GET', 'HEAD'], pattern: /^\/v2\/?$/, handler: async ({ reply }) => reply.send({}) },
    { methods: ['GET'], pattern: /^\/v2\/_catalog$/, handler: (c) => catalog(berth, c) },
    { methods: ['GET'], pattern: new RegExp(`^/v2/${NAME}/tags/list$`), handler: (c) => listTags(berth, c) },
    {
      methods: ['GET', 'HEAD'],
      pattern: new RegExp(`^/v2/${NAME}/manifests/(?<reference>[^/]+)$`),
      handler: (c) => getManifest(berth, c),
    },
    {
      methods: ['GET', 'HEAD'],
      pattern: new RegExp(`^/v2/${NAME}/blobs/(?<digest>[^/]+)$`),
      handler: (c) => getBlob(berth, c),
    },
  ];
}

export function mountRegistry(app: FastifyInstance, berth: Berth): void {
  mountRoutes(app, '/v2', registryRoutes(berth), (reply) =>
    reply.header('Docker-Distribution-API-Version', 'registry/2.0'),
  );
}
