// Uploading an image archive from the browser (/repositories/<name>/-/upload): the form, and the streamed upload.
import { Readable } from 'node:stream';
import type { Berth } from '../../app.js';
import { BerthError } from '../../core/errors.js';
import { clientGone } from '../../http/client-gone.js';
import type { ImportResult } from './repo-types.js';
import { html, type Html } from '../html.js';
import { csrfField, sendPage } from '../layout.js';
import type { UiContext } from '../mount.js';
import { urls } from '../urls.js';
import { repoPage, repoTabs, shortDigest } from './repo-common.js';
import { boundaryOf, fieldText, multipartParts } from './repo-multipart.js';

function form(c: UiContext<'name'>, tag = ''): Html {
  const { name } = c;
  return html`<p>An archive made by <code>skopeo copy … dir:</code> (as a tar), <code>docker save</code>, <code>skopeo copy … docker-archive:</code> or <code>skopeo copy … oci-archive:</code> becomes one new version of ${name}, as <code>berth upload</code> makes it. It may leave out layers ${name} already holds.</p>
<form method="post" action="${urls.upload(name)}" enctype="multipart/form-data" class="stack upload" data-progress>
  ${csrfField(c)}
  <label for="upload-tag">Tag (optional: the archive's own tags are applied too)</label>
  <input id="upload-tag" name="tag" type="text" value="${tag}" autocomplete="off">
  <label for="upload-file">Archive (.tar)</label>
  <input id="upload-file" name="archive" type="file" required accept=".tar,application/x-tar">
  <progress value="0" max="1" aria-label="Upload progress"></progress>
  <button type="submit">Upload</button>
</form>`;
}

/** The refusal, as `berth upload` reports it: the code and message, and the missing layers one per line. */
function refusal(e: BerthError): Html {
  const detail = (e.detail ?? {}) as { missing?: unknown; repository?: unknown };
  const missing = Array.isArray(detail.missing) ? detail.missing.map(String) : [];
  return html`<section class="error" role="alert">
  <p class="message">The upload was refused, and changed nothing: ${e.message}</p>
  <p class="code">${e.code} (HTTP ${e.status})</p>
  ${
    missing.length > 0
      ? html`<p>Missing from the archive and from ${String(detail.repository ?? 'the repository')}:</p>
  <ul class="plain missing">${missing.map((d) => html`<li><code>${d}</code></li>`)}</ul>
  <p>Upload an archive that holds these layers, or push the image with them first.</p>`
      : ''
  }
</section>`;
}

function result(name: string, r: ImportResult): Html {
  return html`<section class="notice" role="status">
  <p>Uploaded: version <strong>${r.version}</strong> of ${name} (${r.format}). ${r.blobs.uploaded} blob(s) uploaded, ${r.blobs.reused} reused from ${name}, ${r.blobs.foreign} foreign layer(s) not stored.</p>
</section>
<table class="responsive upload-result">
  <thead><tr><th scope="col">Manifest</th><th scope="col">Media type</th><th scope="col">Tags</th></tr></thead>
  <tbody>${r.manifests.map(
    (m) =>
      html`<tr><td data-label="Manifest"><a href="${urls.manifest(name, m.digest)}"><code title="${m.digest}">${shortDigest(m.digest)}</code></a></td><td data-label="Media type"><code>${m.mediaType}</code></td><td data-label="Tags">${m.tags.length ? m.tags.join(', ') : html`<span class="muted">none</span>`}</td></tr>`,
  )}</tbody>
</table>
<p><a href="${urls.repository(name)}">See the tags</a> · <a href="${urls.versions(name)}">See the versions</a></p>`;
}

const page = (c: UiContext<'name'>, body: Html, status = 200) =>
  sendPage(
    c,
    repoPage(c.name, 'Upload an archive', 'Upload'),
    html`${repoTabs(c.name, 'upload', true)}${body}`,
    status,
  );

/** GET /repositories/<name>/-/upload: the form (the repository may not exist yet: the upload makes it). */
export async function uploadPage(berth: Berth, c: UiContext<'name'>) {
  await berth.caches.refusePush(c.name);
  return page(c, form(c));
}

/**
 * POST /repositories/<name>/-/upload (multipart/form-data: `_csrf`, `tag`, then the file): the archive streams
 * from the request into the import as the API's does. The answer is the result, or the refusal with the form again.
 */
export async function uploadArchive(berth: Berth, c: UiContext<'name'>) {
  const { name } = c;
  await berth.caches.refusePush(name);
  const boundary = boundaryOf(c.req.headers['content-type']);
  const fields = new Map<string, string>();
  let outcome: ImportResult | undefined;
  try {
    for await (const part of multipartParts(c.req.raw, boundary)) {
      if (part.filename === undefined) {
        fields.set(part.name, await fieldText(part));
        continue;
      }
      // the token comes before the file (the form's order); a script sends it as a header instead
      c.checkCsrf(fields.get('_csrf'));
      if (part.name !== 'archive' || part.filename === '') {
        throw new BerthError('PARAMETER_INVALID', 'choose the archive (a .tar file) to upload');
      }
      const tag = fields.get('tag')?.trim() || undefined;
      outcome = await berth.imports.importArchive(name, tag, Readable.from(part.body), clientGone(c.reply));
      break;
    }
    if (!outcome) {
      c.checkCsrf(fields.get('_csrf'));
      throw new BerthError('PARAMETER_INVALID', 'choose the archive (a .tar file) to upload');
    }
  } catch (e) {
    // a refusal of the archive is shown with the form, to try again; refusals of the request itself are error pages
    if (!(e instanceof BerthError) || e.code === 'CSRF_INVALID' || e.code === 'UNSUPPORTED') throw e;
    // a form refused before its file part was reached: no page for it without its token either
    c.checkCsrf(fields.get('_csrf'));
    if (!c.req.raw.complete) c.reply.header('connection', 'close');
    return page(c, html`${refusal(e)}${form(c, fields.get('tag') ?? '')}`, e.status);
  }
  const tag = fields.get('tag')?.trim();
  c.auditDetail = { version: outcome.version, ...(tag ? { tag } : {}) };
  return page(c, result(name, outcome), 201);
}
