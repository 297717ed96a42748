// /operations (administrators): storage totals, and cleanup — a dry run that says what would go, or the real run.
import type { Berth } from '../../app.js';
import { BerthError } from '../../core/errors.js';
import { formatBytes, plural, shortDigest } from '../format.js';
import { html, type Html } from '../html.js';
import { csrfField, sendPage } from '../layout.js';
import type { UiContext } from '../mount.js';
import { urls } from '../urls.js';

const DEFAULT_PROTECTION_SECONDS = 3600;

type CleanupReport = Awaited<ReturnType<Berth['cleanup']['run']>>;

function report(r: CleanupReport): Html {
  const verb = r.dryRun ? 'would remove' : 'removed';
  return html`<section class="notice" role="status" aria-labelledby="report-h">
  <h2 id="report-h">${r.dryRun ? 'Cleanup dry run: nothing was removed' : 'Cleanup done'}</h2>
  <p>Cleanup ${verb} ${plural(r.removed.blobs, 'blob')} (${formatBytes(r.removed.bytes)}), ${plural(r.removed.manifests, 'untagged manifest')}${r.removed.versions ? html`, ${plural(r.removed.versions, 'version')} by retention` : ''}${r.removed.strayFiles ? html`, ${plural(r.removed.strayFiles, 'stray file')} (${formatBytes(r.removed.strayBytes)})` : ''}; protection time ${r.protectionSeconds} s.</p>
  ${
    r.repositories.length > 0
      ? html`<table class="responsive"><caption>Repositories that let go of content</caption>
    <thead><tr><th scope="col">Repository</th><th scope="col" class="num">Version made</th><th scope="col" class="num">Blobs</th><th scope="col" class="num">Bytes</th><th scope="col" class="num">Manifests</th></tr></thead>
    <tbody>${r.repositories.map(
      (p) =>
        html`<tr><td data-label="Repository"><a href="${urls.repository(p.repository)}">${p.repository}</a></td><td data-label="Version made" class="num">${p.version ?? '—'}</td><td data-label="Blobs" class="num">${p.blobs}</td><td data-label="Bytes" class="num">${formatBytes(p.bytes)}</td><td data-label="Manifests" class="num">${p.manifests}</td></tr>`,
    )}</tbody></table>`
      : ''
  }
  ${
    r.digests.length > 0
      ? html`<details><summary>${plural(r.digests.length, 'digest')} ${verb}</summary><ul class="plain">${r.digests.map((d) => html`<li>${shortDigest(d)}</li>`)}</ul></details>`
      : ''
  }
</section>`;
}

async function show(berth: Berth, c: UiContext, done?: CleanupReport) {
  const store = await berth.diskUsage.wholeStore();
  const row = (label: string, count: number, what: string, bytes: number) =>
    html`<tr><th scope="row">${label}</th><td class="num">${plural(count, what)}</td><td class="num">${formatBytes(bytes)}</td></tr>`;
  return sendPage(
    c,
    { title: 'Operations', section: 'operations' },
    html`${done ? report(done) : ''}
<h2 id="storage">Storage</h2>
<table aria-labelledby="storage">
  <thead><tr><th scope="col">What</th><th scope="col" class="num">Count</th><th scope="col" class="num">Bytes</th></tr></thead>
  <tbody>
    ${row('All blobs and manifests', store.blobs.count, 'blob', store.blobs.bytes)}
    ${row('Referenced by a retained version or a push', store.referenced.count, 'blob', store.referenced.bytes)}
    ${row('Unreferenced (cleanup removes them)', store.unreferenced.count, 'blob', store.unreferenced.bytes)}
    ${row('Open upload sessions', store.uploads.sessions, 'session', store.uploads.bytes)}
    ${row('Archive uploads being received', store.staging.files, 'file', store.staging.bytes)}
  </tbody>
</table>
<h2 id="cleanup">Cleanup</h2>
<p>Cleanup applies retention, lets go of untagged manifests and unreferenced blobs, and removes what no version keeps and no upload claims, once older than the protection time. It runs while pushes and uploads go on.</p>
<form method="post" action="/operations/cleanup" class="stack" aria-labelledby="cleanup">
  ${csrfField(c)}
  <label>Protection time (seconds) <input name="protectionSeconds" type="number" min="0" step="1" value="${done?.protectionSeconds ?? DEFAULT_PROTECTION_SECONDS}" required></label>
  <div>
    <button type="submit" name="dryRun" value="true" class="secondary">Dry run (remove nothing)</button>
    <button type="submit" name="dryRun" value="false" class="danger" data-confirm-button="Run cleanup now? What it removes is gone.">Run cleanup</button>
  </div>
</form>`,
  );
}

export const operationsPage = (berth: Berth, c: UiContext) => show(berth, c);

/** POST /operations/cleanup: dryRun=true|false, protectionSeconds; the page shows what went (or would). */
export async function cleanupForm(berth: Berth, c: UiContext) {
  const raw = (c.form.get('protectionSeconds') ?? String(DEFAULT_PROTECTION_SECONDS)).trim();
  if (!/^\d{1,9}$/.test(raw))
    throw new BerthError(
      'PARAMETER_INVALID',
      `the protection time "${raw}" is not a whole number of seconds`,
    );
  const dryRun = c.form.get('dryRun') !== 'false';
  const r = await berth.cleanup.run({ dryRun, protectionSeconds: Number(raw), log: c.req.log });
  c.auditDetail = {
    dryRun,
    removedBlobs: r.removed.blobs,
    removedBytes: r.removed.bytes,
    repositories: r.repositories.map((p) => ({ repository: p.repository, version: p.version })),
  };
  return show(berth, c, r);
}
