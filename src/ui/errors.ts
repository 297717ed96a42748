// The web UI's refusals as pages: the same codes and words as /api/v1, shown in the page shell; headers of every page.
import type { FastifyReply, FastifyRequest } from 'fastify';
import { anonymous } from '../auth/principal.js';
import { BerthError, ERROR_CATALOGUE, isOutOfSpace } from '../core/errors.js';
import { html } from './html.js';
import { sendPage, type PageContext } from './layout.js';
import type { UiRequest } from './mount.js';
import type { Visitor } from './session.js';
import { urls } from './urls.js';

/** Headers every UI answer carries: a CSP that allows this site's own files only, no framing, no sniffing. */
export function securityHeaders(reply: FastifyReply): void {
  reply.header(
    'content-security-policy',
    "default-src 'self'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'; object-src 'none'",
  );
  reply.header('x-content-type-options', 'nosniff');
  reply.header('x-frame-options', 'DENY');
  reply.header('referrer-policy', 'same-origin');
}

const TITLES: Record<number, string> = {
  400: 'That request was not understood',
  401: 'Sign in',
  403: 'Not allowed',
  404: 'Not found',
  405: 'Not allowed',
  413: 'Too large',
  415: 'Not understood',
  429: 'Too many attempts',
  500: 'Something went wrong',
};

/** The same 404 for a repository that does not exist and for one the visitor may not read. */
export const repositoryNotFound = (name: string): BerthError =>
  new BerthError('NAME_UNKNOWN', `there is no repository ${name}, or you may not see it`);

interface KnownOf {
  visitor?: Visitor;
  matched?: { path: string; params: Record<string, string> };
  ctx?: UiRequest;
}

/**
 * Answers an error of a UI request as a page: a BerthError with its status, code and message; an anonymous visitor
 * asking for a page that needs sign-in (GET) is sent to the sign-in page; anything else is a 500 logged with
 * its stack and shown without it.
 */
export function errorPage(
  error: Error,
  req: FastifyRequest,
  reply: FastifyReply,
  known: KnownOf | undefined,
) {
  if (!req.raw.complete) reply.header('connection', 'close');
  let err: BerthError;
  if (error instanceof BerthError) err = error;
  else if (isOutOfSpace(error)) {
    req.log.error({ err: error }, 'out of storage space');
    err = new BerthError('STORAGE_FULL');
  } else {
    const status = (error as { statusCode?: number }).statusCode;
    if (status !== undefined && status >= 400 && status < 500) {
      err = new BerthError(status === 404 ? 'NOT_FOUND' : 'PARAMETER_INVALID', error.message);
    } else {
      req.log.error({ err: error }, 'internal error');
      err = new BerthError('INTERNAL_ERROR', ERROR_CATALOGUE.INTERNAL_ERROR.message);
    }
  }
  // whatever said so (the access check, or a service for a repository that is not there), one page: no leak
  const name = known?.matched?.params.name;
  if (err.code === 'NAME_UNKNOWN' && name !== undefined) err = repositoryNotFound(name);
  const level = [401, 403, 429].includes(err.status) ? 'warn' : 'info';
  if (err.code !== 'INTERNAL_ERROR')
    req.log[level]({ code: err.code, status: err.status, reason: err.message }, 'request refused');
  const path = known?.matched?.path ?? req.url.split('?')[0]!;
  const visitor = known?.visitor;
  if (
    err.code === 'UNAUTHORIZED' &&
    visitor?.session === null &&
    (req.method === 'GET' || req.method === 'HEAD')
  )
    return reply.code(303).header('location', urls.signIn(path)).send();
  const retry = (err.detail as { retryAfterSeconds?: number } | undefined)?.retryAfterSeconds;
  if (err.code === 'TOOMANYREQUESTS' && retry !== undefined) reply.header('retry-after', String(retry));
  const ctx: PageContext & { reply: FastifyReply } = {
    reply,
    path,
    principal: visitor?.principal ?? anonymous(() => []),
    session: visitor?.session ?? null,
    csrf: visitor?.csrf ?? '',
  };
  const title = TITLES[err.status] ?? 'Refused';
  return sendPage(
    ctx,
    { title },
    html`<section class="error" role="alert">
      <p class="message">${err.message}</p>
      <p class="code">${err.code} (HTTP ${err.status})</p>
      ${err.code === 'CSRF_INVALID' ? html`<p>Go <a href="${path}">back to the page</a>, reload it, and send the form again.</p>` : ''}
      ${err.code === 'NAME_UNKNOWN' && visitor?.session === null ? html`<p>If you expected to see it, <a href="${urls.signIn(path)}">sign in</a>.</p>` : ''}
      <p><a href="/">Repositories</a></p>
    </section>`,
    err.status,
  );
}
