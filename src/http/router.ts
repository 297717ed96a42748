// A route table for path spaces whose names contain slashes (/v2/<name>/…, /api/v1/repositories/<name>/-/…).
import type { FastifyInstance, FastifyReply, FastifyRequest, HTTPMethods } from 'fastify';
import { BerthError } from '../core/errors.js';

export type Method = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

export interface RouteContext {
  req: FastifyRequest;
  reply: FastifyReply;
  /** named groups of the pattern, URL-decoded */
  params: Record<string, string>;
  query: URLSearchParams;
}

export interface Route {
  methods: Method[];
  pattern: RegExp;
  handler: (ctx: RouteContext) => Promise<unknown>;
}

const ALL: HTTPMethods[] = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'];

/** Registers `routes` under `prefix`: the first pattern matching the path wins; a known path with another method is 405. */
export function mountRoutes(
  app: FastifyInstance,
  prefix: string,
  routes: Route[],
  onEvery?: (reply: FastifyReply) => void,
): void {
  const handler = async (req: FastifyRequest, reply: FastifyReply) => {
    onEvery?.(reply);
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
      return r.handler({ req, reply, params, query });
    }
    if (pathKnown) throw new BerthError('METHOD_NOT_ALLOWED', `${req.method} is not allowed on ${path}`);
    throw new BerthError('NOT_FOUND', `no endpoint ${req.method} ${path}`);
  };
  app.route({ method: ALL, url: prefix, handler });
  app.route({ method: ALL, url: `${prefix}/*`, handler });
}

/** Reads an optional non-negative integer query parameter. */
export function intParam(query: URLSearchParams, name: string): number | undefined {
  const v = query.get(name);
  if (v === null || v === '') return undefined;
  if (!/^\d{1,9}$/.test(v))
    throw new BerthError('PARAMETER_INVALID', `query parameter ${name}=${v} must be a non-negative integer`);
  return Number(v);
}
