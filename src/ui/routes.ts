// The web UI's route table (served at / by `berth serve`, unless --no-ui): each page and form, named, with its access.
import type { Berth } from '../app.js';
import { uiRoute, type UiRoute } from './mount.js';
import { listRepositoriesPage } from './pages/repositories.js';
import { repoRoutes } from './pages/repo-routes.js';
import { signIn, signInPage, signOut } from './pages/sign-in.js';
import { serveStatic } from './pages/static-files.js';
import { accessPage, createTokenForm, revokeTokenForm } from './pages/access-tokens.js';
import {
  addPublicForm,
  createUserForm,
  grantForm,
  permissionsPage,
  publicPage,
  removePublicForm,
  removeUserForm,
  revokeForm,
  usersPage,
} from './pages/access-admin.js';
import { auditPage } from './pages/audit.js';
import { cleanupForm, operationsPage } from './pages/operations.js';

export function uiRoutes(berth: Berth): UiRoute[] {
  return [
    uiRoute({
      name: 'page.static',
      methods: ['GET'],
      path: '/static/{id}',
      access: 'anyone',
      plain: true,
      handler: serveStatic,
    }),
    uiRoute({
      name: 'page.signin',
      methods: ['GET'],
      path: '/sign-in',
      access: 'anyone',
      handler: signInPage,
    }),
    uiRoute({
      name: 'page.login',
      methods: ['GET'],
      path: '/login',
      access: 'anyone',
      handler: signInPage,
    }),
    uiRoute({
      name: 'form.signin',
      methods: ['POST'],
      path: '/sign-in',
      access: 'anyone',
      handler: (c) => signIn(berth, c),
    }),
    uiRoute({
      name: 'form.login',
      methods: ['POST'],
      path: '/login',
      access: 'anyone',
      handler: (c) => signIn(berth, c),
    }),
    uiRoute({
      name: 'form.signout',
      methods: ['POST'],
      path: '/sign-out',
      access: 'anyone',
      handler: (c) => signOut(berth, c),
    }),
    uiRoute({
      name: 'page.home',
      methods: ['GET'],
      path: '/',
      access: 'anyone',
      handler: (c) => listRepositoriesPage(berth, c),
    }),
    uiRoute({
      name: 'page.repositories',
      methods: ['GET'],
      path: '/repositories/?',
      access: 'anyone',
      handler: (c) => listRepositoriesPage(berth, c),
    }),
    uiRoute({
      name: 'page.access',
      methods: ['GET'],
      path: '/access',
      access: 'signed-in',
      handler: (c) => accessPage(berth, c),
    }),
    uiRoute({
      name: 'form.tokencreate',
      methods: ['POST'],
      path: '/access/tokens',
      access: 'signed-in',
      audit: 'token.create',
      handler: (c) => createTokenForm(berth, c),
    }),
    uiRoute({
      name: 'form.tokenrevoke',
      methods: ['POST'],
      path: '/access/tokens/{id}/revoke',
      access: 'signed-in',
      audit: 'token.revoke',
      handler: (c) => revokeTokenForm(berth, c),
    }),
    uiRoute({
      name: 'page.users',
      methods: ['GET'],
      path: '/access/users',
      access: 'administrator',
      handler: (c) => usersPage(berth, c),
    }),
    uiRoute({
      name: 'form.usercreate',
      methods: ['POST'],
      path: '/access/users',
      access: 'administrator',
      audit: 'user.create',
      handler: (c) => createUserForm(berth, c),
    }),
    uiRoute({
      name: 'form.userremove',
      methods: ['POST'],
      path: '/access/users/{user}/remove',
      access: 'administrator',
      audit: 'user.remove',
      handler: (c) => removeUserForm(berth, c),
    }),
    uiRoute({
      name: 'page.permissions',
      methods: ['GET'],
      path: '/access/permissions',
      access: 'administrator',
      handler: (c) => permissionsPage(berth, c),
    }),
    uiRoute({
      name: 'form.grant',
      methods: ['POST'],
      path: '/access/permissions',
      access: 'administrator',
      audit: 'permission.grant',
      handler: (c) => grantForm(berth, c),
    }),
    uiRoute({
      name: 'form.revoke',
      methods: ['POST'],
      path: '/access/permissions/revoke',
      access: 'administrator',
      audit: 'permission.revoke',
      handler: (c) => revokeForm(berth, c),
    }),
    uiRoute({
      name: 'page.public',
      methods: ['GET'],
      path: '/access/public',
      access: 'administrator',
      handler: (c) => publicPage(berth, c),
    }),
    uiRoute({
      name: 'form.publicadd',
      methods: ['POST'],
      path: '/access/public',
      access: 'administrator',
      audit: 'public.add',
      handler: (c) => addPublicForm(berth, c),
    }),
    uiRoute({
      name: 'form.publicremove',
      methods: ['POST'],
      path: '/access/public/remove',
      access: 'administrator',
      audit: 'public.remove',
      handler: (c) => removePublicForm(berth, c),
    }),
    uiRoute({
      name: 'page.audit',
      methods: ['GET'],
      path: '/access/audit',
      access: 'administrator',
      handler: (c) => auditPage(berth, c),
    }),
    uiRoute({
      name: 'page.operations',
      methods: ['GET'],
      path: '/operations',
      access: 'administrator',
      handler: (c) => operationsPage(berth, c),
    }),
    uiRoute({
      name: 'form.cleanup',
      methods: ['POST'],
      path: '/operations/cleanup',
      access: 'administrator',
      audit: 'cleanup',
      handler: (c) => cleanupForm(berth, c),
    }),
    // a repository's pages (/repositories/<name>…): tags, versions, image, upload
    ...repoRoutes(berth),
  ];
}
