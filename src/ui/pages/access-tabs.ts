// The tabs of the access pages: your tokens for everyone; users, permissions, public patterns, audit for admins.
import { html, type Html } from '../html.js';
import type { UiContext } from '../mount.js';
import { urls } from '../urls.js';

export type AccessTab = 'tokens' | 'users' | 'permissions' | 'public' | 'audit';

export function accessTabs(c: UiContext, current: AccessTab): Html {
  const tabs: [AccessTab, string, string][] = [['tokens', 'Your tokens', urls.access()]];
  if (c.principal.admin)
    tabs.push(
      ['users', 'Users', urls.users()],
      ['permissions', 'Permissions', urls.permissions()],
      ['public', 'Public repositories', urls.publicPatterns()],
      ['audit', 'Audit log', urls.audit()],
    );
  return html`<nav aria-label="Access" class="tabs"><ul>${tabs.map(
    ([t, label, href]) =>
      html`<li><a href="${href}"${t === current ? html` aria-current="page"` : ''}>${label}</a></li>`,
  )}</ul></nav>`;
}
