// A route table for path spaces whose names contain slashes (/v2/<name>/…, /api/v1/repositories/<name>/-/…).
import type { FastifyInstance, FastifyReply, FastifyRequest, HTTPMethods } from 'fastify';
import { BerthError } from '../core/errors.js';
import type { Action } from '../auth/permissions.js';
import type { Principal } from '../auth/principal.js';

export type Method = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

export interface RouteContext {
  req: FastifyRequest;
  reply: FastifyReply;
  /** named groups of the pattern, URL-decoded */
  params: Record<string, string>;
  query: URLSearchParams;
  /** who is asking (checked against the route's access before the handler runs) */
  principal: Principal;
  /** what the handler adds to the audit record of an audited route */
  auditDetail?: Record<string, unknown>;
}

/**
 * Who may call a route: anyone; any signed-in user; an administrator of the instance; or a caller allowed
 * this action (pull, push, delete, admin) on the repository named in the path.
 */
export type Access = 'anyone' | 'signed-in' | 'administrator' | Action;

export interface Route {
  methods: Method[];
  pattern: RegExp;
  access: Access;
  /** recorded in the audit log under this action when the request succeeds */
  audit?: string;
  handler: (ctx: RouteContext) => Promise<unknown>;
}

export interface RouteTableOptions {
  /** called before anything else, e.g. for headers every answer carries */
  onEvery?: (reply: FastifyReply) => void;
  /** who is asking, if the route's access allows them; otherwise throws UNAUTHORIZED or DENIED */
  authorize: (ctx: Omit<RouteContext, 'principal'>, access: Access) => Promise<Principal>;
  /** records a successful audited request */
  audit?: (ctx: RouteContext, action: string) => Promise<void>;
}

const ALL: HTTPMethods[] = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'];

/**
 * Registers `routes` under `prefix`: the first pattern matching the path wins; a known path with another method
 * is 405. The caller's access is checked before the handler runs, so a refusal reveals nothing of what exists.
 */
export function mountRoutes(
  app: FastifyInstance,
  prefix: string,
  routes: Route[],
  opts: RouteTableOptions,
): void {
  // An audited request is recorded as its answer is sent (onSend), not after: a client told of success finds it
  // in the audit log, and a process that dies after answering has not left it out.
  const audited = new WeakMap<FastifyRequest, { ctx: RouteContext; action: string }>();
  const onSend = async (req: FastifyRequest, reply: FastifyReply, payload: unknown) => {
    const a = audited.get(req);
    audited.delete(req);
    if (a && opts.audit && reply.statusCode < 400) await opts.audit(a.ctx, a.action);
    return payload;
  };
  const handler = async (req: FastifyRequest, reply: FastifyReply) => {
    opts.onEvery?.(reply);
    const url = req.raw.url ?? req.url;
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    const query = new URLSearchParams(q < 0 ? '' : url.slice(q + 1));
    let pathKnown = false;
    for (const r of routes) {
      const m = r.pattern.exec(path);
      if (!m) continue;
      pathKnown = true;
      if (!r.methods.includes(req.method as Method)) continue;
      const params: Record<string, string> = {};
      for (const [k, v] of Object.entries(m.groups ?? {})) {
        try {
          params[k] = decodeURIComponent(v);
        } catch {
          throw new BerthError('PARAMETER_INVALID', `the path segment "${v}" is not valid URL encoding`);
        }
      }
      const principal = await opts.authorize({ req, reply, params, query }, r.access);
      const ctx: RouteContext = { req, reply, params, query, principal };
      if (r.audit) audited.set(req, { ctx, action: r.audit });
      return await r.handler(ctx);
    }
    // An unknown path or method is answered the same to everyone.
    if (pathKnown) throw new BerthError('METHOD_NOT_ALLOWED', `${req.method} is not allowed on ${path}`);
    throw new BerthError('NOT_FOUND', `no endpoint ${req.method} ${path}`);
  };
  app.route({ method: ALL, url: prefix, handler, onSend });
  app.route({ method: ALL, url: `${prefix}/*`, handler, onSend });
}

/** Reads an optional non-negative integer query parameter. */
export function intParam(query: URLSearchParams, name: string): number | undefined {
  const v = query.get(name);
  if (v === null || v === '') return undefined;
  if (!/^\d{1,9}$/.test(v))
    throw new BerthError('PARAMETER_INVALID', `query parameter ${name}=${v} must be a non-negative integer`);
  return Number(v);
}
