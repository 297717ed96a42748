// The rows of the UI's route table for a repository's pages (/repositories/<name>…): tags, versions, image, upload.
import type { Berth } from '../../app.js';
import { uiRoute, type UiRoute } from '../mount.js';
import { imagePage } from './repo-image.js';
import { deleteTag, tagDeletePage, tagsPage } from './repo-tags.js';
import { uploadArchive, uploadPage } from './repo-upload.js';
import { diffPage, restorePage, restoreVersion, versionsPage } from './repo-versions.js';

/** Most specific first: `/repositories/{name}` would take "a/-/versions" whole, so the tags page comes last. */
export function repoRoutes(berth: Berth): UiRoute[] {
  return [
    uiRoute({
      name: 'page.versions',
      methods: ['GET'],
      path: '/repositories/{name}/-/versions',
      access: 'pull',
      handler: (c) => versionsPage(berth, c),
    }),
    uiRoute({
      name: 'page.diff',
      methods: ['GET'],
      path: '/repositories/{name}/-/versions/diff',
      access: 'pull',
      handler: (c) => diffPage(berth, c),
    }),
    uiRoute({
      name: 'page.restore',
      methods: ['GET'],
      path: '/repositories/{name}/-/versions/{number}/restore',
      access: 'push',
      handler: (c) => restorePage(berth, c),
    }),
    uiRoute({
      name: 'form.restore',
      methods: ['POST'],
      path: '/repositories/{name}/-/versions/{number}/restore',
      access: 'push',
      audit: 'version.restore',
      handler: (c) => restoreVersion(berth, c),
    }),
    uiRoute({
      name: 'page.image',
      methods: ['GET'],
      path: '/repositories/{name}/-/manifests/{digest}',
      access: 'pull',
      handler: (c) => imagePage(berth, c),
    }),
    uiRoute({
      name: 'page.tagdelete',
      methods: ['GET'],
      path: '/repositories/{name}/-/tags/{tag}/delete',
      access: 'delete',
      handler: (c) => tagDeletePage(berth, c),
    }),
    uiRoute({
      name: 'form.tagdelete',
      methods: ['POST'],
      path: '/repositories/{name}/-/tags/{tag}/delete',
      access: 'delete',
      audit: 'tag.delete',
      handler: (c) => deleteTag(berth, c),
    }),
    uiRoute({
      name: 'page.upload',
      methods: ['GET'],
      path: '/repositories/{name}/-/upload',
      access: 'push',
      handler: (c) => uploadPage(berth, c),
    }),
    uiRoute({
      name: 'form.upload',
      methods: ['POST'],
      path: '/repositories/{name}/-/upload',
      access: 'push',
      audit: 'archive.upload',
      body: 'stream',
      handler: (c) => uploadArchive(berth, c),
    }),
    uiRoute({
      name: 'page.tags',
      methods: ['GET'],
      path: '/repositories/{name}',
      access: 'pull',
      handler: (c) => tagsPage(berth, c),
    }),
  ];
}
