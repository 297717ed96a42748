// Sign in (a form: user name and password or API token → a session cookie) and sign out.
import type { Berth } from '../../app.js';
import { looksLikeApiToken } from '../../auth/api-tokens.js';
import type { Credentials } from '../../auth/auth.js';
import { SESSION_TTL_MS } from '../../auth/sessions.js';
import { BerthError } from '../../core/errors.js';
import { html } from '../html.js';
import { csrfField, redirect, sendPage } from '../layout.js';
import type { UiContext } from '../mount.js';
import { ANONYMOUS_COOKIE, SESSION_COOKIE, setCookie } from '../session.js';
import { localPath, urls } from '../urls.js';

function form(c: UiContext, next: string, problem?: string) {
  return html`${problem ? html`<p class="error" role="alert" id="sign-in-problem">${problem}</p>` : ''}
    <form
      method="post"
      action="${urls.signIn()}"
      class="stack"
      ${problem ? html` aria-describedby="sign-in-problem"` : ''}
    >
      ${csrfField(c)}
      <input type="hidden" name="next" value="${next}" />
      <label for="username">Username</label>
      <input
        id="username"
        name="username"
        autocomplete="username"
        autocapitalize="none"
        spellcheck="false"
        value="${c.form.get('username') ?? ''}"
        required
      />
      <label for="password">Password</label>
      <input id="password" name="password" type="password" autocomplete="current-password" required />
      <p class="muted">An API token works as the password too.</p>
      <button type="submit">Sign in</button>
    </form>`;
}

/** GET /sign-in (and /login): the form, or who is signed in already. */
export async function signInPage(c: UiContext) {
  const next = localPath(c.query.get('next'));
  if (c.principal.user !== null) {
    return sendPage(
      c,
      { title: 'Sign in' },
      html`<p>You are signed in as <strong>${c.principal.user}</strong>. <a href="${next}">Continue</a>.</p>`,
    );
  }
  return sendPage(c, { title: 'Sign in' }, form(c, next));
}

/**
 * POST /sign-in: the credentials are checked by the same code as /api/v1's Basic credentials (login limits
 * included); a new session replaces any cookie the visitor had. Wrong ones show the form again (401, or 429).
 */
export async function signIn(berth: Berth, c: UiContext) {
  const next = localPath(c.form.get('next'));
  const user = (c.form.get('username') ?? '').trim();
  const password = c.form.get('password') ?? '';
  const creds: Credentials =
    user === '' && looksLikeApiToken(password)
      ? { kind: 'bearer', token: password }
      : { kind: 'basic', user, password };
  try {
    if (password === '') throw new BerthError('UNAUTHORIZED', 'give your password (or an API token)');
    const p = await berth.auth.authenticate(creds, c.req.ip);
    if (p.user === null || p.userId === undefined || (p.by !== 'password' && p.by !== 'api-token'))
      throw new BerthError('UNAUTHORIZED', 'sign in with a user name and password, or an API token');
    const s = await berth.auth.sessions.create({
      userId: p.userId,
      user: p.user,
      tokenId: p.tokenId ?? null,
    });
    setCookie(c.req, c.reply, SESSION_COOKIE, s.secret, SESSION_TTL_MS / 1000);
    setCookie(c.req, c.reply, ANONYMOUS_COOKIE, '', 0);
    await berth.auth.audit.record({
      actor: p.user,
      address: c.req.ip,
      action: 'session.create',
      repository: null,
      detail: { by: p.by },
    });
    return redirect(c, next);
  } catch (e) {
    if (!(e instanceof BerthError) || (e.code !== 'UNAUTHORIZED' && e.code !== 'TOOMANYREQUESTS')) throw e;
    const retry = (e.detail as { retryAfterSeconds?: number } | undefined)?.retryAfterSeconds;
    if (retry !== undefined) c.reply.header('retry-after', String(retry));
    return sendPage(c, { title: 'Sign in' }, form(c, next, e.message), e.status);
  }
}

/** POST /sign-out: the session ends (its row goes; the cookie is cleared), then the repositories page. */
export async function signOut(berth: Berth, c: UiContext) {
  if (c.session) {
    await berth.auth.sessions.remove(c.session.secret);
    await berth.auth.audit.record({
      actor: c.session.user,
      address: c.req.ip,
      action: 'session.delete',
      repository: null,
      detail: {},
    });
  }
  setCookie(c.req, c.reply, SESSION_COOKIE, '', 0);
  return redirect(c, urls.home());
}
