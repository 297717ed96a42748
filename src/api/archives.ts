// POST /api/v1/repositories/<name>/-/archives: an image archive streamed in the request body.
import type { Berth } from '../app.js';
import type { RouteContext } from '../http/router.js';

export async function uploadArchive(berth: Berth, { req, reply, name, query }: RouteContext<'name'>) {
  const tag = query.get('tag') ?? undefined;
  const result = await berth.imports.importArchive(name, tag, req.raw);
  return reply.code(201).send(result);
}
