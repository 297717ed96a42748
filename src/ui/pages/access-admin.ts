// Administrators' access pages: users (create, remove), permissions (grant, revoke), public repository patterns.
import type { Berth } from '../../app.js';
import { ACTIONS } from '../../auth/permissions.js';
import { BerthError } from '../../core/errors.js';
import { time } from '../format.js';
import { html } from '../html.js';
import { csrfField, redirect, sendPage } from '../layout.js';
import type { UiContext } from '../mount.js';
import { urls } from '../urls.js';
import { accessTabs } from './access-tabs.js';

const field = (c: UiContext, name: string): string => {
  const v = (c.form.get(name) ?? '').trim();
  if (v === '') throw new BerthError('PARAMETER_INVALID', `the form's field "${name}" is empty: fill it in`);
  return v;
};

/** GET /access/users */
export async function usersPage(berth: Berth, c: UiContext) {
  const users = await berth.auth.users.list();
  return sendPage(
    c,
    { title: 'Users', section: 'access' },
    html`${accessTabs(c, 'users')}
<div class="table-wrap"><table class="responsive">
  <thead><tr><th scope="col">User</th><th scope="col">Role</th><th scope="col">Created</th><th scope="col"><span class="muted">Action</span></th></tr></thead>
  <tbody>${users.map(
    (u) => html`<tr>
    <td data-label="User"><a href="${`${urls.permissions()}?user=${encodeURIComponent(u.name)}`}">${u.name}</a></td>
    <td data-label="Role">${u.admin ? 'administrator' : 'user'}</td>
    <td data-label="Created">${time(u.createdAt)}</td>
    <td data-label="Action"><form method="post" action="${`/access/users/${encodeURIComponent(u.name)}/remove`}" class="inline" data-confirm="${`Remove user ${u.name} with their permissions and tokens?`}">${csrfField(c)}<button type="submit" class="danger" aria-label="${`Remove user ${u.name}`}">Remove</button></form></td>
  </tr>`,
  )}</tbody></table></div>
<h2 id="new-user">Create a user</h2>
<form method="post" action="/access/users" class="stack" aria-labelledby="new-user">
  ${csrfField(c)}
  <label>User name <input name="name" required autocapitalize="none" spellcheck="false"></label>
  <label>Password <input name="password" type="password" required autocomplete="new-password"></label>
  <label class="check"><input type="checkbox" name="admin" value="true"> administrator</label>
  <button type="submit">Create user</button>
</form>`,
  );
}

/** POST /access/users */
export async function createUserForm(berth: Berth, c: UiContext) {
  const admin = c.form.get('admin') === 'true';
  const user = await berth.auth.users.create(field(c, 'name'), c.form.get('password') ?? '', admin);
  c.auditDetail = { user: user.name, admin: user.admin };
  return redirect(c, urls.users());
}

/** POST /access/users/<user>/remove */
export async function removeUserForm(berth: Berth, c: UiContext<'user'>) {
  await berth.auth.users.remove(c.user);
  c.auditDetail = { user: c.user };
  return redirect(c, urls.users());
}

/** GET /access/permissions[?user=U]: every user's grants (or U's), and the form to grant. */
export async function permissionsPage(berth: Berth, c: UiContext) {
  const only = c.query.get('user');
  const users = (await berth.auth.users.list()).filter((u) => only === null || u.name === only);
  if (only !== null && users.length === 0)
    throw new BerthError('USER_UNKNOWN', `user ${only} does not exist`);
  const rows = await Promise.all(
    users.map(async (u) => ({ user: u, grants: (await berth.auth.users.show(u.name)).permissions })),
  );
  return sendPage(
    c,
    { title: 'Permissions', section: 'access' },
    html`${accessTabs(c, 'permissions')}
${only !== null ? html`<p>Showing ${only}. <a href="${urls.permissions()}">All users</a></p>` : ''}
<div class="table-wrap"><table class="responsive">
  <thead><tr><th scope="col">User</th><th scope="col">Repositories</th><th scope="col">Actions</th><th scope="col"><span class="muted">Action</span></th></tr></thead>
  <tbody>${rows.map(({ user, grants }) =>
    user.admin
      ? html`<tr><td data-label="User">${user.name}</td><td data-label="Repositories">all</td><td data-label="Actions">administrator</td><td></td></tr>`
      : grants.length === 0
        ? html`<tr><td data-label="User">${user.name}</td><td data-label="Repositories" class="muted">none</td><td></td><td></td></tr>`
        : grants.map(
            (g) => html`<tr>
    <td data-label="User">${user.name}</td>
    <td data-label="Repositories"><code>${g.pattern}</code></td>
    <td data-label="Actions">${g.actions.join(', ')}</td>
    <td data-label="Action"><form method="post" action="/access/permissions/revoke" class="inline">${csrfField(c)}<input type="hidden" name="user" value="${user.name}"><input type="hidden" name="pattern" value="${g.pattern}"><button type="submit" class="danger" aria-label="${`Revoke ${user.name}'s permission on ${g.pattern}`}">Revoke</button></form></td>
  </tr>`,
          ),
  )}</tbody></table></div>
<h2 id="grant">Grant a permission</h2>
<form method="post" action="/access/permissions" class="stack" aria-labelledby="grant">
  ${csrfField(c)}
  <label>User <select name="user">${users.filter((u) => !u.admin).map((u) => html`<option>${u.name}</option>`)}</select></label>
  <label>Repositories (a name, a prefix such as <code>team/*</code>, or <code>*</code>) <input name="pattern" required autocapitalize="none" spellcheck="false"></label>
  <fieldset><legend>Actions</legend>${ACTIONS.map(
    (a) =>
      html`<label class="check"><input type="checkbox" name="actions" value="${a}"${a === 'pull' ? html` checked` : ''}> ${a}</label>`,
  )}</fieldset>
  <button type="submit">Grant</button>
</form>`,
  );
}

/** POST /access/permissions */
export async function grantForm(berth: Berth, c: UiContext) {
  const user = field(c, 'user');
  const g = await berth.auth.users.grant(user, field(c, 'pattern'), c.form.getAll('actions'));
  c.auditDetail = { user, pattern: g.pattern, actions: g.actions };
  return redirect(c, urls.permissions());
}

/** POST /access/permissions/revoke */
export async function revokeForm(berth: Berth, c: UiContext) {
  const user = field(c, 'user');
  const pattern = field(c, 'pattern');
  await berth.auth.users.revoke(user, pattern);
  c.auditDetail = { user, pattern };
  return redirect(c, urls.permissions());
}

/** GET /access/public: the patterns of the repositories anyone may pull, without signing in. */
export async function publicPage(berth: Berth, c: UiContext) {
  const patterns = await berth.auth.users.publicPatterns();
  return sendPage(
    c,
    { title: 'Public repositories', section: 'access' },
    html`${accessTabs(c, 'public')}
<p>Anyone may pull from the repositories matching these patterns, and see them here, without signing in.</p>
${
  patterns.length === 0
    ? html`<p class="muted">No repository is public.</p>`
    : html`<ul class="plain">${patterns.map(
        (p) =>
          html`<li><code>${p}</code> <form method="post" action="/access/public/remove" class="inline">${csrfField(c)}<input type="hidden" name="pattern" value="${p}"><button type="submit" class="danger" aria-label="${`Make ${p} private`}">Remove</button></form></li>`,
      )}</ul>`
}
<h2 id="add-public">Make repositories public</h2>
<form method="post" action="/access/public" class="stack" aria-labelledby="add-public">
  ${csrfField(c)}
  <label>Repositories (a name, a prefix such as <code>team/*</code>, or <code>*</code>) <input name="pattern" required autocapitalize="none" spellcheck="false"></label>
  <button type="submit">Make public</button>
</form>`,
  );
}

/** POST /access/public */
export async function addPublicForm(berth: Berth, c: UiContext) {
  const pattern = field(c, 'pattern');
  await berth.auth.users.addPublic(pattern);
  c.auditDetail = { pattern };
  return redirect(c, urls.publicPatterns());
}

/** POST /access/public/remove */
export async function removePublicForm(berth: Berth, c: UiContext) {
  const pattern = field(c, 'pattern');
  await berth.auth.users.removePublic(pattern);
  c.auditDetail = { pattern };
  return redirect(c, urls.publicPatterns());
}
