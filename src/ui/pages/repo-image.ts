// The image page (/repositories/<name>/-/manifests/<digest>): facts, platforms, config, layers with history, referrers, JSON.
import type { Berth } from '../../app.js';
import { can } from '../../auth/principal.js';
import type { Descriptor } from '../../core/manifests.js';
import type { ConfigSummary, ImageDetails, LayerStep } from './repo-types.js';
import { html, type Html } from '../html.js';
import { sendPage } from '../layout.js';
import type { UiContext } from '../mount.js';
import { urls } from '../urls.js';
import { digestCell, repoPage, repoTabs, shortDigest, size, when } from './repo-common.js';
import { plainHttpNote, pullCommands } from './repo-pull.js';

/** The kind of artifact a referrer is, by its artifact type: what people look for next to an image. */
export function referrerKind(artifactType: string): string {
  const t = artifactType.toLowerCase();
  if (/signature|cosign|notary|sigstore\.bundle/.test(t)) return 'Signatures';
  if (/sbom|spdx|cyclonedx|syft/.test(t)) return 'SBOMs';
  if (/in-toto|attestation|provenance|slsa|vex/.test(t)) return 'Attestations';
  return 'Other artifacts';
}

/** JSON text indented for reading (as stored when it is not JSON). */
function pretty(text: string): string {
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return text;
  }
}

const list = (xs: string[] | null): Html | string =>
  xs === null || xs.length === 0
    ? html`<span class="muted">none</span>`
    : html`<code>${JSON.stringify(xs)}</code>`;

function configFacts(s: ConfigSummary): Html {
  const labels = Object.entries(s.labels);
  return html`<dl class="facts config">
  <dt>Platform</dt><dd>${s.platform ?? html`<span class="muted">not given</span>`}</dd>
  <dt>Entrypoint</dt><dd>${list(s.entrypoint)}</dd>
  <dt>Cmd</dt><dd>${list(s.cmd)}</dd>
  <dt>User</dt><dd>${s.user ?? html`<span class="muted">not set (root)</span>`}</dd>
  <dt>Working directory</dt><dd>${s.workingDir ?? html`<span class="muted">not set</span>`}</dd>
  <dt>Ports</dt><dd>${s.ports.length ? s.ports.join(', ') : html`<span class="muted">none</span>`}</dd>
  <dt>Environment</dt><dd>${s.env.length ? html`<ul class="plain">${s.env.map((e) => html`<li><code>${e}</code></li>`)}</ul>` : html`<span class="muted">none</span>`}</dd>
  <dt>Labels</dt><dd>${labels.length ? html`<ul class="plain">${labels.map(([k, v]) => html`<li><code>${k}</code> = <code>${v}</code></li>`)}</ul>` : html`<span class="muted">none</span>`}</dd>
</dl>`;
}

/** A foreign layer's URL: a link when it is http(s), else text (a manifest's URLs are the pusher's words). */
const urlItem = (u: string): Html | string =>
  /^https?:\/\//i.test(u) ? html`<a href="${u}" rel="noreferrer nofollow">${u}</a>` : u;

function stepRow(s: LayerStep, i: number): Html {
  const l = s.layer;
  return html`<tr${l === null ? html` class="empty-layer"` : ''}>
  <td data-label="Step" class="num">${i + 1}</td>
  <td data-label="Created by">${s.createdBy === null ? html`<span class="muted">no history</span>` : html`<code class="created-by">${s.createdBy}</code>`}${s.comment ? html`<br><span class="muted">${s.comment}</span>` : ''}</td>
  <td data-label="Layer">${
    l === null
      ? html`<span class="badge">empty layer</span>`
      : html`${digestCell(l.digest)}${l.foreign ? html` <span class="badge foreign">foreign layer</span><ul class="plain urls">${l.urls.length ? l.urls.map((u) => html`<li>${urlItem(u)}</li>`) : html`<li class="muted">no URLs given</li>`}</ul>` : ''}`
  }</td>
  <td data-label="Size" class="num">${l === null ? '0 B' : size(l.size)}</td>
  <td data-label="Created">${when(s.created)}</td>
</tr>`;
}

function layers(d: ImageDetails): Html {
  const made = d.steps.filter((s) => s.layer !== null).length;
  return html`<h2 id="layers">Layers</h2>
<p class="muted">${made} layer(s) and ${d.steps.length - made} empty step(s), in build order.${d.config?.json === null ? ' The config is not stored here, so the build history is unknown.' : ''}</p>
<div class="table-wrap"><table class="responsive layers">
  <thead><tr><th scope="col" class="num">Step</th><th scope="col">Created by</th><th scope="col">Layer</th><th scope="col" class="num">Size</th><th scope="col">Created</th></tr></thead>
  <tbody>${d.steps.map(stepRow)}</tbody>
</table></div>`;
}

function children(name: string, d: ImageDetails): Html {
  return html`<h2 id="platforms">Platforms</h2>
<div class="table-wrap"><table class="responsive platforms">
  <thead><tr><th scope="col">Platform</th><th scope="col">Manifest</th><th scope="col">Media type</th><th scope="col" class="num">Size</th></tr></thead>
  <tbody>${d.children.map(
    (c) => html`<tr>
  <th scope="row" data-label="Platform">${c.held ? html`<a href="${urls.manifest(name, c.digest)}">${c.platformName || 'unknown platform'}</a>` : c.platformName || 'unknown platform'}</th>
  <td data-label="Manifest">${digestCell(c.digest)}${c.held ? '' : html` <span class="muted">(not in this repository)</span>`}</td>
  <td data-label="Media type"><code>${c.mediaType}</code></td>
  <td data-label="Size" class="num">${size(c.size)}</td>
</tr>`,
  )}</tbody>
</table></div>`;
}

function referrers(name: string, rs: Descriptor[]): Html {
  if (rs.length === 0)
    return html`<h2 id="referrers">Referrers</h2><p class="muted">No signatures, SBOMs or attestations refer to this manifest.</p>`;
  const groups = new Map<string, Map<string, Descriptor[]>>();
  for (const r of rs) {
    const type = r.artifactType ?? r.mediaType;
    const kind = referrerKind(type);
    if (!groups.has(kind)) groups.set(kind, new Map());
    const byType = groups.get(kind)!;
    byType.set(type, [...(byType.get(type) ?? []), r]);
  }
  const order = ['Signatures', 'SBOMs', 'Attestations', 'Other artifacts'];
  const item = (r: Descriptor) => {
    const created = r.annotations?.['org.opencontainers.image.created'];
    return html`<li><a href="${urls.manifest(name, r.digest)}"><code>${shortDigest(r.digest)}</code></a> · ${size(r.size)}${created ? html` · ${when(created)}` : ''}</li>`;
  };
  return html`<h2 id="referrers">Referrers</h2>
${order
  .filter((k) => groups.has(k))
  .map(
    (k) =>
      html`<section class="referrers" aria-label="${k}"><h3>${k}</h3>${[...groups.get(k)!].map(
        ([type, items]) => html`<p><code>${type}</code></p><ul class="plain">${items.map(item)}</ul>`,
      )}</section>`,
  )}`;
}

/** GET /repositories/<name>/-/manifests/<digest>: one manifest of the latest version, all berth knows of it. */
export async function imagePage(berth: Berth, c: UiContext<'name' | 'digest'>) {
  const { name, digest } = c;
  const d = await berth.images.details(name, digest);
  const tags = await berth.tags.pointingAt(name, digest);
  const kind = d.kind === 'index' ? 'Index' : d.artifactType ? 'Artifact' : 'Image';
  const title = `${kind} ${shortDigest(digest)}`;
  return sendPage(
    c,
    repoPage(name, title, title),
    html`${repoTabs(name, 'image', can(c.principal, name, 'push'))}
<h2>${kind} <code>${shortDigest(digest)}</code></h2>
<dl class="facts">
  <dt>Digest</dt><dd>${digestCell(d.digest)}<br><code class="full-digest">${d.digest}</code></dd>
  <dt>Tags</dt><dd>${tags.length ? tags.map((t, i) => html`${i > 0 ? ', ' : ''}<a href="${urls.repository(name)}?q=${encodeURIComponent(t)}">${t}</a>`) : html`<span class="muted">none (untagged)</span>`}</dd>
  <dt>Media type</dt><dd><code>${d.mediaType}</code></dd>
  ${d.artifactType ? html`<dt>Artifact type</dt><dd><code>${d.artifactType}</code></dd>` : ''}
  <dt>Manifest size</dt><dd>${size(d.size)}</dd>
  <dt>${d.kind === 'index' ? 'Size of its platforms' : 'Size (config and layers)'}</dt><dd>${size(d.totalSize)}</dd>
  <dt>Created</dt><dd>${when(d.created)}</dd>
  <dt>Stored here since</dt><dd>${when(d.storedAt)}</dd>
  ${d.subject ? html`<dt>Refers to</dt><dd><a href="${urls.manifest(name, d.subject)}"><code>${shortDigest(d.subject)}</code></a></dd>` : ''}
</dl>
<details class="pull"><summary>Pull commands</summary>${pullCommands(c.req, name, { digest: d.digest })}${plainHttpNote(c.req)}</details>
${d.kind === 'index' ? children(name, d) : ''}
${d.config ? html`<h2 id="config">Configuration</h2>${d.config.summary ? configFacts(d.config.summary) : html`<p class="muted">The config (<code>${shortDigest(d.config.descriptor.digest)}</code>, ${size(d.config.descriptor.size)}) is not stored here.</p>`}` : ''}
${d.kind === 'image' ? layers(d) : ''}
${referrers(name, d.referrers)}
<h2 id="json">JSON</h2>
<details><summary>Manifest</summary><pre><code>${pretty(d.manifestJson)}</code></pre></details>
${d.config?.json ? html`<details><summary>Config</summary><pre><code>${pretty(d.config.json)}</code></pre></details>` : ''}`,
  );
}
