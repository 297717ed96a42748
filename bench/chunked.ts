// A push of one blob in chunks, as a client pushing in chunks does (POST, PATCHes with Content-Range, PUT
// ?digest=): the s3 group times its final PUT, the scale group the whole push.
import { Readable } from 'node:stream';
import { authorization, expectStatus, request } from './http.js';
import { layerBytes, type Layer } from './images.js';
import type { Server } from './servers.js';
import { MIB, secondsSince, timed } from './stats.js';

/** The next `bytes` bytes of a layer's 1 MiB pieces (a whole number of pieces, or all that is left). */
function* take(pieces: Generator<Buffer>, bytes: number): Generator<Buffer> {
  for (let left = bytes; left > 0;) {
    const next = pieces.next();
    if (next.done) return;
    left -= next.value.length;
    yield next.value;
  }
}

/**
 * Pushes `layer` as a client pushing in chunks does: POST, then PATCHes of `chunk` bytes (Content-Range, following
 * each answer's Location), then PUT ?digest= with no body. Answers the seconds from the POST to the final PUT's
 * answer (the registry token is asked for before), and of that final PUT alone; the server must then know the blob
 * at its size (checked after, untimed).
 */
export async function chunkedPush(
  s: Server,
  repo: string,
  layer: Layer,
  chunk: number,
): Promise<{ seconds: number; finalPut: number }> {
  if (chunk % MIB !== 0 && chunk < layer.size) throw new Error(`PATCHes of ${chunk} bytes: give whole MiB`);
  const headers = await authorization(s.url, s.creds, repo, 'pull,push');
  const start = process.hrtime.bigint();
  const started = await expectStatus(202, 'POST', `${s.url}/v2/${repo}/blobs/uploads/`, {
    headers: { ...headers, 'Content-Length': 0 },
  });
  let location = new URL(String(started.headers.location), s.url).toString();
  const pieces = layerBytes(layer.seed, layer.size);
  for (let at = 0; at < layer.size; at += chunk) {
    const n = Math.min(chunk, layer.size - at);
    const a = await expectStatus(202, 'PATCH', location, {
      headers: {
        ...headers,
        'Content-Type': 'application/octet-stream',
        'Content-Length': n,
        'Content-Range': `${at}-${at + n - 1}`,
      },
      body: Readable.from(take(pieces, n)),
    });
    location = new URL(String(a.headers.location), s.url).toString();
  }
  const put = new URL(location);
  put.searchParams.set('digest', layer.digest);
  const final = await timed(() =>
    expectStatus(201, 'PUT', put.toString(), { headers: { ...headers, 'Content-Length': 0 } }),
  );
  const seconds = secondsSince(start);
  // Distribution on S3 answers a HEAD of a blob with a redirect to a presigned HEAD of its object
  let head = await request('HEAD', `${s.url}/v2/${repo}/blobs/${layer.digest}`, { headers });
  if (head.status === 307 && s.name === 'distribution') {
    head = await request('HEAD', String(head.headers.location));
  }
  if (head.status !== 200 || Number(head.headers['content-length']) !== layer.size) {
    throw new Error(
      `${s.name}: HEAD of the pushed ${layer.digest}: ${head.status}, ${head.headers['content-length']} bytes, not ${layer.size}`,
    );
  }
  return { seconds, finalPut: final.seconds };
}
