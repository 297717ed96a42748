// The /api/v1 route table: repository names contain slashes, so a sub-resource follows a "/-/" separator. Each
// route says who may call it (every one needs credentials) and what the audit log records.
import type { FastifyInstance } from 'fastify';
import type { Berth } from '../app.js';
import { mountRoutes, type Route } from '../http/router.js';
import { auditor, authorizer } from '../http/access.js';
import { diffVersions, listRepositories, listVersions, showRepository, showVersion } from './repositories.js';
import { uploadArchive } from './archives.js';
import { presentBlobs } from './blobs.js';
import { deleteVersion, restoreVersion, updateRepository } from './version-history.js';
import { runCleanup } from './cleanup.js';
import {
  addPublic,
  createUser,
  grantPermission,
  listPermissions,
  listPublic,
  listUsers,
  removePublic,
  removeUser,
  revokePermission,
  setPassword,
  showUser,
  whoami,
} from './users.js';
import { createToken, listAudit, listTokens, revokeToken } from './tokens.js';

const REPO = '^/api/v1/repositories/(?<name>.+?)';
const USER = '^/api/v1/users/(?<user>[^/]+)';

export function apiRoutes(berth: Berth): Route[] {
  return [
    {
      methods: ['GET'],
      pattern: /^\/api\/v1\/repositories\/?$/,
      access: 'signed-in',
      handler: (c) => listRepositories(berth, c),
    },
    {
      methods: ['POST'],
      pattern: /^\/api\/v1\/cleanup$/,
      access: 'administrator',
      audit: 'cleanup',
      handler: (c) => runCleanup(berth, c),
    },
    {
      methods: ['POST'],
      pattern: new RegExp(`${REPO}/-/archives$`),
      access: 'push',
      audit: 'archive.upload',
      handler: (c) => uploadArchive(berth, c),
    },
    {
      methods: ['POST'],
      pattern: new RegExp(`${REPO}/-/blobs/present$`),
      access: 'pull',
      handler: (c) => presentBlobs(berth, c),
    },
    {
      methods: ['GET'],
      pattern: new RegExp(`${REPO}/-/versions$`),
      access: 'pull',
      handler: (c) => listVersions(berth, c),
    },
    {
      methods: ['POST'],
      pattern: new RegExp(`${REPO}/-/versions/(?<number>[^/]+)/restore$`),
      access: 'push',
      audit: 'version.restore',
      handler: (c) => restoreVersion(berth, c),
    },
    {
      methods: ['DELETE'],
      pattern: new RegExp(`${REPO}/-/versions/(?<number>[^/]+)$`),
      access: 'delete',
      audit: 'version.delete',
      handler: (c) => deleteVersion(berth, c),
    },
    {
      methods: ['GET'],
      pattern: new RegExp(`${REPO}/-/versions/(?<number>[^/]+)/diff$`),
      access: 'pull',
      handler: (c) => diffVersions(berth, c),
    },
    {
      methods: ['GET'],
      pattern: new RegExp(`${REPO}/-/versions/(?<number>[^/]+)$`),
      access: 'pull',
      handler: (c) => showVersion(berth, c),
    },
    {
      methods: ['GET'],
      pattern: new RegExp(`${REPO}$`),
      access: 'pull',
      handler: (c) => showRepository(berth, c),
    },
    {
      methods: ['PATCH'],
      pattern: new RegExp(`${REPO}$`),
      access: 'admin',
      audit: 'repository.update',
      handler: (c) => updateRepository(berth, c),
    },
    {
      methods: ['GET'],
      pattern: /^\/api\/v1\/users$/,
      access: 'administrator',
      handler: () => listUsers(berth),
    },
    {
      methods: ['POST'],
      pattern: /^\/api\/v1\/users$/,
      access: 'administrator',
      audit: 'user.create',
      handler: (c) => createUser(berth, c),
    },
    {
      methods: ['PUT'],
      pattern: new RegExp(`${USER}/password$`),
      access: 'signed-in',
      audit: 'user.password',
      handler: (c) => setPassword(berth, c),
    },
    {
      methods: ['GET'],
      pattern: new RegExp(`${USER}/permissions$`),
      access: 'signed-in',
      handler: (c) => listPermissions(berth, c),
    },
    {
      methods: ['PUT'],
      pattern: new RegExp(`${USER}/permissions$`),
      access: 'administrator',
      audit: 'permission.grant',
      handler: (c) => grantPermission(berth, c),
    },
    {
      methods: ['DELETE'],
      pattern: new RegExp(`${USER}/permissions$`),
      access: 'administrator',
      audit: 'permission.revoke',
      handler: (c) => revokePermission(berth, c),
    },
    {
      methods: ['GET'],
      pattern: new RegExp(`${USER}$`),
      access: 'signed-in',
      handler: (c) => showUser(berth, c),
    },
    {
      methods: ['DELETE'],
      pattern: new RegExp(`${USER}$`),
      access: 'administrator',
      audit: 'user.remove',
      handler: (c) => removeUser(berth, c),
    },
    {
      methods: ['GET'],
      pattern: /^\/api\/v1\/public$/,
      access: 'signed-in',
      handler: () => listPublic(berth),
    },
    {
      methods: ['PUT'],
      pattern: /^\/api\/v1\/public$/,
      access: 'administrator',
      audit: 'public.add',
      handler: (c) => addPublic(berth, c),
    },
    {
      methods: ['DELETE'],
      pattern: /^\/api\/v1\/public$/,
      access: 'administrator',
      audit: 'public.remove',
      handler: (c) => removePublic(berth, c),
    },
    {
      methods: ['POST'],
      pattern: /^\/api\/v1\/tokens$/,
      access: 'signed-in',
      audit: 'token.create',
      handler: (c) => createToken(berth, c),
    },
    {
      methods: ['GET'],
      pattern: /^\/api\/v1\/tokens$/,
      access: 'signed-in',
      handler: (c) => listTokens(berth, c),
    },
    {
      methods: ['DELETE'],
      pattern: /^\/api\/v1\/tokens\/(?<id>[^/]+)$/,
      access: 'signed-in',
      audit: 'token.revoke',
      handler: (c) => revokeToken(berth, c),
    },
    {
      methods: ['GET'],
      pattern: /^\/api\/v1\/audit$/,
      access: 'administrator',
      handler: (c) => listAudit(berth, c),
    },
    {
      methods: ['GET'],
      pattern: /^\/api\/v1\/whoami$/,
      access: 'signed-in',
      handler: (c) => whoami(berth, c),
    },
  ];
}

export function mountApi(app: FastifyInstance, berth: Berth): void {
  mountRoutes(app, '/api/v1', apiRoutes(berth), {
    authorize: authorizer(berth.auth, 'api'),
    audit: auditor(berth.auth),
  });
}
