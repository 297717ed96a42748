// The /api/v1 route table: repository names contain slashes, so a sub-resource follows a "/-/" separator.
import type { FastifyInstance } from 'fastify';
import type { Berth } from '../app.js';
import { mountRoutes, type Route } from '../http/router.js';
import { diffVersions, listRepositories, listVersions, showRepository, showVersion } from './repositories.js';
import { uploadArchive } from './archives.js';
import { presentBlobs } from './blobs.js';
import { deleteVersion, restoreVersion, updateRepository } from './version-history.js';
import { runCleanup } from './cleanup.js';

const REPO = '^/api/v1/repositories/(?<name>.+?)';

export function apiRoutes(berth: Berth): Route[] {
  return [
    { methods: ['GET'], pattern: /^\/api\/v1\/repositories\/?$/, handler: (c) => listRepositories(berth, c) },
    { methods: ['POST'], pattern: /^\/api\/v1\/cleanup$/, handler: (c) => runCleanup(berth, c) },
    {
      methods: ['POST'],
      pattern: new RegExp(`${REPO}/-/archives$`),
      handler: (c) => uploadArchive(berth, c),
    },
    {
      methods: ['POST'],
      pattern: new RegExp(`${REPO}/-/blobs/present$`),
      handler: (c) => presentBlobs(berth, c),
    },
    { methods: ['GET'], pattern: new RegExp(`${REPO}/-/versions$`), handler: (c) => listVersions(berth, c) },
    {
      methods: ['POST'],
      pattern: new RegExp(`${REPO}/-/versions/(?<number>[^/]+)/restore$`),
      handler: (c) => restoreVersion(berth, c),
    },
    {
      methods: ['DELETE'],
      pattern: new RegExp(`${REPO}/-/versions/(?<number>[^/]+)$`),
      handler: (c) => deleteVersion(berth, c),
    },
    {
      methods: ['GET'],
      pattern: new RegExp(`${REPO}/-/versions/(?<number>[^/]+)/diff$`),
      handler: (c) => diffVersions(berth, c),
    },
    {
      methods: ['GET'],
      pattern: new RegExp(`${REPO}/-/versions/(?<number>[^/]+)$`),
      handler: (c) => showVersion(berth, c),
    },
    { methods: ['GET'], pattern: new RegExp(`${REPO}$`), handler: (c) => showRepository(berth, c) },
    { methods: ['PATCH'], pattern: new RegExp(`${REPO}$`), handler: (c) => updateRepository(berth, c) },
  ];
}

export function mountApi(app: FastifyInstance, berth: Berth): void {
  mountRoutes(app, '/api/v1', apiRoutes(berth));
}
