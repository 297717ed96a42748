// POST /api/v1/repositories/<name>/-/archives: an image archive streamed in the request body.
import type { Berth } from '../app.js';
import type { RouteContext } from '../http/router.js';
import { clientGone } from '../http/client-gone.js';

export async function uploadArchive(berth: Berth, ctx: RouteContext<'name'>) {
  const { req, reply, name, query } = ctx;
  const tag = query.get('tag') ?? undefined;
  // the upload stops when its client goes (see Imports.importArchive for the point from which it completes)
  const result = await berth.imports.importArchive(name, tag, req.raw, clientGone(reply));
  ctx.auditDetail = { version: result.version };
  return reply.code(201).send(result);
}
