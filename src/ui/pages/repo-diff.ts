// The diff between two versions, as the versions pages show it: tags moved, added, removed; manifests and blobs with sizes.
import type { Berth } from '../../app.js';
import type { VersionContent } from './repo-types.js';
import { html, type Html } from '../html.js';
import { urls } from '../urls.js';
import { shortDigest, size } from './repo-common.js';

export interface Diff {
  from: number;
  to: number;
  added: VersionContent;
  removed: VersionContent;
}

/** Tags in both lists moved; the rest were added or removed. */
export function tagChanges(d: Pick<Diff, 'added' | 'removed'>) {
  const before = new Map(d.removed.tags.map((t) => [t.name, t.digest]));
  const after = new Map(d.added.tags.map((t) => [t.name, t.digest]));
  return {
    moved: [...after].filter(([t]) => before.has(t)).map(([t, to]) => ({ tag: t, from: before.get(t)!, to })),
    added: [...after].filter(([t]) => !before.has(t)).map(([tag, digest]) => ({ tag, digest })),
    removed: [...before].filter(([t]) => !after.has(t)).map(([tag, digest]) => ({ tag, digest })),
  };
}

type Item = { digest: string; size: number; mediaType?: string };

const total = (xs: Item[]) => xs.reduce((n, x) => n + x.size, 0);

function digestList(name: string, items: Item[], link: boolean): Html {
  const code = (d: string) => html`<code title="${d}">${shortDigest(d)}</code>`;
  return html`<ul class="plain digests">${items.map(
    (i) =>
      html`<li>${link ? html`<a href="${urls.manifest(name, i.digest)}">${code(i.digest)}</a>` : code(i.digest)} · ${size(i.size)}${i.mediaType ? html` · <span class="muted">${i.mediaType}</span>` : ''}</li>`,
  )}</ul>`;
}

function section(title: string, name: string, added: Item[], removed: Item[], linkAdded: boolean): Html {
  if (added.length === 0 && removed.length === 0) return html``;
  return html`<h3>${title}</h3>
${added.length ? html`<p class="added">+ ${added.length} added (${size(total(added))})</p>${digestList(name, added, linkAdded)}` : ''}
${removed.length ? html`<p class="removed">− ${removed.length} removed (${size(total(removed))})</p>${digestList(name, removed, false)}` : ''}`;
}

/**
 * The diff as a page section. Manifests added are linked when `linkAdded` (the "to" version is the latest: the
 * image pages show the latest version's manifests).
 */
export async function diffSummary(berth: Berth, name: string, d: Diff, linkAdded = false): Promise<Html> {
  const sizes = await berth.images.manifestSizes([
    ...d.added.manifests.map((m) => m.digest),
    ...d.removed.manifests.map((m) => m.digest),
  ]);
  const withSize = (ms: VersionContent['manifests']) =>
    ms.map((m) => ({ ...m, size: sizes.get(m.digest) ?? 0 }));
  const tags = tagChanges(d);
  const tagCount = tags.moved.length + tags.added.length + tags.removed.length;
  const unitCount =
    d.added.manifests.length + d.removed.manifests.length + d.added.blobs.length + d.removed.blobs.length;
  if (tagCount + unitCount === 0)
    return html`<p class="diff">No difference: the two versions hold the same content.</p>`;
  const short = (x: string) => html`<code title="${x}">${shortDigest(x)}…</code>`;
  return html`<div class="diff">
${
  tagCount > 0
    ? html`<h3>Tags</h3><ul class="plain tags">
${tags.moved.map((t) => html`<li class="moved"><strong>${t.tag}</strong>: ${short(t.from)} → ${short(t.to)}</li>`)}
${tags.added.map((t) => html`<li class="added">+ <strong>${t.tag}</strong> → ${short(t.digest)}</li>`)}
${tags.removed.map((t) => html`<li class="removed">− <strong>${t.tag}</strong> (was ${short(t.digest)})</li>`)}
</ul>`
    : ''
}
${section('Manifests', name, withSize(d.added.manifests), withSize(d.removed.manifests), linkAdded)}
${section('Blobs', name, d.added.blobs, d.removed.blobs, false)}
</div>`;
}
