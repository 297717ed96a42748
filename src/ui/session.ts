// Who is visiting the web pages: the session cookie (or none: anonymous), and the CSRF token of their forms.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Auth } from '../auth/auth.js';
import type { Principal } from '../auth/principal.js';
import { newSecret, type SessionRecord } from '../auth/sessions.js';
import { BerthError } from '../core/errors.js';

/** The cookie of a signed-in visitor: the session's secret. */
export const SESSION_COOKIE = 'berth_session';
/** The cookie of an anonymous visitor: the secret their CSRF token (the sign-in form's) is made from. */
export const ANONYMOUS_COOKIE = 'berth_visitor';

export interface Visitor {
  principal: Principal;
  /** the signed-in session (null: anonymous) */
  session: (SessionRecord & { secret: string }) | null;
  /** the token every form that changes something carries (`_csrf` field or `X-CSRF-Token` header) */
  csrf: string;
}

/** The cookies a request sent, by name (the first of a name wins). */
export function cookiesOf(req: FastifyRequest): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    const k = part.slice(0, eq).trim();
    if (!out.has(k)) out.set(k, part.slice(eq + 1).trim());
  }
  return out;
}

/** A secret as newSecret makes them: 43 URL-safe characters; anything else is ignored. */
const isSecret = (s: string | undefined): s is string => s !== undefined && /^[A-Za-z0-9_-]{43}$/.test(s);

/** Sets (maxAge > 0) or clears (0) a cookie: HttpOnly, SameSite=Strict, path /, and Secure over HTTPS. */
export function setCookie(
  req: FastifyRequest,
  reply: FastifyReply,
  name: string,
  value: string,
  maxAgeSeconds: number,
): void {
  const parts = [`${name}=${value}`, 'Path=/', 'HttpOnly', 'SameSite=Strict', `Max-Age=${maxAgeSeconds}`];
  if (req.protocol === 'https') parts.push('Secure');
  const prev = reply.getHeader('set-cookie');
  const list = prev === undefined ? [] : Array.isArray(prev) ? prev : [String(prev)];
  reply.header('set-cookie', [...list.filter((c) => !c.startsWith(`${name}=`)), parts.join('; ')]);
}

/** The CSRF token of a secret: unguessable without the cookie, the same for every form of the session. */
export const csrfOf = (secret: string): string =>
  createHash('sha256').update(`berth-csrf\0${secret}`).digest('base64url');

/**
 * Who is visiting: the session's principal (built by Auth, as /api/v1's is) while the session is valid; else
 * anonymous, with a cookie for their CSRF token (set here when absent). A stale session cookie is cleared.
 */
export async function visitorOf(auth: Auth, req: FastifyRequest, reply: FastifyReply): Promise<Visitor> {
  const cookies = cookiesOf(req);
  const secret = cookies.get(SESSION_COOKIE);
  if (isSecret(secret)) {
    const s = await auth.sessions.find(secret);
    const principal = s && (await auth.sessionPrincipal(s));
    if (s && principal) return { principal, session: { ...s, secret }, csrf: csrfOf(secret) };
    setCookie(req, reply, SESSION_COOKIE, '', 0);
  }
  // anonymous: public repositories only (the same principal as /api/v1 gives a request without credentials)
  const principal = await auth.authenticate({ kind: 'none' }, req.ip);
  let anon = cookies.get(ANONYMOUS_COOKIE);
  if (!isSecret(anon)) {
    anon = newSecret();
    setCookie(req, reply, ANONYMOUS_COOKIE, anon, 24 * 60 * 60);
  }
  return { principal, session: null, csrf: csrfOf(anon) };
}

/** Refuses (403 CSRF_INVALID) a request whose token is not the visitor's. */
export function checkCsrf(visitor: Visitor, given: string | null | undefined): void {
  const want = Buffer.from(visitor.csrf);
  const got = Buffer.from(given ?? '');
  if (given === null || given === undefined || given === '')
    throw new BerthError(
      'CSRF_INVALID',
      'the form came without its CSRF token (field _csrf or header X-CSRF-Token): reload the page and send it again',
    );
  if (got.length !== want.length || !timingSafeEqual(got, want))
    throw new BerthError(
      'CSRF_INVALID',
      "the CSRF token is not this session's (signed in or out since the page was loaded?): reload the page and send it again",
    );
}
