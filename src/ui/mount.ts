// The web UI's route table on the server: each row named, with its access; the visitor, CSRF check and error pages.
import type { FastifyInstance, FastifyReply, FastifyRequest, HTTPMethods } from 'fastify';
import type { Berth } from '../app.js';
import { can, type Principal } from '../auth/principal.js';
import { BerthError } from '../core/errors.js';
import { hasControl } from '../core/references.js';
import { auditor } from '../http/access.js';
import { readSmallBody } from '../http/body.js';
import { labelRequest, type Access } from '../http/router.js';
import { compilePath, parsePathParams, type ParamNames, type PathParams } from '../http/route-params.js';
import { Html } from './html.js';
import { errorPage, repositoryNotFound, securityHeaders } from './errors.js';
import { checkCsrf, visitorOf, type Visitor } from './session.js';

export type UiMethod = 'GET' | 'POST';

/** What every UI handler receives (the parsed path parameters come on top: `UiContext`). */
export interface UiRequest {
  req: FastifyRequest;
  reply: FastifyReply;
  /** the path parameters as they came, URL-decoded */
  params: Record<string, string>;
  query: URLSearchParams;
  /** who is visiting: a session's user, or anonymous (public repositories only) */
  principal: Principal;
  /** the signed-in session (null: anonymous) */
  session: Visitor['session'];
  /** the visitor's CSRF token: csrfField(ctx) puts it in a form */
  csrf: string;
  /** the fields of a form POST (a route with body 'form'); empty otherwise */
  form: URLSearchParams;
  /** the route's name */
  route: string;
  /** the path of the page (no query) */
  path: string;
  /**
   * For a route with body 'stream' sent without an X-CSRF-Token header: the handler calls this with the `_csrf`
   * field it reads first (before anything else of the body), and it refuses a wrong or missing one.
   */
  checkCsrf(given: string | null | undefined): void;
  /** what the handler adds to the audit record of an audited route */
  auditDetail?: Record<string, unknown>;
}

export type UiContext<K extends keyof PathParams = never> = UiRequest & Pick<PathParams, K>;

export interface UiRoute {
  /** bounded, /^[a-z]+(\.[a-z]+)?$/: `page.X` for what a GET shows, `form.X` for what a POST does */
  name: string;
  methods: UiMethod[];
  pattern: RegExp;
  /** the first segment of the path (e.g. "repositories"; "" for "/"): the server routes these to the UI */
  root: string;
  access: Access;
  audit?: string;
  /** a static file: no visitor (no session looked up, no cookie set) */
  plain?: boolean;
  /** a POST's body: 'form' (urlencoded, read whole, at most 64 KiB; the default) or 'stream' (left unread) */
  body?: 'form' | 'stream';
  handler: (ctx: UiContext<keyof PathParams>) => Promise<unknown>;
}

export interface UiRouteSpec<P extends string> extends Omit<UiRoute, 'pattern' | 'root' | 'handler'> {
  /** e.g. "/repositories/{name}/-/versions/{number}/restore" (parameters as in /api/v1's table) */
  path: P;
  /** sends the answer (sendPage, redirect) and returns the reply; an Html returned is sent as a fragment */
  handler: (ctx: UiContext<ParamNames<P> & keyof PathParams>) => Promise<unknown>;
}

const NAME = /^[a-z]+(\.[a-z]+)?$/;

/** A row of the UI's route table. */
export function uiRoute<P extends string>(spec: UiRouteSpec<P>): UiRoute {
  const { path, ...rest } = spec;
  if (!NAME.test(spec.name)) throw new Error(`UI route name ${spec.name} must match ${NAME}`);
  const root = /^\/([^/{?]*)/.exec(path)![1]!;
  return { ...rest, pattern: compilePath(path), root } as UiRoute;
}

export { repositoryNotFound };

/** The route access check: UNAUTHORIZED (anonymous), DENIED, or a repository the visitor may not read: 404. */
function checkAccess(p: Principal, access: Access, params: Record<string, string>): void {
  if (access === 'anyone') return;
  const name = params.name;
  if (name !== undefined && access !== 'signed-in' && access !== 'administrator') {
    if (!can(p, name, 'pull')) throw repositoryNotFound(name);
    if (can(p, name, access)) return;
  }
  if (p.user === null) throw new BerthError('UNAUTHORIZED', 'sign in to see this page');
  if (access === 'signed-in') return;
  if (access === 'administrator') {
    if (p.admin) return;
    throw new BerthError('DENIED', `${p.user} is not an administrator`);
  }
  throw new BerthError('DENIED', `${p.user} may not ${access} repository ${name}`);
}

function decodeParams(groups: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(groups)) {
    let d: string;
    try {
      d = decodeURIComponent(v);
    } catch {
      throw new BerthError('PARAMETER_INVALID', `the path segment "${v}" is not valid URL encoding`);
    }
    if (hasControl(d))
      throw new BerthError('PARAMETER_INVALID', `the path segment "${v}" holds a control character`);
    out[k] = d;
  }
  return out;
}

interface Matched {
  route: UiRoute;
  params: Record<string, string>;
  path: string;
  query: URLSearchParams;
}

function find(routes: readonly UiRoute[], method: string, url: string): Matched {
  const q = url.indexOf('?');
  const path = q < 0 ? url : url.slice(0, q);
  const query = new URLSearchParams(q < 0 ? '' : url.slice(q + 1));
  const m = method === 'HEAD' ? 'GET' : method;
  let known = false;
  for (const r of routes) {
    const found = r.pattern.exec(path);
    if (!found) continue;
    known = true;
    if (r.methods.includes(m as UiMethod))
      return { route: r, params: decodeParams(found.groups ?? {}), path, query };
  }
  if (known) throw new BerthError('METHOD_NOT_ALLOWED', `${method} is not allowed on ${path}`);
  throw new BerthError('NOT_FOUND', `there is no page ${path}`);
}

const FORM_MAX = 64 * 1024;
const ALL: HTTPMethods[] = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'];

/** What the UI knows of a request: kept from its onRequest hook to its handler and error page. */
const state = new WeakMap<FastifyRequest, { visitor?: Visitor; matched?: Matched; ctx?: UiRequest }>();

/** The visitor of a UI request, once known (error pages show the signed-in user). */
export const visitorOfRequest = (req: FastifyRequest): Visitor | undefined => state.get(req)?.visitor;

/**
 * Serves the UI's routes: every path under the roots of `routes` ("/" and e.g. "/repositories/…") is the UI's;
 * the rest of the server (/v2, /api/v1, /metrics…) is untouched. Errors answer as pages.
 */
export function mountUi(app: FastifyInstance, berth: Berth, routes: UiRoute[]): void {
  const audit = auditor(berth.auth);
  const roots = [...new Set(routes.map((r) => r.root))];
  app.register(async (ui) => {
    ui.setErrorHandler((err: Error, req, reply) => errorPage(err, req, reply, state.get(req)));
    const onRequest = async (req: FastifyRequest, reply: FastifyReply) => {
      const s: { visitor?: Visitor; matched?: Matched } = {};
      state.set(req, s);
      securityHeaders(reply);
      let matched: Matched;
      try {
        matched = find(routes, req.method, req.raw.url ?? req.url);
      } catch (e) {
        // the page that says so shows who is signed in
        s.visitor = await visitorOf(berth.auth, req, reply);
        throw e;
      }
      s.matched = matched;
      labelRequest(req, matched.route.name);
      if (matched.route.plain) return;
      s.visitor = await visitorOf(berth.auth, req, reply);
      for (const [k, v] of matched.query)
        if (hasControl(k) || hasControl(v))
          throw new BerthError(
            'PARAMETER_INVALID',
            `the query parameter ${JSON.stringify(k)} holds a control character`,
          );
      checkAccess(s.visitor.principal, matched.route.access, matched.params);
      // a form that changes something: its token came as a header, or comes in the body (read by the handler)
      const header = req.headers['x-csrf-token'];
      if (req.method !== 'GET' && req.method !== 'HEAD' && header !== undefined)
        checkCsrf(s.visitor, typeof header === 'string' ? header : undefined);
    };
    const handler = async (req: FastifyRequest, reply: FastifyReply) => {
      const s = state.get(req)!;
      const { route: r, params, path, query } = s.matched!;
      // a static file: no visitor, no form
      const visitor = s.visitor ?? { principal: berth.auth.anonymous(), session: null, csrf: '' };
      const write = req.method !== 'GET' && req.method !== 'HEAD';
      const headerToken = req.headers['x-csrf-token'];
      let form = new URLSearchParams();
      let csrfChecked = write && typeof headerToken === 'string';
      if (write && r.body !== 'stream') {
        const bytes = await readSmallBody(
          req,
          FORM_MAX,
          () => new BerthError('PARAMETER_INVALID', `a form is at most ${FORM_MAX} bytes`),
        );
        const type = String(req.headers['content-type'] ?? '');
        if (bytes.length > 0 && !type.startsWith('application/x-www-form-urlencoded'))
          throw new BerthError(
            'UNSUPPORTED',
            `this form takes application/x-www-form-urlencoded, not ${type || 'a body without a type'}`,
          );
        form = new URLSearchParams(bytes.toString('utf8'));
        if (!csrfChecked) checkCsrf(visitor, form.get('_csrf'));
        csrfChecked = true;
      }
      const ctx: UiRequest = {
        req,
        reply,
        params,
        query,
        principal: visitor.principal,
        session: visitor.session,
        csrf: visitor.csrf,
        form,
        route: r.name,
        path,
        checkCsrf: (given) => {
          if (!csrfChecked) checkCsrf(visitor, given);
          csrfChecked = true;
        },
      };
      s.ctx = ctx;
      const typed = parsePathParams(params);
      const out = await r.handler(Object.assign(ctx, typed) as UiContext<keyof PathParams>);
      if (write && !csrfChecked) {
        // a streamed form whose handler never checked the token: a programming error, refused loudly
        throw new Error(`UI route ${r.name} took a streamed body without checking its CSRF token`);
      }
      if (out instanceof Html) {
        reply.type('text/html; charset=utf-8');
        return reply.send(out.text);
      }
      return out;
    };
    const onSend = async (req: FastifyRequest, reply: FastifyReply, payload: unknown) => {
      const s = state.get(req);
      const r = s?.matched?.route;
      if (r?.audit && s?.ctx && reply.statusCode < 400) await audit(s.ctx as never, r.audit);
      // HEAD: the headers of GET, no body
      return req.method === 'HEAD' ? null : payload;
    };
    const config = { routeName: 'ui' };
    for (const root of roots) {
      const urls = root === '' ? ['/'] : [`/${root}`, `/${root}/*`];
      for (const url of urls) ui.route({ method: ALL, url, handler, onRequest, onSend, config });
    }
  });
}
