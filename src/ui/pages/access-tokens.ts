// /access: the visitor's own API tokens — create one (scopes, expiry; the secret shown once), revoke one.
import type { Berth } from '../../app.js';
import type { TokenInfo } from '../../auth/api-tokens.js';
import { parseActions, parsePattern, type Grant } from '../../auth/permissions.js';
import { parseDuration } from '../../core/durations.js';
import { BerthError } from '../../core/errors.js';
import { copyButton, time } from '../format.js';
import { html, type Html } from '../html.js';
import { csrfField, redirect, sendPage } from '../layout.js';
import type { UiContext } from '../mount.js';
import { urls } from '../urls.js';
import { accessTabs } from './access-tabs.js';

export const EXPIRIES = ['7d', '30d', '90d', '365d', 'never'] as const;

function tokenRows(c: UiContext, tokens: TokenInfo[]): Html {
  if (tokens.length === 0) return html`<p>You have no API tokens.</p>`;
  return html`<div class="table-wrap"><table class="responsive">
  <thead><tr><th scope="col">Name</th><th scope="col">ID</th><th scope="col">Scopes</th><th scope="col">Created</th><th scope="col">Expires</th><th scope="col">Last used</th><th scope="col">State</th><th scope="col"><span class="muted">Action</span></th></tr></thead>
  <tbody>${tokens.map(
    (t) => html`<tr>
    <td data-label="Name">${t.name}</td>
    <td data-label="ID"><code>${t.id}</code></td>
    <td data-label="Scopes">${t.scopes === null ? html`<span class="muted">everything you may do</span>` : t.scopes.map((s) => html`<code>${s}</code> `)}</td>
    <td data-label="Created">${time(t.createdAt)}</td>
    <td data-label="Expires">${t.expiresAt === null ? 'never' : time(t.expiresAt)}</td>
    <td data-label="Last used">${time(t.lastUsedAt)}</td>
    <td data-label="State">${t.revokedAt !== null ? html`revoked ${time(t.revokedAt)}` : t.expiresAt !== null && t.expiresAt < new Date().toISOString() ? 'expired' : 'active'}</td>
    <td data-label="Action">${
      t.revokedAt === null
        ? html`<form method="post" action="${`/access/tokens/${encodeURIComponent(t.id)}/revoke`}" class="inline" data-confirm="${`Revoke the token ${t.name}? Whatever uses it stops working.`}">${csrfField(c)}<button type="submit" class="danger" aria-label="${`Revoke token ${t.name} (${t.id})`}">Revoke</button></form>`
        : ''
    }</td>
  </tr>`,
  )}</tbody></table></div>`;
}

function createForm(c: UiContext): Html {
  return html`<h2 id="new-token">Create a token</h2>
<form method="post" action="/access/tokens" class="stack" aria-labelledby="new-token">
  ${csrfField(c)}
  <label>Name <input name="name" required maxlength="200" placeholder="ci for team/app"></label>
  <label>Repositories (a name, a prefix such as <code>team/*</code>, or <code>*</code>; empty: no scopes, everything you may do)
    <input name="pattern" placeholder="team/*" autocapitalize="none" spellcheck="false"></label>
  <fieldset><legend>Actions the token may take there</legend>
    <label class="check"><input type="checkbox" name="actions" value="pull" checked> pull</label>
    <label class="check"><input type="checkbox" name="actions" value="push"> push</label>
    <label class="check"><input type="checkbox" name="actions" value="delete"> delete</label>
  </fieldset>
  <label>Expires in <select name="expiresIn">${EXPIRIES.map((e) => html`<option value="${e}"${e === '90d' ? html` selected` : ''}>${e === 'never' ? 'never' : e.replace('d', ' days')}</option>`)}</select></label>
  <button type="submit">Create token</button>
</form>`;
}

async function show(berth: Berth, c: UiContext, made?: TokenInfo & { token: string }) {
  const tokens = await berth.auth.tokens.list(c.principal.user!);
  return sendPage(
    c,
    { title: 'Access', heading: 'Your API tokens', section: 'access' },
    html`${accessTabs(c, 'tokens')}
${
  made
    ? html`<section class="notice" role="status" aria-labelledby="secret-h">
  <h2 id="secret-h">Token ${made.name} created</h2>
  <p>Copy it now: it is shown only this once.</p>
  <p class="secret" id="secret">${made.token}</p>
  <p>${copyButton(made.token, 'Copy token')}</p>
  <p class="muted">Use it as the password: <code>docker login -u ${made.user} --password-stdin</code>, or <code>berth login</code>.</p>
</section>`
    : ''
}
${tokenRows(c, tokens)}
${createForm(c)}`,
    made ? 201 : 200,
  );
}

export const accessPage = (berth: Berth, c: UiContext) => show(berth, c);

/** The scopes of the form: none (empty pattern), or the pattern with the actions ticked. */
function scopesOf(form: URLSearchParams): Grant[] | null {
  const pattern = (form.get('pattern') ?? '').trim();
  if (pattern === '') return null;
  const actions = form.getAll('actions');
  if (actions.length === 0)
    throw new BerthError('PARAMETER_INVALID', `tick at least one action for the repositories ${pattern}`);
  return [{ pattern: parsePattern(pattern), actions: parseActions(actions) }];
}

/** POST /access/tokens: a token for the visitor, by the same code as POST /api/v1/tokens. */
export async function createTokenForm(berth: Berth, c: UiContext) {
  const name = (c.form.get('name') ?? '').trim();
  const expiresIn = c.form.get('expiresIn') ?? '90d';
  const ttl = parseDuration(expiresIn);
  const made = await berth.auth.createToken(c.principal, c.principal.user!, {
    name,
    scopes: scopesOf(c.form),
    expiresAt: ttl === null ? null : Date.now() + ttl,
  });
  c.auditDetail = { id: made.id, user: made.user, scopes: made.scopes, expiresAt: made.expiresAt };
  return show(berth, c, made);
}

/** POST /access/tokens/<id>/revoke: one's own token (an administrator: anyone's). */
export async function revokeTokenForm(berth: Berth, c: UiContext<'id'>) {
  const t = await berth.auth.tokens.get(c.id);
  await berth.auth.requireSelfOrAdmin(c.principal, t.user);
  await berth.auth.tokens.revoke(t.id);
  c.auditDetail = { user: t.user };
  return redirect(c, urls.access());
}
