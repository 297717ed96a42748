// The one place errors become HTTP responses: BerthError by the catalogue, framework errors as 4xx, the rest as 500.
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { answeredCode, BerthError, ERROR_CATALOGUE, isOutOfSpace, type ErrorCode } from '../core/errors.js';
import { closeAfterAnswer } from './linger.js';
import { badUrlError } from './router.js';

export interface ErrorBody {
  errors: { code: ErrorCode; message: string; detail?: unknown }[];
}

export function errorBody(code: ErrorCode, message: string, detail?: unknown): ErrorBody {
  return { errors: [{ code, message, ...(detail === undefined ? {} : { detail }) }] };
}

function frameworkCode(status: number): ErrorCode {
  if (status === 413) return 'SIZE_INVALID';
  if (status === 415) return 'UNSUPPORTED';
  if (status === 404) return 'NOT_FOUND';
  if (status === 405) return 'METHOD_NOT_ALLOWED';
  return 'PARAMETER_INVALID';
}

/**
 * Refusals of access (401, 403) and failed logins (401, and 429 once they are limited) are logged as warnings, so
 * that BERTH_LOG_LEVEL=warn keeps them; other refusals (a manifest unknown, a bad digest…) at info.
 */
const LOGGED_AS_WARNING = new Set([401, 403, 429]);

export function installErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((error: FastifyError | BerthError, req: FastifyRequest, reply: FastifyReply) => {
    // A refusal before the body was read whole: the connection is not reused, and closed without losing the answer.
    if (!req.raw.complete) closeAfterAnswer(reply);
    let err = error;
    if (!(err instanceof BerthError) && isOutOfSpace(err)) {
      // the operator must hear of it: logged as an error (with what failed), answered 507 with what to do
      req.log.error({ err }, 'out of storage space');
      err = new BerthError('STORAGE_FULL');
    }
    if (err instanceof BerthError) {
      // one `msg` per line: what was wrong goes in `reason` (a `msg` field would make a second msg key)
      const level = LOGGED_AS_WARNING.has(err.status) ? 'warn' : 'info';
      req.log[level]({ code: err.code, status: err.status, reason: err.message }, 'request refused');
      const size = (err.detail as { size?: number } | undefined)?.size;
      if (err.code === 'RANGE_INVALID' && size !== undefined)
        reply.header('Content-Range', `bytes */${size}`);
      return reply.code(err.status).send(errorBody(answeredCode(err.code), err.message, err.detail));
    }
    const status = (err as FastifyError).statusCode;
    if (status !== undefined && status >= 400 && status < 500) {
      return reply.code(status).send(errorBody(frameworkCode(status), err.message));
    }
    req.log.error({ err }, 'internal error');
    return reply.code(500).send(errorBody('INTERNAL_ERROR', ERROR_CATALOGUE.INTERNAL_ERROR.message));
  });
  app.setNotFoundHandler((req, reply) => {
    reply.code(404).send(errorBody('NOT_FOUND', `no endpoint ${req.method} ${req.url.split('?')[0]}`));
  });
}

/**
 * fastify's `frameworkErrors`: what it refuses before any route or hook runs (a URL whose percent-encoding is
 * broken) is answered with an error body like every other refusal.
 */
export function answerFrameworkError(err: FastifyError, req: FastifyRequest, reply: FastifyReply): void {
  const e =
    err.code === 'FST_ERR_BAD_URL'
      ? badUrlError(req.server, req.method, req.raw.url ?? req.url)
      : new BerthError('PARAMETER_INVALID', err.message);
  closeAfterAnswer(reply);
  reply.code(e.status).send(errorBody(answeredCode(e.code), e.message, e.detail));
}

/**
 * An unknown path is answered before fastify reads any body it comes with. Installed after the hooks that must see
 * every request (metrics), as a refusal in onRequest skips the hooks after it.
 */
export function refuseUnknownPathsEarly(app: FastifyInstance): void {
  app.addHook('onRequest', async (req) => {
    if (req.is404) throw new BerthError('NOT_FOUND', `no endpoint ${req.method} ${req.url.split('?')[0]}`);
  });
}
