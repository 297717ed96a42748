// What the repository pages share: the tabs under a repository's name, short digests, sizes, times, page numbers.
import { formatBytes } from '../../core/sizes.js';
import { BerthError } from '../../core/errors.js';
import { intParam } from '../../http/router.js';
import { html, type Html } from '../html.js';
import type { PageOptions } from '../layout.js';
import { urls } from '../urls.js';

/** "sha256:0123456789ab" — the first 12 hex digits, as registries show them. */
export const shortDigest = (d: string): string => {
  const i = d.indexOf(':');
  return i < 0 ? d.slice(0, 12) : `${d.slice(0, i + 1)}${d.slice(i + 1, i + 13)}`;
};

/** A digest shortened, with the whole of it in a title and a copy button (the button needs the script). */
export const digestCell = (d: string): Html =>
  html`<code title="${d}">${shortDigest(d)}</code> <button type="button" class="secondary copy" data-copy="${d}" aria-label="Copy digest ${d}">Copy</button>`;

export const size = (n: number): string => formatBytes(n);

/** A time as a <time> element: the ISO instant readable (UTC, to the minute), the exact one machine-readable. */
export const when = (iso: string | null): Html | string =>
  iso === null ? '—' : html`<time datetime="${iso}">${iso.slice(0, 16).replace('T', ' ')} UTC</time>`;

/** The page number of `?page=` (1 when absent), refused when it is not one. */
export function pageParam(query: URLSearchParams): number {
  const p = intParam(query, 'page') ?? 1;
  if (p < 1) throw new BerthError('PARAMETER_INVALID', 'query parameter page must be 1 or more');
  return p;
}

/** Previous / page x of y / next links; `href(n)` makes the URL of page n. */
export function pager(page: number, pages: number, href: (n: number) => string): Html {
  if (pages <= 1) return html``;
  return html`<nav class="pager" aria-label="Pages">
  ${page > 1 ? html`<a href="${href(page - 1)}" rel="prev">Previous</a>` : ''}
  <span>Page ${page} of ${pages}</span>
  ${page < pages ? html`<a href="${href(page + 1)}" rel="next">Next</a>` : ''}
</nav>`;
}

export type RepoTab = 'tags' | 'versions' | 'upload' | 'image';

/** The page options of a repository's page: the trail back to the repositories, the repository's name. */
export function repoPage(name: string, title: string, crumb?: string): PageOptions {
  return {
    title: crumb ? `${title} · ${name}` : name,
    heading: name,
    section: 'repositories',
    crumbs: [
      { label: 'Repositories', href: urls.repositories() },
      ...(crumb ? [{ label: name, href: urls.repository(name) }, { label: crumb }] : [{ label: name }]),
    ],
  };
}

/** The tabs under a repository's heading: tags, versions, upload (for those who may push). */
export function repoTabs(name: string, current: RepoTab, canPush: boolean): Html {
  const tab = (t: RepoTab, label: string, href: string) =>
    html`<li><a href="${href}"${current === t ? html` aria-current="page"` : ''}>${label}</a></li>`;
  return html`<nav class="tabs" aria-label="Repository"><ul>
  ${tab('tags', 'Tags', urls.repository(name))}
  ${tab('versions', 'Versions', urls.versions(name))}
  ${canPush && tab('upload', 'Upload an archive', urls.upload(name))}
</ul></nav>`;
}
