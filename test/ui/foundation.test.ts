// The web UI's foundation: escaping, the page shell and its headers, static files, sessions, CSRF, --no-ui.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { html, raw, join } from '../../src/ui/html.js';
import { startUiServer, type UiServer } from './ui-server.js';
import { basic } from '../helpers/in-process.js';

describe('html``', () => {
  it('escapes every interpolated value unless it is Html', () => {
    const evil = `<script>alert("x")</script>'&`;
    expect(html`<p title="${evil}">${evil}</p>`.text).toBe(
      '<p title="&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&#39;&amp;">&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&#39;&amp;</p>',
    );
    expect(html`<b>${raw('<i>ok</i>')}</b>`.text).toBe('<b><i>ok</i></b>');
  });

  it('joins arrays, drops null/undefined/booleans, keeps numbers', () => {
    const items = ['a<', 'b'].map((s) => html`<li>${s}</li>`);
    expect(html`<ul>${items}</ul>`.text).toBe('<ul><li>a&lt;</li><li>b</li></ul>');
    expect(html`${null}${undefined}${false}${true}${0}`.text).toBe('0');
    expect(join([html`<a>`, 'b&'], html`<hr>`).text).toBe('<a><hr>b&amp;');
  });
});

describe('the web UI', () => {
  let s: UiServer;
  beforeAll(async () => {
    s = await startUiServer('ui-foundation');
  });
  afterAll(() => s?.close());

  it('serves the repositories page at / with a CSP that allows only this site, and htmx configured without eval', async () => {
    const res = await s.agent().get('/');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/html/);
    expect(String(res.headers['content-security-policy'])).toMatch(/^default-src 'self';/);
    expect(res.headers['x-frame-options']).toBe('DENY');
    expect(res.body).toContain('<h1>Repositories</h1>');
    expect(res.body).toMatch(/<script src="\/static\/htmx\.min\.js\?v=[0-9a-f]+" defer><\/script>/);
    const config = /<meta name="htmx-config" content="([^"]*)"\s*\/?>/
      .exec(res.body)![1]!
      .replace(/&quot;/g, '"');
    expect(JSON.parse(config)).toMatchObject({ allowEval: false, includeIndicatorStyles: false });
    // no inline script or style anywhere (the CSP would block them)
    expect(res.body).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
    expect(res.body).not.toMatch(/<style|\sstyle=/);
  });

  it('serves htmx 2 from the htmx.org package, the style sheet and the script, cacheable by their version', async () => {
    const a = s.agent();
    const htmx = await a.get('/static/htmx.min.js?v=1');
    expect(htmx.status).toBe(200);
    expect(htmx.headers['content-type']).toMatch(/^text\/javascript/);
    expect(htmx.body).toContain('2.0.');
    expect(htmx.headers['cache-control']).toContain('immutable');
    expect(htmx.headers['set-cookie']).toBeUndefined();
    const css = await a.get('/static/berth.css');
    expect(css.headers['content-type']).toMatch(/^text\/css/);
    const again = await a.get('/static/berth.css', { 'if-none-match': String(css.headers.etag) });
    expect(again.status).toBe(304);
    expect((await a.get('/static/nothing.js')).status).toBe(404);
  });

  it('labels the metrics of pages by their route names', async () => {
    await s.agent().get('/repositories');
    const metrics = await s.app.inject({ method: 'GET', url: '/metrics' });
    expect(metrics.body).toMatch(/berth_http_requests_total\{[^}]*route="page\.repositories"[^}]*\} [1-9]/);
  });

  it('answers an unknown page with a 404 page, and leaves /v2 and /api/v1 as they were', async () => {
    const a = s.agent();
    const res = await a.get('/repositoriesx');
    expect(res.status).toBe(404);
    const unknown = await a.get('/repositories/a/b/-/nothing');
    expect(unknown.status).toBe(404);
    expect(unknown.headers['content-type']).toMatch(/^text\/html/);
    const api = await a.get('/api/v1/repositories');
    expect(api.status).toBe(401);
    expect(JSON.parse(api.body).errors[0].code).toBe('UNAUTHORIZED');
    expect((await a.get('/v2/')).status).toBe(401);
    expect(JSON.parse((await a.get('/nothing-here')).body).errors[0].code).toBe('NOT_FOUND');
  });

  it('signs in with user name and password: an HttpOnly SameSite=Strict session cookie, then the page shows the user', async () => {
    const a = s.agent();
    const form = await a.get('/login');
    expect(form.body).toMatch(/<label for="username">Username<\/label>/);
    expect(form.body).toMatch(/<label for="password">Password<\/label>/);
    const res = await a.post('/sign-in', {
      username: 'admin',
      password: 'test-admin-password',
      next: '/access',
    });
    expect(res.status).toBe(303);
    expect(res.headers.location).toBe('/access');
    const cookie = [res.headers['set-cookie']].flat().find((c) => String(c).startsWith('berth_session='));
    expect(cookie).toMatch(/HttpOnly/);
    expect(cookie).toMatch(/SameSite=Strict/);
    expect(cookie).not.toMatch(/Secure/); // plain HTTP here
    const home = await a.get('/');
    expect(home.body).toContain('Signed in as <strong>admin</strong>');
  });

  it('refuses wrong credentials with the form again (401), and sends nowhere but this site after sign-in', async () => {
    const a = s.agent();
    await a.get('/sign-in');
    const bad = await a.post('/sign-in', { username: 'admin', password: 'wrong' });
    expect(bad.status).toBe(401);
    expect(bad.body).toContain('wrong user name or password for admin');
    expect(a.cookies.has('berth_session')).toBe(false);
    const ok = await a.post('/sign-in', {
      username: 'admin',
      password: 'test-admin-password',
      next: '//evil.example/',
    });
    expect(ok.headers.location).toBe('/');
  });

  it('signs in with an API token as the password', async () => {
    const created = await s.app.inject({
      method: 'POST',
      url: '/api/v1/tokens',
      payload: { name: 'ui' },
      headers: { authorization: basic('admin', 'test-admin-password') },
    });
    const token = JSON.parse(created.body).token as string;
    const a = s.agent();
    await a.get('/sign-in');
    expect((await a.post('/sign-in', { username: 'admin', password: token })).status).toBe(303);
    expect((await a.get('/')).body).toContain('Signed in as <strong>admin</strong>');
  });

  it('refuses a form without its CSRF token, or with another session’s, naming CSRF_INVALID, and signs nobody in', async () => {
    const a = s.agent();
    await a.get('/sign-in');
    const none = await a.post('/sign-in', {
      username: 'admin',
      password: 'test-admin-password',
      _csrf: null,
    });
    expect(none.status).toBe(403);
    expect(none.body).toContain('CSRF_INVALID');
    expect(none.body).toContain('without its CSRF token');
    const other = s.agent();
    await other.get('/sign-in');
    const wrong = await a.post('/sign-in', {
      username: 'admin',
      password: 'test-admin-password',
      _csrf: other.csrf,
    });
    expect(wrong.status).toBe(403);
    expect(a.cookies.has('berth_session')).toBe(false);
    // the header works in place of the field (htmx, scripts)
    const viaHeader = await a.post(
      '/sign-in',
      { username: 'admin', password: 'test-admin-password', _csrf: null },
      { 'x-csrf-token': a.csrf },
    );
    expect(viaHeader.status).toBe(303);
  });

  it('signs out: the session ends on the server, so its cookie no longer signs in', async () => {
    const a = await s.admin();
    const stolen = new Map(a.cookies);
    const noToken = await a.post('/sign-out', { _csrf: null });
    expect(noToken.status).toBe(403);
    expect((await a.get('/')).body).toContain('Signed in as');
    const out = await a.post('/sign-out');
    expect(out.status).toBe(303);
    expect(a.cookies.has('berth_session')).toBe(false);
    const replay = s.agent();
    for (const [k, v] of stolen) replay.cookies.set(k, v);
    const page = await replay.get('/');
    expect(page.body).not.toContain('Signed in as');
    expect(page.body).toContain('>Sign in</a>');
  });
});

describe('berth serve --no-ui', () => {
  it('serves no pages, only the registry and the API', async () => {
    const s = await startUiServer('ui-off', { ui: false });
    try {
      const res = await s.agent().get('/');
      expect(res.status).toBe(404);
      expect(JSON.parse(res.body).errors[0].code).toBe('NOT_FOUND');
      expect((await s.agent().get('/static/htmx.min.js')).status).toBe(404);
    } finally {
      await s.close();
    }
  });
});
