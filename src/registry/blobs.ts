// GET and HEAD of blobs, with byte ranges.
import type { Berth } from '../app.js';
import type { RouteContext } from '../http/router.js';
import { parseRange } from '../http/range.js';

export async function getBlob(
  berth: Berth,
  { req, reply, name, digest }: RouteContext<'name' | 'digest'>,
): Promise<unknown> {
  const head = req.method === 'HEAD';
  const blob = await berth.blobs.stat(name, digest);
  const range = parseRange(req.headers.range, blob.size);
  // opened before any header is set: bytes missing from the store answer an error, not a broken 200
  const stream = head ? undefined : await berth.blobs.open(blob, range);
  reply
    .header('Docker-Content-Digest', digest)
    .header('Content-Type', 'application/octet-stream')
    .header('Accept-Ranges', 'bytes')
    .header('ETag', `"${digest}"`);
  if (range) {
    reply
      .code(206)
      .header('Content-Range', `bytes ${range.start}-${range.end}/${blob.size}`)
      .header('Content-Length', range.end - range.start + 1);
  } else {
    reply.header('Content-Length', blob.size);
  }
  return reply.send(stream);
}

export async function deleteBlob(
  berth: Berth,
  { reply, name, digest }: RouteContext<'name' | 'digest'>,
): Promise<unknown> {
  await berth.blobs.delete(name, digest);
  return reply.code(202).send();
}
