// GET and HEAD of blobs, with byte ranges; with --s3-redirect a GET answers 307 to a presigned S3 URL.
import type { Berth } from '../app.js';
import type { RouteContext } from '../http/router.js';
import { parseRange } from '../http/range.js';
import type { BlobSender } from '../http/sendfile.js';

export async function getBlob(
  berth: Berth,
  { req, reply, name, digest }: RouteContext<'name' | 'digest'>,
  sender?: BlobSender,
): Promise<unknown> {
  const head = req.method === 'HEAD';
  const blob = await berth.blobs.stat(name, digest);
  // an on-demand blob comes whole from its remote the first time (HTTP lets a server ignore Range)
  const range = blob.onDemand ? undefined : parseRange(req.headers.range, blob.size);
  // access was checked before the handler; the client sends its Range to S3 (HEAD stays answered from the database)
  const location = head ? undefined : await berth.blobs.redirect(blob);
  if (location !== undefined) {
    return reply
      .code(307)
      .header('Location', location)
      .header('Docker-Content-Digest', digest)
      .header('Cache-Control', 'no-store')
      .send();
  }
  // opened before any header is set: bytes missing from the store answer an error, not a broken 200. A whole blob
  // of the files store over plain HTTP/1.1 goes by sendfile (http/sendfile.ts); the head is the same either way.
  const wholeBySendfile = !head && !range && blob.size > 0 && sender?.usable(req.raw, reply.raw) === true;
  const file = wholeBySendfile ? await berth.blobs.openFile(blob) : undefined;
  const stream = head
    ? undefined
    : file && sender
      ? sender.body(file, blob.size, reply.raw)
      : await berth.blobs.open(blob, range);
  if (!head) sender?.served(file ? 'sendfile' : 'stream');
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

export async function deleteBlob(berth: Berth, ctx: RouteContext<'name' | 'digest'>): Promise<unknown> {
  const { reply, name, digest } = ctx;
  const version = await berth.blobs.delete(name, digest);
  if (version !== undefined) ctx.auditDetail = { version };
  return reply.code(202).send();
}
