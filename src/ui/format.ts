// How the web pages show values: sizes, times, digests, counts — the same way on every page.
import { formatBytes } from '../core/sizes.js';
import { html, type Html } from './html.js';

export { formatBytes };

/** A time as <time datetime="…">2026-12-03 07:26 UTC</time> (the ISO value for machines and screen readers). */
export function time(iso: string | number | null | undefined): Html {
  if (iso === null || iso === undefined) return html`<span class="muted">never</span>`;
  const d = new Date(iso);
  const shown = `${d.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
  return html`<time datetime="${d.toISOString()}">${shown}</time>`;
}

/** A digest shortened to its algorithm and 12 hex digits, with the whole digest as its title. */
export function shortDigest(digest: string): Html {
  const colon = digest.indexOf(':');
  const short = colon < 0 ? digest.slice(0, 12) : `${digest.slice(0, colon + 13)}`;
  return html`<code title="${digest}">${short}${digest.length > short.length ? '…' : ''}</code>`;
}

export const plural = (n: number, one: string, many = `${one}s`): string => `${n} ${n === 1 ? one : many}`;

/** A button that copies `text` (with JS; without, the text is there to select). */
export const copyButton = (text: string, label = 'Copy'): Html =>
  html`<button type="button" class="secondary" data-copy="${text}" aria-label="${label}: ${text}">${label}</button>`;
