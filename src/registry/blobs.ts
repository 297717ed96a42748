// GET and HEAD of blobs, with byte ranges.
import type { Berth } from '../app.js';
import type { RouteContext } from '../http/router.js';
import { parseRange } from '../http/range.js';

export async function getBlob(
  berth: Berth,
  { req, reply, name, digest }: RouteContext<'name' | 'digest'>,
): Promise<unknown> {
  const head = req.method === 'HEAD';
  const header = req.headers.range;
  const blob = await berth.content.openBlob(name, digest, {
    head,
    rangeOf: (size) => parseRange(header, size),
  });
  reply
    .header('Docker-Content-Digest', digest)
    .header('Content-Type', 'application/octet-stream')
    .header('Accept-Ranges', 'bytes')
    .header('ETag', `"${digest}"`);
  if (blob.range) {
    reply
      .code(206)
      .header('Content-Range', `bytes ${blob.range.start}-${blob.range.end}/${blob.size}`)
      .header('Content-Length', blob.range.end - blob.range.start + 1);
  } else {
    reply.header('Content-Length', blob.size);
  }
  return head ? reply.send() : reply.send(blob.stream);
}

export async function deleteBlob(
  berth: Berth,
  { reply, name, digest }: RouteContext<'name' | 'digest'>,
): Promise<unknown> {
  await berth.manifests.deleteBlob(name, digest);
  return reply.code(202).send();
}
