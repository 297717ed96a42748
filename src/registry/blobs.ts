// GET and HEAD of blobs, with byte ranges.
import type { Berth } from '../app.js';
import { parseDigest } from '../core/digest.js';
import { parseRepositoryName } from '../core/references.js';
import type { RouteContext } from '../http/router.js';
import { parseRange } from '../http/range.js';

export async function getBlob(berth: Berth, { req, reply, params }: RouteContext): Promise<unknown> {
  const name = parseRepositoryName(params.name!);
  const digest = parseDigest(params.digest!);
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

export async function deleteBlob(berth: Berth, { reply, params }: RouteContext): Promise<unknown> {
  const name = parseRepositoryName(params.name!);
  await berth.manifests.deleteBlob(name, parseDigest(params.digest!));
  return reply.code(202).send();
}
