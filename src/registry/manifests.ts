// GET and HEAD of manifests by tag or digest.
import type { Berth } from '../app.js';
import { BerthError } from '../core/errors.js';
import type { RouteContext } from '../http/router.js';
import { manifestTooLarge, readSmallBody } from '../http/body.js';
import { MAX_MANIFEST_BYTES } from '../core/manifests.js';
import { parseTagParameters } from '../core/references.js';

export async function getManifest(
  berth: Berth,
  { req, reply, name, tagOrDigest }: RouteContext<'name' | 'tagOrDigest'>,
): Promise<unknown> {
  const head = req.method === 'HEAD';
  // No manifest can be tagged outside the tag grammar, so reading one is "unknown" (404), as the OCI
  // conformance suite checks with ".INVALID_MANIFEST_NAME"; pushing one stays 400 TAG_INVALID.
  if (tagOrDigest.kind === 'impossible-tag') {
    await berth.repositories.get(name);
    throw new BerthError(
      'MANIFEST_UNKNOWN',
      `repository ${name} has no tag "${tagOrDigest.tag}": it is not a valid tag (letters, digits, "_", "." and "-", at most 128, not starting with "." or "-")`,
    );
  }
  // under a pull-through cache's prefix, upstream first (on first use, or when the tag is due for a check)
  const resolved = await berth.pullThrough.resolve(name, tagOrDigest);
  if (resolved.kind === 'stale') reply.header('Warning', '110 berth "Response is Stale"');
  const m = await berth.manifests.get(name, tagOrDigest, { head });
  reply
    .header('Content-Type', m.mediaType)
    .header('Docker-Content-Digest', m.digest)
    .header('Content-Length', m.size);
  reply.header('ETag', `"${m.digest}"`);
  return head ? reply.send() : reply.send(m.bytes);
}

/**
 * PUT of a manifest, by tag or digest, with optional `?tag=a&tag=b` (the spec's tag parameters): every tag is
 * applied in the push's one version and named back in `OCI-Tag`. The tags are checked before the body is read.
 */
export async function putManifest(berth: Berth, ctx: RouteContext<'name' | 'reference'>): Promise<unknown> {
  const { req, reply, name, reference, query } = ctx;
  const tags = parseTagParameters(query.getAll('tag'));
  const bytes = await readSmallBody(req, MAX_MANIFEST_BYTES, manifestTooLarge(MAX_MANIFEST_BYTES));
  const pushed = await berth.manifests.put(name, reference, bytes, req.headers['content-type'], tags);
  reply
    .code(201)
    .header('Location', `/v2/${name}/manifests/${pushed.digest}`)
    .header('Docker-Content-Digest', pushed.digest);
  if (pushed.subject) reply.header('OCI-Subject', pushed.subject);
  // the version it made: the web UI's timeline names who made each version, and how
  ctx.auditDetail = { version: pushed.version };
  if (tags.length > 0) {
    reply.header('OCI-Tag', tags.join(', '));
    ctx.auditDetail.tags = tags;
  }
  return reply.send();
}

export async function deleteManifest(
  berth: Berth,
  ctx: RouteContext<'name' | 'reference'>,
): Promise<unknown> {
  const { reply, name, reference } = ctx;
  ctx.auditDetail = { version: await berth.manifests.delete(name, reference) };
  return reply.code(202).send();
}
