// Request bodies: JSON kept with its exact bytes, and small bodies read whole with a limit.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { BerthError } from '../core/errors.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** the exact bytes of a body the JSON parser read (manifests must never be re-serialized) */
    rawBody?: Buffer;
  }
}

/**
 * application/json bodies are read as bytes (at most the server's body limit) and parsed leniently: a body that
 * is not JSON is left for the handler to refuse in its own words. Every other body stays an unread stream.
 */
export function installBodyParsers(app: FastifyInstance): void {
  app.decorateRequest('rawBody', undefined);
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (req, body, done) => {
    req.rawBody = body as Buffer;
    try {
      done(null, JSON.parse((body as Buffer).toString('utf8')));
    } catch {
      done(null, undefined);
    }
  });
  app.addContentTypeParser('*', (_req, _payload, done) => done(null));
}

/** True when the request carries a body (a length above 0, or chunked). */
export function hasBody(req: FastifyRequest): boolean {
  if (req.rawBody) return req.rawBody.length > 0;
  const len = req.headers['content-length'];
  if (len !== undefined) return Number(len) > 0;
  return req.headers['transfer-encoding'] !== undefined;
}

/** Reads a small body whole; `tooLarge` names what it is when it exceeds `max` bytes. */
export async function readSmallBody(
  req: FastifyRequest,
  max: number,
  tooLarge: () => BerthError,
): Promise<Buffer> {
  if (req.rawBody) {
    if (req.rawBody.length > max) throw tooLarge();
    return req.rawBody;
  }
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > max) throw tooLarge();
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req.raw) {
    size += (c as Buffer).length;
    if (size > max) throw tooLarge();
    chunks.push(c as Buffer);
  }
  return Buffer.concat(chunks);
}

export const manifestTooLarge = (max: number) => () =>
  new BerthError('MANIFEST_INVALID', `the manifest is larger than ${max} bytes`);
