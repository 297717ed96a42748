// Blob upload endpoints: POST (session, monolithic, mount), PATCH (chunks), PUT (finish), GET (status), DELETE.
import type { FastifyReply } from 'fastify';
import type { Berth } from '../app.js';
import { can } from '../auth/principal.js';
import { BerthError } from '../core/errors.js';
import { parseDigest, type Digest } from '../core/digest.js';
import { isRepositoryName } from '../core/references.js';
import type { RouteContext } from '../http/router.js';
import { hasBody } from '../http/body.js';
import type { ChunkRange } from '../repo/uploads.js';

function sessionHeaders(reply: FastifyReply, name: string, id: string, size: number): FastifyReply {
  return reply
    .header('Location', `/v2/${name}/blobs/uploads/${id}`)
    .header('Range', `0-${size > 0 ? size - 1 : 0}`)
    .header('Docker-Upload-UUID', id);
}

function blobCreated(reply: FastifyReply, name: string, digest: Digest): FastifyReply {
  return reply
    .code(201)
    .header('Location', `/v2/${name}/blobs/${digest}`)
    .header('Docker-Content-Digest', digest)
    .send();
}

/** Content-Range of a chunk: "START-END" as the spec writes it (a "bytes " prefix and "/TOTAL" are tolerated). */
function parseChunkRange(header: string | undefined): ChunkRange | undefined {
  if (header === undefined) return undefined;
  const m = /^(?:bytes[ =])?(\d+)-(\d+)(?:\/(?:\d+|\*))?$/.exec(header.trim());
  if (!m || Number(m[2]) < Number(m[1])) {
    throw new BerthError('RANGE_INVALID', `Content-Range "${header}" is not START-END with END >= START`);
  }
  return { start: Number(m[1]), end: Number(m[2]) };
}

export async function startUpload(
  berth: Berth,
  { req, reply, name, query, principal }: RouteContext<'name'>,
): Promise<unknown> {
  const mount = query.get('mount');
  const from = query.get('from');
  // A mount only from a repository the caller may pull; otherwise an upload, as if `from` held nothing.
  if (mount !== null && from !== null && isRepositoryName(from) && can(principal, from, 'pull')) {
    const digest = parseDigest(mount, 'mount');
    if (await berth.blobs.mount(name, digest, from)) return blobCreated(reply, name, digest);
  }
  const digestParam = query.get('digest');
  if (digestParam !== null) {
    const digest = parseDigest(digestParam);
    await berth.uploads.monolithic(name, digest, req.raw, principal.userId);
    return blobCreated(reply, name, digest);
  }
  const { id } = await berth.uploads.start(name, principal.userId);
  return sessionHeaders(reply.code(202), name, id, 0).send();
}

export async function patchUpload(
  berth: Berth,
  { req, reply, name, id }: RouteContext<'name' | 'id'>,
): Promise<unknown> {
  const range = parseChunkRange(req.headers['content-range']);
  const { size } = await berth.uploads.append(name, id, req.raw, range);
  return sessionHeaders(reply.code(202), name, id, size).send();
}

export async function finishUpload(
  berth: Berth,
  { req, reply, name, id, query }: RouteContext<'name' | 'id'>,
): Promise<unknown> {
  const digestParam = query.get('digest');
  if (digestParam === null) {
    throw new BerthError(
      'DIGEST_INVALID',
      'finishing an upload needs the blob digest: PUT …?digest=sha256:<hex>',
    );
  }
  const digest = parseDigest(digestParam);
  const range = parseChunkRange(req.headers['content-range']);
  await berth.uploads.finish(name, id, digest, hasBody(req) ? req.raw : undefined, range);
  return blobCreated(reply, name, digest);
}

export async function uploadStatus(
  berth: Berth,
  { reply, name, id }: RouteContext<'name' | 'id'>,
): Promise<unknown> {
  const { size } = await berth.uploads.status(name, id);
  return sessionHeaders(reply.code(204), name, id, size).send();
}

export async function cancelUpload(
  berth: Berth,
  { reply, name, id }: RouteContext<'name' | 'id'>,
): Promise<unknown> {
  await berth.uploads.cancel(name, id);
  return reply.code(204).send();
}
