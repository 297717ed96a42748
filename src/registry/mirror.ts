// containerd's mirror requests (`/v2/library/alpine/manifests/3.20?ns=docker.io`): the cache whose remote is that host serves them.
import type { FastifyInstance } from 'fastify';
import type { Berth } from '../app.js';

/**
 * Rewrites a /v2/ request carrying `?ns=<upstream host>` to the same request under the prefix of the cache whose
 * remote has that host (docker.io: Docker Hub), before the route table reads the path and checks access, so that
 * the request is checked and answered exactly as one naming the cache's repository. A host no cache serves, or a
 * path under the prefix already, is left as it is.
 */
export function installMirrorRequests(app: FastifyInstance, berth: Berth): void {
  app.addHook('onRequest', async (req) => {
    const url = req.raw.url ?? '';
    const q = url.indexOf('?');
    if (q < 0 || !url.startsWith('/v2/')) return;
    const ns = new URLSearchParams(url.slice(q + 1)).get('ns');
    const rest = url.slice('/v2/'.length, q);
    if (!ns || rest === '' || rest.startsWith('_catalog')) return;
    const cache = await berth.caches.forNamespace(ns);
    if (!cache || rest === cache.prefix || rest.startsWith(`${cache.prefix}/`)) return;
    req.raw.url = `/v2/${cache.prefix}/${url.slice('/v2/'.length)}`;
  });
}
