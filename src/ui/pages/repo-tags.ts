// A repository's tags page (/repositories/<name>): its tags a page at a time, with pull commands; deleting a tag.
import type { Berth } from '../../app.js';
import { can } from '../../auth/principal.js';
import type { Digest } from '../../core/digest.js';
import type { ImageSummary, TagRow } from './repo-types.js';
import { html, type Html } from '../html.js';
import { csrfField, redirect, sendPage } from '../layout.js';
import type { UiContext } from '../mount.js';
import { urls } from '../urls.js';
import { digestCell, pageParam, pager, repoPage, repoTabs, size, when } from './repo-common.js';
import { plainHttpNote, pullCommands } from './repo-pull.js';

/** Tags per page: only these rows' manifests (and configs) are read. */
export const TAGS_PER_PAGE = 50;

const tagsUrl = (name: string, q: string, page?: number) => {
  const s = new URLSearchParams();
  if (q) s.set('q', q);
  if (page !== undefined && page > 1) s.set('page', String(page));
  const t = s.toString();
  return t ? `${urls.repository(name)}?${t}` : urls.repository(name);
};

function row(c: UiContext<'name'>, r: TagRow, summary: ImageSummary | undefined, mayDelete: boolean): Html {
  const name = c.name;
  return html`<tr>
  <th scope="row" data-label="Tag"><a href="${urls.manifest(name, r.digest)}">${r.tag}</a></th>
  <td data-label="Digest">${digestCell(r.digest)}</td>
  <td data-label="Platforms">${summary?.platforms.length ? summary.platforms.join(', ') : html`<span class="muted">—</span>`}</td>
  <td data-label="Size" class="num">${summary ? size(summary.size) : '—'}</td>
  <td data-label="Updated">${when(r.updatedAt)} <span class="muted">(version ${r.version})</span></td>
  <td data-label="Pull"><details><summary>Pull</summary>${pullCommands(c.req, name, { tag: r.tag, digest: r.digest })}</details></td>
  <td data-label="Actions">${mayDelete ? html`<a href="${urls.tagDelete(name, r.tag)}">Delete…</a>` : ''}</td>
</tr>`;
}

/** GET /repositories/<name>: the tags of the latest version, filtered by `q`, a page at a time. */
export async function tagsPage(berth: Berth, c: UiContext<'name'>) {
  const { name } = c;
  const q = (c.query.get('q') ?? '').trim();
  const page = pageParam(c.query);
  const { info } = await berth.repositories.get(name);
  const { total, rows } = await berth.tags.page(name, {
    filter: q,
    offset: (page - 1) * TAGS_PER_PAGE,
    limit: TAGS_PER_PAGE,
  });
  const summaries = await berth.images.summaries(
    name,
    rows.map((r) => r.digest as Digest),
  );
  const pages = Math.max(1, Math.ceil(total / TAGS_PER_PAGE));
  const mayDelete = can(c.principal, name, 'delete');
  const deleted = c.query.get('deleted');
  const madeVersion = c.query.get('version');
  const first = (page - 1) * TAGS_PER_PAGE + 1;
  return sendPage(
    c,
    repoPage(name, 'Tags'),
    html`${repoTabs(name, 'tags', can(c.principal, name, 'push'))}
${deleted !== null && madeVersion !== null ? html`<p class="notice" role="status">Tag <strong>${deleted}</strong> was deleted: that made version ${madeVersion}.</p>` : ''}
<dl class="facts">
  <dt>Latest version</dt><dd><a href="${urls.versions(name)}">${info.latestVersion}</a></dd>
  <dt>Tags</dt><dd>${q ? html`${total} matching “${q}”` : total}</dd>
</dl>
<form method="get" action="${urls.repository(name)}" class="filters" role="search">
  <label for="tag-filter">Filter tags</label>
  <input id="tag-filter" name="q" type="search" value="${q}">
  <button type="submit">Filter</button>
</form>
${
  rows.length === 0
    ? html`<p>${q ? html`No tag matches “${q}”.` : page > 1 ? 'No tags on this page.' : 'This repository has no tags.'}</p>`
    : html`<div class="table-wrap"><table class="responsive tags">
  <caption class="muted">Tags ${first}–${first + rows.length - 1} of ${total}</caption>
  <thead><tr><th scope="col">Tag</th><th scope="col">Digest</th><th scope="col">Platforms</th><th scope="col" class="num">Size</th><th scope="col">Updated</th><th scope="col">Pull</th><th scope="col"><span class="muted">Actions</span></th></tr></thead>
  <tbody>${rows.map((r) => row(c, r, summaries.get(r.digest), mayDelete))}</tbody>
</table></div>`
}
${pager(page, pages, (n) => tagsUrl(name, q, n))}
${rows.length > 0 && plainHttpNote(c.req)}`,
  );
}

/** GET /repositories/<name>/-/tags/<tag>/delete: what deleting the tag does, and the button that does it. */
export async function tagDeletePage(berth: Berth, c: UiContext<'name' | 'tag'>) {
  const { name, tag } = c;
  const { info } = await berth.repositories.get(name);
  // refused here as the delete would be: a tag the latest version does not have
  const m = await berth.manifests.get(name, { kind: 'tag', tag }, { head: true });
  return sendPage(
    c,
    repoPage(name, `Delete tag ${tag}`, `Delete tag ${tag}`),
    html`<section aria-labelledby="confirm-heading">
  <h2 id="confirm-heading">Delete tag ${tag}?</h2>
  <p>Deleting tag <strong>${tag}</strong> (now <code>${m.digest}</code>) makes <strong>version ${info.latestVersion + 1}</strong> of ${name}, without the tag. The image stays, and so does version ${info.latestVersion}: restoring it brings the tag back.</p>
  <form method="post" action="${urls.tagDelete(name, tag)}" class="inline">
    ${csrfField(c)}
    <button type="submit" class="danger">Delete tag ${tag}</button>
  </form>
  <a class="button secondary" href="${urls.repository(name)}">Cancel</a>
</section>`,
  );
}

/** POST /repositories/<name>/-/tags/<tag>/delete: one new version without the tag; back to the tags page. */
export async function deleteTag(berth: Berth, c: UiContext<'name' | 'tag'>) {
  const { name, tag } = c;
  const v = await berth.removals.deleteTag(name, tag);
  c.auditDetail = { version: v.number };
  return redirect(c, `${urls.repository(name)}?deleted=${encodeURIComponent(tag)}&version=${v.number}`);
}
