// The remote rows of the /api/v1 route table: list, add, show, edit and remove remotes (administrators).
import type { Berth } from '../app.js';
import { route, type Route } from '../http/router.js';
import {
  addRemote,
  editRemote,
  listRemotes,
  NewRemoteBody,
  RemoteEditBody,
  removeRemote,
  showRemote,
} from './remotes.js';
import { Remote, RemoteList } from './remote-schemas.js';

export function remoteRoutes(berth: Berth): Route[] {
  return [
    route({
      name: 'remote.list',
      methods: ['GET'],
      path: '/api/v1/remotes',
      access: 'administrator',
      response: RemoteList,
      handler: () => listRemotes(berth),
    }),
    route({
      name: 'remote.add',
      methods: ['POST'],
      path: '/api/v1/remotes',
      access: 'administrator',
      audit: 'remote.add',
      body: NewRemoteBody,
      response: Remote,
      handler: (c) => addRemote(berth, c),
    }),
    route({
      name: 'remote.show',
      methods: ['GET'],
      path: '/api/v1/remotes/{remote}',
      access: 'administrator',
      response: Remote,
      handler: (c) => showRemote(berth, c),
    }),
    route({
      name: 'remote.edit',
      methods: ['PATCH'],
      path: '/api/v1/remotes/{remote}',
      access: 'administrator',
      audit: 'remote.edit',
      body: RemoteEditBody,
      response: Remote,
      handler: (c) => editRemote(berth, c),
    }),
    route({
      name: 'remote.remove',
      methods: ['DELETE'],
      path: '/api/v1/remotes/{remote}',
      access: 'administrator',
      audit: 'remote.remove',
      handler: (c) => removeRemote(berth, c),
    }),
  ];
}
