// GET and HEAD of manifests by tag or digest.
import type { Berth } from '../app.js';
import { parseReference, parseRepositoryName } from '../core/references.js';
import type { RouteContext } from '../http/router.js';

export async function getManifest(berth: Berth, { req, reply, params }: RouteContext): Promise<unknown> {
  const name = parseRepositoryName(params.name!);
  const head = req.method === 'HEAD';
  const m = await berth.content.readManifest(name, parseReference(params.reference!), { head });
  reply
    .header('Content-Type', m.mediaType)
    .header('Docker-Content-Digest', m.digest)
    .header('Content-Length', m.size);
  reply.header('ETag', `"${m.digest}"`);
  return head ? reply.send() : reply.send(m.bytes);
}
