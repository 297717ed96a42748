// A route table for path spaces whose names contain slashes (/v2/<name>/…, /api/v1/repositories/<name>/-/…).
import type { FastifyInstance, FastifyReply, FastifyRequest, HTTPMethods } from 'fastify';
import type { z } from 'zod';
import { BerthError } from '../core/errors.js';
import type { Action } from '../auth/permissions.js';
import type { Principal } from '../auth/principal.js';
import { compilePath, parsePathParams, type ParamNames, type PathParams } from './route-params.js';
import { hasControl, validBody } from './validate.js';

export type Method = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

interface RequestContext {
  req: FastifyRequest;
  reply: FastifyReply;
  /** the path parameters as they came, URL-decoded (for access checks and the audit log) */
  params: Record<string, string>;
  query: URLSearchParams;
  /** who is asking (checked against the route's access before the handler runs) */
  principal: Principal;
  /** what the handler adds to the audit record of an audited route */
  auditDetail?: Record<string, unknown>;
}

/**
 * What a handler receives: the request, the parsed path parameters its route's path names (`K`), and the
 * request body its route's schema validated (`B`), if the route has one.
 */
export type RouteContext<K extends keyof PathParams = never, B = undefined> = RequestContext &
  Pick<PathParams, K> &
  ([B] extends [undefined] ? unknown : { body: B });

/**
 * Who may call a route: anyone; any signed-in user; an administrator of the instance; or a caller allowed
 * this action (pull, push, delete, admin) on the repository named in the path.
 */
export type Access = 'anyone' | 'signed-in' | 'administrator' | Action;

/** A JSON request body's schema, and the shape a refusal shows the caller. */
export interface BodySchema<T> {
  schema: z.ZodType<T>;
  expected: string;
  /** top-level fields whose text may hold line breaks (a PEM certificate); other control characters stay refused */
  multiline?: readonly string[];
}

/** One row of a route table, as `route()` makes it. */
export interface Route {
  /** the route's bounded name, e.g. "blob.get": the `route` label of the metrics */
  name: string;
  methods: Method[];
  pattern: RegExp;
  access: Access;
  /** recorded in the audit log under this action when the request succeeds */
  audit?: string;
  body?: BodySchema<unknown>;
  /** the shape of a successful JSON answer (shared with the CLI, which parses answers with it) */
  response?: z.ZodType;
  handler: (ctx: RouteContext<keyof PathParams, unknown>) => Promise<unknown>;
}

/** What a handler returns: an answer of its route's schema (sent as JSON), or the reply it has sent itself. */
export type Answer<R> = R extends z.ZodType ? z.input<R> | FastifyReply : unknown;

export interface RouteSpec<P extends string, B, R extends z.ZodType | undefined> extends Omit<
  Route,
  'pattern' | 'body' | 'response' | 'handler'
> {
  /** e.g. "/v2/{name}/blobs/{digest}": the parameters are those of `PathParams` */
  path: P;
  body?: BodySchema<B>;
  response?: R;
  handler: (ctx: RouteContext<ParamNames<P> & keyof PathParams, B>) => Promise<Answer<R>>;
}

/**
 * A route table row: the handler receives the parameters its path names, parsed, and its body, validated; what it
 * returns must fit the answer's schema.
 */
export function route<P extends string, B = undefined, R extends z.ZodType | undefined = undefined>(
  spec: RouteSpec<P, B, R>,
): Route {
  const { path, ...rest } = spec;
  return { ...rest, pattern: compilePath(path) } as Route;
}

export interface RouteTableOptions {
  /** called before anything else, e.g. for headers every answer carries */
  onEvery?: (reply: FastifyReply) => void;
  /** who is asking, if the route's access allows them; otherwise throws UNAUTHORIZED or DENIED */
  authorize: (ctx: Omit<RequestContext, 'principal'>, access: Access) => Promise<Principal>;
  /** records a successful audited request */
  audit?: (ctx: RequestContext, action: string) => Promise<void>;
}

/** The route a path and method match in a table: the first whose pattern and methods fit. */
export interface Found {
  /** undefined: no route; pathKnown then says whether another method would have matched */
  route?: Route;
  /** the pattern's named groups, as in the path (URL-encoded) */
  groups: Record<string, string>;
  pathKnown: boolean;
}

export function findRoute(routes: readonly Route[], method: string, path: string): Found {
  let pathKnown = false;
  for (const r of routes) {
    const m = r.pattern.exec(path);
    if (!m) continue;
    pathKnown = true;
    if (r.methods.includes(method as Method)) return { route: r, groups: m.groups ?? {}, pathKnown };
  }
  return { groups: {}, pathKnown };
}

/** The route a request matched, found once when the request arrives. */
interface Match extends Found {
  path: string;
  query: URLSearchParams;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** the name of a route outside the route tables (e.g. "healthz"), for the metrics */
    routeName?: string;
  }
}

const matches = new WeakMap<FastifyRequest, Match>();

/**
 * The bounded name of the route a request matched, never a repository name or digest: a route table's row
 * (known once the table's onRequest hook ran), a named route outside the tables, or "unmatched".
 */
export function routeLabel(req: FastifyRequest): string {
  return (
    matches.get(req)?.route?.name ?? labels.get(req) ?? req.routeOptions.config?.routeName ?? 'unmatched'
  );
}

/** The names other route tables (the web UI's) give the requests they matched, for the metrics. */
const labels = new WeakMap<FastifyRequest, string>();

/** Labels a request with the name of the row of another route table (the web UI's) that it matched. */
export function labelRequest(req: FastifyRequest, name: string): void {
  labels.set(req, name);
}

function match(req: FastifyRequest, routes: Route[]): Match {
  const url = req.raw.url ?? req.url;
  const q = url.indexOf('?');
  const path = q < 0 ? url : url.slice(0, q);
  const query = new URLSearchParams(q < 0 ? '' : url.slice(q + 1));
  return { path, query, ...findRoute(routes, req.method, path) };
}

/** A request whose access was checked: its route, decoded parameters and caller. */
const authorized = new WeakMap<
  FastifyRequest,
  { route: Route; params: Record<string, string>; principal: Principal }
>();

/** The path parameters URL-decoded; bad encoding or a control character (NUL…) in one is refused. */
function decoded(groups: Record<string, string>): Record<string, string> {
  const params: Record<string, string> = {};
  for (const [k, v] of Object.entries(groups)) {
    let d: string;
    try {
      d = decodeURIComponent(v);
    } catch {
      if (k === 'name')
        throw new BerthError('NAME_INVALID', `the repository name "${v}" is not valid URL encoding`);
      throw new BerthError('PARAMETER_INVALID', `the path segment "${v}" is not valid URL encoding`);
    }
    if (hasControl(d)) {
      const what =
        k === 'name'
          ? 'NAME_INVALID'
          : k === 'reference' || k === 'tagOrDigest' || k === 'tag'
            ? 'TAG_INVALID'
            : 'PARAMETER_INVALID';
      throw new BerthError(what, `the path segment "${v}" holds a control character`);
    }

    params[k] = d;
  }
  return params;
}

/** Query parameters are text: one holding a control character (NUL, …) is refused before anything reads it. */
function refuseControlsInQuery(query: URLSearchParams): void {
  for (const [k, v] of query) {
    if (hasControl(k) || hasControl(v))
      throw new BerthError(
        'PARAMETER_INVALID',
        `the query parameter ${JSON.stringify(k)} holds a control character`,
      );
  }
}

const ALL: HTTPMethods[] = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'];

/** The route tables mounted on each server, for the requests fastify refuses before any route runs. */
const mounted = new WeakMap<FastifyInstance, Route[]>();

/**
 * Why fastify could not route `url` (its percent-encoding is broken): the refusal of the parameter that holds the
 * bad encoding (NAME_INVALID for a repository name), as the route would have answered it.
 */
export function badUrlError(app: FastifyInstance, method: string, url: string): BerthError {
  const q = url.indexOf('?');
  const path = q < 0 ? url : url.slice(0, q);
  const found = findRoute(mounted.get(app) ?? [], method, path);
  try {
    decoded(found.groups);
  } catch (e) {
    if (e instanceof BerthError) return e;
  }
  return new BerthError('PARAMETER_INVALID', `the path ${path} is not valid URL encoding`);
}

/**
 * Registers `routes` under `prefix`: the first pattern matching the path wins; a known path with another method
 * is 405. The caller's access is checked before any body is read and before the path parameters are parsed and
 * the body validated, so a refusal reveals nothing of what exists and holds nothing; then the handler runs with
 * typed values.
 */
export function mountRoutes(
  app: FastifyInstance,
  prefix: string,
  routes: Route[],
  opts: RouteTableOptions,
): void {
  // An audited request is recorded as its answer is sent (onSend), not after: a client told of success finds it
  // in the audit log, and a process that dies after answering has not left it out.
  const audited = new WeakMap<FastifyRequest, { ctx: RequestContext; action: string }>();
  const onSend = async (req: FastifyRequest, reply: FastifyReply, payload: unknown) => {
    const a = audited.get(req);
    audited.delete(req);
    if (a && opts.audit && reply.statusCode < 400) await opts.audit(a.ctx, a.action);
    return payload;
  };
  // Access is checked when the request arrives (onRequest), before fastify reads any body: a caller without the
  // right is answered at once, and its body is never read nor held.
  const onRequest = async (req: FastifyRequest, reply: FastifyReply) => {
    const m = match(req, routes);
    matches.set(req, m);
    opts.onEvery?.(reply);
    const { path, query, route: r, groups, pathKnown } = m;
    if (!r) {
      // An unknown path or method is answered the same to everyone.
      if (pathKnown) throw new BerthError('METHOD_NOT_ALLOWED', `${req.method} is not allowed on ${path}`);
      throw new BerthError('NOT_FOUND', `no endpoint ${req.method} ${path}`);
    }
    const params = decoded(groups);
    refuseControlsInQuery(query);
    const principal = await opts.authorize({ req, reply, params, query }, r.access);
    authorized.set(req, { route: r, params, principal });
  };
  const handler = async (req: FastifyRequest, reply: FastifyReply) => {
    const { query } = matches.get(req)!;
    const { route: r, params, principal } = authorized.get(req)!;
    const ctx: RequestContext = { req, reply, params, query, principal };
    const typed = parsePathParams(params);
    const body = r.body && validBody(r.body.schema, req.body, r.body.expected, r.body.multiline);
    if (r.audit) audited.set(req, { ctx, action: r.audit });
    // the handler's additions to the audit record land on ctx, which the audit reads
    return await r.handler(
      Object.assign(ctx, typed, r.body ? { body } : {}) as RouteContext<keyof PathParams, unknown>,
    );
  };
  mounted.set(app, [...(mounted.get(app) ?? []), ...routes]);
  app.route({ method: ALL, url: prefix, handler, onRequest, onSend });
  app.route({ method: ALL, url: `${prefix}/*`, handler, onRequest, onSend });
}

/** Reads an optional non-negative integer query parameter. */
export function intParam(query: URLSearchParams, name: string): number | undefined {
  const v = query.get(name);
  if (v === null || v === '') return undefined;
  if (!/^\d{1,9}$/.test(v))
    throw new BerthError('PARAMETER_INVALID', `query parameter ${name}=${v} must be a non-negative integer`);
  return Number(v);
}
