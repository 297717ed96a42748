// The pull-through cache rows of the /api/v1 route table (administrators).
import type { Berth } from '../app.js';
import { route, type Route } from '../http/router.js';
import * as S from './schemas.js';
import {
  addCache,
  CacheEditBody,
  editCache,
  listCaches,
  NewCacheBody,
  removeCache,
  showCache,
} from './caches.js';

/** The caches: list, add, show, edit, remove. */
export function cacheRoutes(berth: Berth): Route[] {
  return [
    route({
      name: 'cache.list',
      methods: ['GET'],
      path: '/api/v1/caches',
      access: 'administrator',
      response: S.CacheList,
      handler: () => listCaches(berth),
    }),
    route({
      name: 'cache.add',
      methods: ['POST'],
      path: '/api/v1/caches',
      access: 'administrator',
      audit: 'cache.add',
      body: NewCacheBody,
      response: S.Cache,
      handler: (c) => addCache(berth, c),
    }),
    route({
      name: 'cache.show',
      methods: ['GET'],
      path: '/api/v1/caches/{cache}',
      access: 'administrator',
      response: S.Cache,
      handler: (c) => showCache(berth, c),
    }),
    route({
      name: 'cache.edit',
      methods: ['PATCH'],
      path: '/api/v1/caches/{cache}',
      access: 'administrator',
      audit: 'cache.edit',
      body: CacheEditBody,
      response: S.Cache,
      handler: (c) => editCache(berth, c),
    }),
    route({
      name: 'cache.remove',
      methods: ['DELETE'],
      path: '/api/v1/caches/{cache}',
      access: 'administrator',
      audit: 'cache.remove',
      handler: (c) => removeCache(berth, c),
    }),
  ];
}
