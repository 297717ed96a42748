// The versions timeline (/repositories/<name>/-/versions): who made each version and how, two picked to compare; restore.
import type { Berth } from '../../app.js';
import { can } from '../../auth/principal.js';
import { BerthError } from '../../core/errors.js';
import type { RepositoryInfo } from './repo-types.js';
import { html, type Html } from '../html.js';
import { csrfField, redirect, sendPage } from '../layout.js';
import type { UiContext } from '../mount.js';
import { urls } from '../urls.js';
import { pageParam, pager, repoPage, repoTabs, when } from './repo-common.js';
import { diffSummary } from './repo-diff.js';
import { timeline, type TimelineEntry } from './repo-timeline.js';

export const VERSIONS_PER_PAGE = 50;

const plural = (n: number, one: string) => `${n} ${one}${n === 1 ? '' : 's'}`;

/** The retention rule in words. */
export function retentionWords(info: Pick<RepositoryInfo, 'retainVersions' | 'retainDays'>): string {
  const { retainVersions: v, retainDays: d } = info;
  if (v === null && d === null) return 'every version is kept';
  if (v !== null && d !== null)
    return `the latest ${plural(v, 'version')} are kept, and every version younger than ${plural(d, 'day')}`;
  if (v !== null) return `the latest ${plural(v, 'version')} are kept`;
  return `versions younger than ${plural(d!, 'day')} are kept`;
}

function row(
  name: string,
  v: TimelineEntry,
  latest: number,
  pick: { from: number; to: number },
  mayRestore: boolean,
): Html {
  const checked = (n: number) => (v.number === n ? html` checked` : '');
  return html`<tr>
  <td data-label="Compare" class="pick">
    <label class="inline"><input type="radio" name="from" value="${v.number}"${checked(pick.from)} aria-label="compare from version ${v.number}"> from</label>
    <label class="inline"><input type="radio" name="to" value="${v.number}"${checked(pick.to)} aria-label="compare to version ${v.number}"> to</label>
  </td>
  <th scope="row" data-label="Version">${v.number}${v.number === latest ? html` <span class="badge">latest</span>` : ''}</th>
  <td data-label="Time">${when(v.createdAt)}</td>
  <td data-label="Actor">${v.actor ?? html`<span class="muted">${v.message !== null ? 'berth' : '—'}</span>`}</td>
  <td data-label="Operation">${v.operation ?? html`<span class="muted">not recorded</span>`}${v.detail ? html`<br><span class="muted">${v.detail}</span>` : ''}</td>
  <td data-label="Changes" class="num"><span class="added">+${v.added}</span> / <span class="removed">−${v.removed}</span></td>
  <td data-label="Actions">${mayRestore && v.number !== latest ? html`<a href="${urls.restore(name, v.number)}">Restore…</a>` : ''}</td>
</tr>`;
}

/** GET /repositories/<name>/-/versions: the timeline, newest first, a page at a time; pick two to compare. */
export async function versionsPage(berth: Berth, c: UiContext<'name'>) {
  const { name } = c;
  const page = pageParam(c.query);
  const { info } = await berth.repositories.get(name);
  const all = (await berth.history.versions(name)).reverse();
  const pages = Math.max(1, Math.ceil(all.length / VERSIONS_PER_PAGE));
  const shown = await timeline(
    berth,
    name,
    all.slice((page - 1) * VERSIONS_PER_PAGE, page * VERSIONS_PER_PAGE),
  );
  const latest = info.latestVersion;
  const to = all[0]?.number ?? latest;
  const pick = { from: all[1]?.number ?? to, to };
  const mayRestore = can(c.principal, name, 'push');
  const restored = c.query.get('restored');
  const made = c.query.get('version');
  return sendPage(
    c,
    repoPage(name, 'Versions', 'Versions'),
    html`${repoTabs(name, 'versions', mayRestore)}
${restored !== null && made !== null ? html`<p class="notice" role="status">Version ${restored} was restored as version ${made}.</p>` : ''}
<dl class="facts">
  <dt>Latest version</dt><dd>${latest}</dd>
  <dt>Versions kept</dt><dd>${all.length}</dd>
  <dt>Retention</dt><dd>${retentionWords(info)}${c.principal.admin ? html` <span class="muted">(change it with <code>berth repo retain ${name}</code>)</span>` : ''}</dd>
</dl>
<form method="get" action="${urls.versions(name)}/diff" class="timeline">
<div class="table-wrap"><table class="responsive versions">
  <caption class="muted">Newest first. Pick a “from” and a “to” version and compare them.</caption>
  <thead><tr><th scope="col">Compare</th><th scope="col">Version</th><th scope="col">Time</th><th scope="col">Actor</th><th scope="col">Operation</th><th scope="col" class="num">Changes</th><th scope="col"><span class="muted">Actions</span></th></tr></thead>
  <tbody>${shown.map((v) => row(name, v, latest, pick, mayRestore))}</tbody>
</table></div>
<button type="submit">Compare the two versions</button>
</form>
${pager(page, pages, (n) => `${urls.versions(name)}?page=${n}`)}`,
  );
}

/** The version numbers of ?from=&to=, refused when missing or not numbers. */
function fromTo(query: URLSearchParams): { from: number; to: number } {
  const num = (k: string): number => {
    const v = query.get(k);
    if (v === null || !/^\d{1,9}$/.test(v)) {
      throw new BerthError(
        'PARAMETER_INVALID',
        `pick two versions to compare: ${k}=${v ?? ''} is not a version number`,
      );
    }
    return Number(v);
  };
  return { from: num('from'), to: num('to') };
}

/** GET /repositories/<name>/-/versions/diff?from=N&to=M: what changed from N to M. */
export async function diffPage(berth: Berth, c: UiContext<'name'>) {
  const { name } = c;
  const { from, to } = fromTo(c.query);
  const diff = await berth.history.diffFrom(name, to, from);
  // the image pages show the latest version's manifests: those added on the way to it are linked
  const { info } = await berth.repositories.get(name);
  return sendPage(
    c,
    repoPage(name, `Versions ${from} → ${to}`, `Versions ${from} → ${to}`),
    html`${repoTabs(name, 'versions', can(c.principal, name, 'push'))}
<h2>From version ${from} to version ${to}</h2>
${await diffSummary(berth, name, diff, to === info.latestVersion)}
<p><a href="${urls.diff(name, to, from)}">Swap the two</a> · <a href="${urls.versions(name)}">Back to the versions</a></p>`,
  );
}

/** GET /repositories/<name>/-/versions/<n>/restore: what restoring version n does, and the button that does it. */
export async function restorePage(berth: Berth, c: UiContext<'name' | 'number'>) {
  const { name, number: n } = c;
  // a pull-through cache's repository takes no restore (as the API refuses it)
  await berth.caches.refusePush(name);
  const { info } = await berth.repositories.get(name);
  const latest = info.latestVersion;
  // refused here as the restore would be: a version that is not there (or removed by retention)
  const diff = await berth.history.diffFrom(name, n, latest);
  return sendPage(
    c,
    repoPage(name, `Restore version ${n}`, `Restore version ${n}`),
    html`<section aria-labelledby="confirm-heading">
  <h2 id="confirm-heading">Restore version ${n}?</h2>
  <p>Restoring makes <strong>version ${latest + 1}</strong> of ${name} with the content of version ${n}: tags point where they pointed then. Version ${latest} stays, and can be restored in turn.</p>
  <h3>What changes against the latest version (${latest})</h3>
  ${await diffSummary(berth, name, diff)}
  <form method="post" action="${urls.restore(name, n)}" class="inline">
    ${csrfField(c)}
    <button type="submit" class="danger">Restore version ${n}</button>
  </form>
  <a class="button secondary" href="${urls.versions(name)}">Cancel</a>
</section>`,
  );
}

/** POST /repositories/<name>/-/versions/<n>/restore: one new version; back to the timeline. */
export async function restoreVersion(berth: Berth, c: UiContext<'name' | 'number'>) {
  const { name, number: n } = c;
  await berth.caches.refusePush(name);
  const made = await berth.history.restore(name, n);
  c.auditDetail = { version: made.number };
  return redirect(c, `${urls.versions(name)}?restored=${n}&version=${made.number}`);
}
