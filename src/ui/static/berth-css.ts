// The web UI's style sheet (served as /static/berth.css): readable at 1280 px and at phone width, with good contrast.
export const BERTH_CSS = String.raw`:root {
  --fg: #1b1f24; --muted: #4f5965; --bg: #ffffff; --panel: #f5f7f9; --line: #d6dbe1;
  --accent: #0b5cad; --accent-fg: #ffffff; --danger: #a4161a; --ok: #1a7f37; --badge: #e7f0fb;
  font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", sans-serif;
  color: var(--fg); background: var(--bg); line-height: 1.45;
}
* { box-sizing: border-box; }
body { margin: 0; }
a { color: var(--accent); }
a:focus-visible, button:focus-visible, input:focus-visible, select:focus-visible, summary:focus-visible {
  outline: 3px solid #f0b400; outline-offset: 2px;
}
code, .mono { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; font-size: 0.92em; }
.skip { position: absolute; left: -999px; top: 0; background: var(--bg); padding: 0.5rem; }
.skip:focus { left: 0.5rem; z-index: 10; }
header.top {
  display: flex; flex-wrap: wrap; align-items: center; justify-content: space-between; gap: 0.5rem 1rem;
  padding: 0.6rem 1.25rem; background: #0f2740; color: #ffffff;
}
header.top a { color: #ffffff; }
header.top nav { display: flex; align-items: center; gap: 1.25rem; flex-wrap: wrap; }
header.top ul { display: flex; gap: 1rem; list-style: none; margin: 0; padding: 0; flex-wrap: wrap; }
header.top a[aria-current="page"] { font-weight: 700; text-decoration-thickness: 3px; }
.brand { font-weight: 800; font-size: 1.2rem; text-decoration: none; letter-spacing: 0.02em; }
.who { display: flex; align-items: center; gap: 0.75rem; flex-wrap: wrap; }
.who button { background: transparent; color: #ffffff; border-color: #8fa7c0; }
main { max-width: 1200px; margin: 0 auto; padding: 1rem 1.25rem 3rem; }
h1 { font-size: 1.6rem; margin: 0.5rem 0 1rem; overflow-wrap: anywhere; }
h2 { font-size: 1.2rem; margin: 1.5rem 0 0.5rem; }
.crumbs ol { list-style: none; display: flex; flex-wrap: wrap; gap: 0.25rem; padding: 0; margin: 0; color: var(--muted); }
.crumbs li + li::before { content: "/"; margin-right: 0.25rem; }
table { border-collapse: collapse; width: 100%; margin: 0.5rem 0 1rem; }
th, td { text-align: left; padding: 0.45rem 0.6rem; border-bottom: 1px solid var(--line); vertical-align: top; }
th { background: var(--panel); font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
.table-wrap { overflow-x: auto; }
form.inline { display: inline; margin: 0; }
form.filters { display: flex; flex-wrap: wrap; gap: 0.5rem 1rem; align-items: end; margin: 0.5rem 0 1rem; }
form.stack { display: grid; gap: 0.75rem; max-width: 28rem; }
label { display: grid; gap: 0.2rem; font-weight: 600; }
input, select, textarea { font: inherit; padding: 0.4rem 0.5rem; border: 1px solid #8a96a3; border-radius: 4px; }
button, .button {
  font: inherit; padding: 0.4rem 0.9rem; border-radius: 4px; border: 1px solid var(--accent);
  background: var(--accent); color: var(--accent-fg); cursor: pointer; text-decoration: none; display: inline-block;
}
button.secondary, .button.secondary { background: var(--bg); color: var(--accent); }
button.danger { background: var(--danger); border-color: var(--danger); }
.badge { display: inline-block; padding: 0.05rem 0.45rem; border-radius: 999px; background: var(--badge); font-size: 0.85em; }
.badge.public { background: #dcf3e3; color: #0d4d22; }
.muted { color: var(--muted); }
.notice { padding: 0.75rem 1rem; border-left: 4px solid var(--ok); background: #eef8f1; margin: 1rem 0; }
.error { padding: 0.75rem 1rem; border-left: 4px solid var(--danger); background: #fbeeee; margin: 1rem 0; }
.error .code { color: var(--muted); font-size: 0.9em; }
.secret { font-family: ui-monospace, monospace; background: var(--panel); padding: 0.5rem; overflow-wrap: anywhere; }
.pager { display: flex; gap: 1rem; align-items: center; margin: 1rem 0; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 0.3rem 1rem; }
dl.facts dt { font-weight: 600; }
dl.facts dd { margin: 0; overflow-wrap: anywhere; }
nav.tabs ul { display: flex; flex-wrap: wrap; gap: 0.25rem 1.25rem; list-style: none; padding: 0; margin: 0 0 1rem; border-bottom: 1px solid var(--line); }
nav.tabs a { display: inline-block; padding: 0.4rem 0; }
nav.tabs a[aria-current="page"] { font-weight: 700; border-bottom: 3px solid var(--accent); }
fieldset { border: 1px solid var(--line); border-radius: 4px; display: flex; flex-wrap: wrap; gap: 0.5rem 1.25rem; }
legend { font-weight: 600; }
label.check { display: inline-flex; align-items: center; gap: 0.35rem; font-weight: 400; }
ul.plain { list-style: none; padding: 0; display: grid; gap: 0.4rem; }
code.detail { overflow-wrap: anywhere; font-size: 0.85em; }
code { overflow-wrap: anywhere; }
code.created-by { white-space: pre-wrap; font-size: 0.85em; }
.added { color: var(--ok); }
.removed { color: var(--danger); }
tr.empty-layer td { color: var(--muted); background: var(--panel); }
.badge.foreign { background: #fff0d6; color: #6b4200; }
table.pull td:first-child { white-space: nowrap; font-weight: 600; width: 6rem; }
table.pull code { user-select: all; }
label.inline { display: inline-flex; align-items: center; gap: 0.35rem; font-weight: 400; }
caption { text-align: left; padding: 0.25rem 0; }
pre { background: var(--panel); padding: 0.75rem; overflow-x: auto; }
.htmx-request .htmx-indicator, .htmx-indicator.htmx-request { opacity: 1; }
.htmx-indicator { opacity: 0; transition: opacity 200ms; }
@media (max-width: 640px) {
  main { padding: 0.75rem; }
  h1 { font-size: 1.3rem; }
  table.responsive thead { display: none; }
  table.responsive tr { display: block; border-bottom: 1px solid var(--line); padding: 0.4rem 0; }
  table.responsive td { display: grid; grid-template-columns: 8rem 1fr; border: 0; padding: 0.15rem 0.3rem; }
  table.responsive td::before { content: attr(data-label); font-weight: 600; color: var(--muted); }
  table.responsive td.num { text-align: left; }
}
`;
