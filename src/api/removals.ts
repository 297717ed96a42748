// DELETE of a tag, an image (its manifest and tags) and a whole repository: each answers the version it made.
import type { Berth } from '../app.js';
import { BerthError } from '../core/errors.js';
import type { RouteContext } from '../http/router.js';

/** The new version's summary, as GET …/-/versions lists it. */
async function made(berth: Berth, name: string, number: number) {
  const { createdAt, added, removed } = await berth.history.version(name, number);
  return { number, createdAt, added, removed };
}

/** DELETE /api/v1/repositories/<name>/-/tags/<tag>: the tag goes, its manifest stays. */
export async function deleteTag(berth: Berth, ctx: RouteContext<'name' | 'tag'>) {
  const { name, tag } = ctx;
  const v = await berth.removals.deleteTag(name, tag);
  ctx.auditDetail = { version: v.number };
  return { repository: name, tag, version: await made(berth, name, v.number) };
}

/** DELETE /api/v1/repositories/<name>/-/manifests/<digest or tag>: the manifest and every tag on it. */
export async function deleteImage(berth: Berth, ctx: RouteContext<'name' | 'reference'>) {
  const { name, reference } = ctx;
  const v = await berth.removals.deleteImage(name, reference);
  ctx.auditDetail = { version: v.number, digest: v.digest, tags: v.tags };
  return { repository: name, digest: v.digest, tags: v.tags, version: await made(berth, name, v.number) };
}

/** DELETE /api/v1/repositories/<name>: a version that empties it, hiding it from the listings. */
export async function deleteRepository(berth: Berth, ctx: RouteContext<'name'>) {
  const { name } = ctx;
  const v = await berth.removals.deleteRepository(name);
  ctx.auditDetail = { version: v.number };
  return { repository: name, version: await made(berth, name, v.number) };
}

/** `includeDeleted=true|false` of the repository listing. */
export function includeDeleted(query: URLSearchParams): boolean {
  const v = query.get('includeDeleted');
  if (v === null || v === '' || v === 'false') return false;
  if (v === 'true') return true;
  throw new BerthError('PARAMETER_INVALID', `query parameter includeDeleted=${v} must be true or false`);
}
