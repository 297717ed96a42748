// The `html` tagged template of the web pages: every interpolated value is escaped unless it is Html already.

/** Markup that is safe to put in a page as it is: made by `html`, or vouched for with `raw`. */
export class Html {
  constructor(readonly text: string) {}
  toString(): string {
    return this.text;
  }
}

/** What may go into an `html` template: text (escaped), numbers, Html, lists of these; null/undefined/false: nothing. */
export type HtmlValue = Html | string | number | bigint | boolean | null | undefined | readonly HtmlValue[];

const ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
  '`': '&#96;',
};

/** Text escaped for an element's content or a quoted attribute value. */
export function escapeHtml(s: string): string {
  return s.replace(/[&<>"'`]/g, (c) => ESCAPES[c]!);
}

function render(v: HtmlValue): string {
  if (v instanceof Html) return v.text;
  if (v === null || v === undefined || v === false || v === true) return '';
  if (Array.isArray(v)) return (v as readonly HtmlValue[]).map(render).join('');
  return escapeHtml(String(v));
}

/**
 * html`<p>${name}</p>`: the values are escaped (text) or kept (Html); arrays are joined with nothing between;
 * null, undefined and booleans render as nothing (so `${cond && html`…`}` works).
 */
export function html(strings: TemplateStringsArray, ...values: HtmlValue[]): Html {
  let out = strings[0]!;
  for (let i = 0; i < values.length; i++) out += render(values[i]!) + strings[i + 1]!;
  return new Html(out);
}

/** Markup taken as it is: only for text berth wrote itself, never for anything a user or client sent. */
export const raw = (s: string): Html => new Html(s);

/** Html items with `sep` between them. */
export function join(items: readonly HtmlValue[], sep: HtmlValue = ''): Html {
  const s = render(sep);
  return new Html(items.map(render).join(s));
}
