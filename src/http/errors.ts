// The one place errors become HTTP responses: BerthError by the catalogue, framework errors as 4xx, the rest as 500.
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { answeredCode, BerthError, ERROR_CATALOGUE, type ErrorCode } from '../core/errors.js';

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

export function installErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((err: FastifyError | BerthError, req: FastifyRequest, reply: FastifyReply) => {
    // A refusal before the body was read whole: the rest is drained, and the connection not reused.
    if (!req.raw.complete) reply.header('Connection', 'close');
    if (err instanceof BerthError) {
      req.log.info({ code: err.code, msg: err.message }, 'request refused');
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
