// The repositories page (/ and /repositories): those the visitor may read, filtered by name, a page at a time.
import type { Berth } from '../../app.js';
import { can } from '../../auth/principal.js';
import { intParam } from '../../http/router.js';
import { formatBytes, plural, time } from '../format.js';
import { html, type Html } from '../html.js';
import { sendPage } from '../layout.js';
import type { UiContext } from '../mount.js';
import { urls } from '../urls.js';

export const REPOSITORIES_PER_PAGE = 50;

/** The words for an audited action on a repository, as the last change shows it. */
const ACTIONS: Record<string, string> = {
  'archive.upload': 'archive upload',
  'manifest.push': 'push',
  'manifest.delete': 'manifest delete',
  'image.delete': 'image delete',
  'tag.delete': 'tag delete',
  'blob.delete': 'blob delete',
  'version.restore': 'restore',
  'version.delete': 'version delete',
  'repository.delete': 'repository delete',
  'repository.update': 'settings change',
  'repository.untagged': 'settings change',
  'sync.start': 'sync',
};

/**
 * GET / and /repositories?q=&page=: the repositories the visitor may read (anonymous: the public ones), their
 * names containing q; each with its latest version, tag count, size, last change (when, who, what), public badge.
 */
export async function listRepositoriesPage(berth: Berth, c: UiContext) {
  const q = (c.query.get('q') ?? '').trim();
  const page = Math.max(1, intParam(c.query, 'page') ?? 1);
  const per = REPOSITORIES_PER_PAGE;
  const visible = await berth.repositories.listWhere(
    (name) => can(c.principal, name, 'pull') && (q === '' || name.includes(q)),
    { n: page * per + 1 },
  );
  const names = visible.slice((page - 1) * per, page * per).map((r) => r.name);
  const more = visible.length > page * per;
  const [rows, last] = await Promise.all([
    berth.repositories.summaries(names),
    berth.auth.audit.latestOf(names),
  ]);
  const anyone = berth.auth.anonymous();
  const change = (r: (typeof rows)[number]): Html => {
    const a = last.get(r.name);
    // a version berth made by itself (cleanup, retention) after the last audited request: say why
    if (r.message !== null && (!a || a.at < r.changedAt))
      return html`${time(r.changedAt)} <span class="muted">by berth:</span> ${r.message}`;
    if (!a) return time(r.changedAt);
    return html`${time(a.at > r.changedAt ? a.at : r.changedAt)} <span class="muted">by</span> ${a.actor ?? 'anonymous'}: ${ACTIONS[a.action] ?? a.action}`;
  };
  const table = html`<div class="table-wrap"><table class="responsive">
  <caption class="muted">${plural(rows.length, 'repository', 'repositories')} on this page</caption>
  <thead><tr><th scope="col">Repository</th><th scope="col" class="num">Latest version</th><th scope="col" class="num">Tags</th><th scope="col" class="num">Size</th><th scope="col">Last change</th></tr></thead>
  <tbody>${rows.map(
    (r) => html`<tr>
    <td data-label="Repository"><a href="${urls.repository(r.name)}">${r.name}</a>${can(anyone, r.name, 'pull') ? html` <span class="badge public">public</span>` : ''}</td>
    <td data-label="Latest version" class="num"><a href="${urls.versions(r.name)}">${r.latestVersion}</a></td>
    <td data-label="Tags" class="num">${r.tags}</td>
    <td data-label="Size" class="num">${formatBytes(r.size)}</td>
    <td data-label="Last change">${change(r)}</td>
  </tr>`,
  )}</tbody>
</table></div>`;
  return sendPage(
    c,
    { title: 'Repositories', section: 'repositories' },
    html`<form method="get" action="${urls.repositories()}" class="filters" role="search">
  <label>Filter by name <input name="q" type="search" value="${q}"></label>
  <button type="submit">Filter</button>
  ${q ? html`<a href="${urls.repositories()}">Show all</a>` : ''}
</form>
${rows.length === 0 ? html`<p>No repositories${q ? html` matching “${q}”` : ''}${page > 1 ? ' on this page' : ''}.${c.principal.user === null ? html` <a href="${urls.signIn(c.path)}">Sign in</a> to see the ones you may read.` : ''}</p>` : table}
<nav class="pager" aria-label="Pages">
  ${page > 1 ? html`<a href="${urls.repositories({ q, page: page - 1 })}" rel="prev">Previous page</a>` : ''}
  <span>Page ${page}</span>
  ${more ? html`<a href="${urls.repositories({ q, page: page + 1 })}" rel="next">Next page</a>` : ''}
</nav>`,
  );
}
