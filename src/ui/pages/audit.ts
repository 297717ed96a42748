// /access/audit: the audit log for administrators, newest first, filtered by actor, repository and action.
import type { Berth } from '../../app.js';
import { intParam } from '../../http/router.js';
import { time } from '../format.js';
import { html } from '../html.js';
import { sendPage } from '../layout.js';
import type { UiContext } from '../mount.js';
import { urls } from '../urls.js';
import { accessTabs } from './access-tabs.js';

export const AUDIT_PER_PAGE = 100;

/** GET /access/audit?actor=&repository=&action=&before=: a page of entries; "Older" pages on by id. */
export async function auditPage(berth: Berth, c: UiContext) {
  const filters = {
    actor: (c.query.get('actor') ?? '').trim(),
    repository: (c.query.get('repository') ?? '').trim(),
    action: (c.query.get('action') ?? '').trim(),
  };
  const before = intParam(c.query, 'before');
  const entries = await berth.auth.audit.list({
    ...(filters.actor ? { actor: filters.actor } : {}),
    ...(filters.repository ? { repository: filters.repository } : {}),
    ...(filters.action ? { action: filters.action } : {}),
    ...(before !== undefined ? { before } : {}),
    limit: AUDIT_PER_PAGE + 1,
  });
  const shown = entries.slice(0, AUDIT_PER_PAGE);
  const older = entries.length > AUDIT_PER_PAGE ? shown.at(-1)!.id : undefined;
  const input = (name: keyof typeof filters, label: string) =>
    html`<label>${label} <input name="${name}" value="${filters[name]}" autocapitalize="none" spellcheck="false"></label>`;
  return sendPage(
    c,
    { title: 'Audit log', section: 'access' },
    html`${accessTabs(c, 'audit')}
<form method="get" action="${urls.audit()}" class="filters" role="search" aria-label="Filter the audit log">
  ${input('actor', 'Who')} ${input('repository', 'Repository')} ${input('action', 'Action (e.g. tag.delete)')}
  <button type="submit">Filter</button>
  ${filters.actor || filters.repository || filters.action ? html`<a href="${urls.audit()}">Clear</a>` : ''}
</form>
${
  shown.length === 0
    ? html`<p>No entries${before !== undefined ? ' older than these' : ''}.</p>`
    : html`<div class="table-wrap"><table class="responsive">
  <thead><tr><th scope="col">When</th><th scope="col">Who</th><th scope="col">From</th><th scope="col">Action</th><th scope="col">Repository</th><th scope="col">Details</th></tr></thead>
  <tbody>${shown.map(
    (e) => html`<tr>
    <td data-label="When">${time(e.at)}</td>
    <td data-label="Who">${e.actor ?? html`<span class="muted">anonymous</span>`}</td>
    <td data-label="From">${e.address ?? ''}</td>
    <td data-label="Action"><code>${e.action}</code></td>
    <td data-label="Repository">${e.repository === null ? '' : html`<a href="${urls.repository(e.repository)}">${e.repository}</a>`}</td>
    <td data-label="Details">${e.detail === null ? '' : html`<code class="detail">${JSON.stringify(e.detail)}</code>`}</td>
  </tr>`,
  )}</tbody></table></div>`
}
<nav class="pager" aria-label="Pages">
  ${before !== undefined ? html`<a href="${urls.audit(filters)}">Newest</a>` : ''}
  ${older !== undefined ? html`<a href="${urls.audit({ ...filters, before: older })}" rel="next">Older entries</a>` : ''}
</nav>`,
  );
}
