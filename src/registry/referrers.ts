// GET /v2/<name>/referrers/<digest>: an image index of the manifests whose subject is <digest>.
import type { Berth } from '../app.js';
import { MediaTypes } from '../core/media-types.js';
import type { RouteContext } from '../http/router.js';

export async function listReferrers(
  berth: Berth,
  { reply, name, digest, query }: RouteContext<'name' | 'digest'>,
): Promise<unknown> {
  const artifactType = query.get('artifactType') ?? undefined;
  const manifests = await berth.manifests.referrers(name, digest, artifactType);
  if (artifactType !== undefined) reply.header('OCI-Filters-Applied', 'artifactType');
  // A Buffer, not a string: Fastify would add "; charset=utf-8" to the media type, which clients compare exactly.
  return reply
    .header('Content-Type', MediaTypes.ociIndex)
    .send(Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaTypes.ociIndex, manifests })));
}
