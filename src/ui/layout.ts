// The page shell of the web UI (head, navigation, sign-in/out), and the helpers that send pages and forms.
import type { FastifyReply } from 'fastify';
import { html, type Html, type HtmlValue } from './html.js';
import type { UiRequest } from './mount.js';
import { staticVersion } from './static.js';
import { urls } from './urls.js';

/** What the shell needs of a request: who is visiting and their CSRF token. */
export type PageContext = Pick<UiRequest, 'principal' | 'session' | 'csrf' | 'path'>;

export type Section = 'repositories' | 'access' | 'operations';

export interface PageOptions {
  /** the document title and, unless `heading` is given, the page's h1 */
  title: string;
  heading?: HtmlValue;
  /** the navigation entry shown as current */
  section?: Section;
  /** the trail above the heading, e.g. [{ label: 'Repositories', href: '/' }, { label: 'team/app' }] */
  crumbs?: { label: string; href?: string }[];
}

/** The hidden field that carries the visitor's CSRF token: in every form that changes something. */
export const csrfField = (ctx: Pick<UiRequest, 'csrf'>): Html =>
  html`<input type="hidden" name="_csrf" value="${ctx.csrf}" />`;

/**
 * htmx's settings (read from this meta element, no inline script): no eval, no script tags from fragments, no
 * inline indicator styles, requests to this site only. With the page's CSP (default-src 'self') it runs as is.
 */
const HTMX_CONFIG = JSON.stringify({
  allowEval: false,
  allowScriptTags: false,
  includeIndicatorStyles: false,
  selfRequestsOnly: true,
  historyCacheSize: 0,
  // every answer is swapped in, refusals (4xx pages) included: a boosted form shows why it was refused
  responseHandling: [
    { code: '204', swap: false },
    { code: '.*', swap: true },
  ],
});

function nav(ctx: PageContext, section: Section | undefined): Html {
  const p = ctx.principal;
  const item = (s: Section, label: string, href: string) =>
    html`<li><a href="${href}" ${section === s ? html` aria-current="page"` : ''}>${label}</a></li>`;
  return html`<header class="top">
    <nav aria-label="Main">
      <a class="brand" href="/">berth</a>
      <ul>
        ${item('repositories', 'Repositories', urls.repositories())}
        ${p.user !== null && item('access', 'Access', urls.access())}
        ${p.admin && item('operations', 'Operations', urls.operations())}
      </ul>
    </nav>
    <div class="who">
      ${
        p.user === null
          ? html`<a href="${urls.signIn(ctx.path === '/sign-in' ? undefined : ctx.path)}">Sign in</a>`
          : html`<span>Signed in as <strong>${p.user}</strong>${p.admin ? ' (administrator)' : ''}</span>
              <form method="post" action="${urls.signOut()}" class="inline">
                ${csrfField(ctx)}<button type="submit">Sign out</button>
              </form>`
      }
    </div>
  </header>`;
}

/** A whole page: the shell around `body`. */
export function page(ctx: PageContext, opts: PageOptions, body: HtmlValue): Html {
  const v = staticVersion();
  return html`<!doctype html>
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <meta name="htmx-config" content="${HTMX_CONFIG}" />
        <title>${opts.title} · berth</title>
        <link rel="stylesheet" href="${urls.static('berth.css')}?v=${v}" />
        <script src="${urls.static('htmx.min.js')}?v=${v}" defer></script>
        <script src="${urls.static('berth.js')}?v=${v}" defer></script>
      </head>
      <body hx-boost="true">
        <a class="skip" href="#main">Skip to content</a>
        ${nav(ctx, opts.section)}
        <main id="main">
          ${
            opts.crumbs?.length
              ? html`<nav aria-label="Breadcrumb" class="crumbs">
                  <ol>
                    ${opts.crumbs.map((c) =>
                      c.href
                        ? html`<li><a href="${c.href}">${c.label}</a></li>`
                        : html`<li aria-current="page">${c.label}</li>`,
                    )}
                  </ol>
                </nav>`
              : ''
          }
          <h1>${opts.heading ?? opts.title}</h1>
          ${body}
        </main>
      </body>
    </html> `;
}

/** Sends a page (status 200 unless told): HTML, not cached (it shows what the visitor may see). */
export function sendPage(
  ctx: PageContext & Pick<UiRequest, 'reply'>,
  opts: PageOptions,
  body: HtmlValue,
  status = 200,
): FastifyReply {
  return ctx.reply
    .code(status)
    .header('cache-control', 'no-store')
    .type('text/html; charset=utf-8')
    .send(page(ctx, opts, body).text);
}

/** After a form that changed something: 303 to the page that shows the result (Post/Redirect/Get). */
export function redirect(ctx: Pick<UiRequest, 'reply'>, to: string): FastifyReply {
  return ctx.reply.code(303).header('location', to).send();
}
