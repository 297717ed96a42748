// The UI mount with rows of the test's own: no existence leak, streamed forms and their token, session expiry, Secure.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readSmallBody } from '../../src/http/body.js';
import { html } from '../../src/ui/html.js';
import { sendPage } from '../../src/ui/layout.js';
import { uiRoute } from '../../src/ui/mount.js';
import { uiRoutes } from '../../src/ui/routes.js';
import { SESSION_TTL_MS } from '../../src/auth/sessions.js';
import { startUiServer, type UiServer } from './ui-server.js';

describe('the UI mount', () => {
  let s: UiServer;
  const streamed: string[] = [];
  beforeAll(async () => {
    s = await startUiServer('ui-mount', {
      // the test's rows first, then berth's (sign-in…)
      routes: (berth) => [
        uiRoute({
          name: 'page.probe',
          methods: ['GET'],
          path: '/repositories/{name}/-/probe',
          access: 'pull',
          handler: async (c) => {
            const { info } = await berth.repositories.get(c.name);
            return sendPage(c, { title: c.name }, html`<p>version ${info.latestVersion}</p>`);
          },
        }),
        uiRoute({
          name: 'form.probe',
          methods: ['POST'],
          path: '/repositories/{name}/-/probe',
          access: 'push',
          handler: async (c) => sendPage(c, { title: 'done' }, html`<p>pushed ${c.name}</p>`),
        }),
        uiRoute({
          name: 'form.stream',
          methods: ['POST'],
          path: '/streamed',
          access: 'anyone',
          body: 'stream',
          handler: async (c) => {
            // the token comes first in the body, as a form would put it before the file
            const body = (
              await readSmallBody(c.req, 1 << 20, () => new Error('too big') as never)
            ).toString();
            const [first, ...rest] = body.split('\n');
            c.checkCsrf(first);
            streamed.push(rest.join('\n'));
            return html`<p>stored</p>`;
          },
        }),
        uiRoute({
          name: 'form.careless',
          methods: ['POST'],
          path: '/careless',
          access: 'anyone',
          body: 'stream',
          handler: async () => html`<p>forgot the token</p>`,
        }),
        ...uiRoutes(berth),
      ],
    });
    await s.push('team/secret', '1.0');
    await s.push('pub/open', '1.0');
    await s.berth.auth.users.addPublic('pub/*');
    await s.berth.auth.users.create('dev', 'dev-password-1');
    await s.berth.auth.users.grant('dev', 'pub/*', ['pull']);
  });
  afterAll(() => s?.close());

  const page = (body: string, name: string) =>
    body.replaceAll(name, 'NAME').replaceAll(encodeURIComponent(name), 'NAME');

  it('answers a repository the visitor may not read exactly as a missing one', async () => {
    for (const agent of [
      s.agent(),
      await (async () => {
        const a = s.agent();
        await a.signIn('dev', 'dev-password-1');
        return a;
      })(),
    ]) {
      const hidden = await agent.get('/repositories/team/secret/-/probe');
      const missing = await agent.get('/repositories/team/nothing/-/probe');
      expect(hidden.status).toBe(404);
      expect(missing.status).toBe(404);
      expect(page(hidden.body, 'team/secret')).toBe(page(missing.body, 'team/nothing'));
      expect(hidden.body).toContain('there is no repository team/secret, or you may not see it');
    }
    expect((await s.agent().get('/repositories/pub/open/-/probe')).body).toContain('version 1');
  });

  it('refuses a write beyond what the visitor may: 403 where they may read, the 404 page where they may not', async () => {
    const dev = s.agent();
    await dev.signIn('dev', 'dev-password-1');
    const open = await dev.post('/repositories/pub/open/-/probe');
    expect(open.status).toBe(403);
    expect(open.body).toContain('dev may not push repository pub/open');
    const hidden = await dev.post('/repositories/team/secret/-/probe');
    expect(hidden.status).toBe(404);
    expect(hidden.body).toContain('there is no repository team/secret, or you may not see it');
    const admin = await s.admin();
    expect((await admin.post('/repositories/team/secret/-/probe')).body).toContain('pushed team/secret');
  });

  it('leaves a streamed body to its handler, which refuses it without the token before storing anything', async () => {
    const a = s.agent();
    await a.get('/sign-in');
    const post = (body: string, headers: Record<string, string> = {}) =>
      s.app.inject({
        method: 'POST',
        url: '/streamed',
        payload: body,
        headers: {
          'content-type': 'application/octet-stream',
          cookie: [...a.cookies].map(([k, v]) => `${k}=${v}`).join('; '),
          ...headers,
        },
      });
    expect((await post('not-the-token\nsecret data')).statusCode).toBe(403);
    expect(streamed).toEqual([]);
    expect((await post(`${a.csrf}\nthe data`)).statusCode).toBe(200);
    expect((await post('\nby header', { 'x-csrf-token': a.csrf })).statusCode).toBe(200);
    expect((await post('\nwrong header', { 'x-csrf-token': 'nope' })).statusCode).toBe(403);
    expect(streamed).toEqual(['the data', 'by header']);
    // a handler that never checks the token does not answer success
    expect((await s.app.inject({ method: 'POST', url: '/careless', payload: 'x' })).statusCode).toBe(500);
  });

  it('answers HEAD like GET without a body, and 405 for a method a page does not take', async () => {
    const head = await s.app.inject({ method: 'HEAD', url: '/repositories/pub/open/-/probe' });
    expect(head.statusCode).toBe(200);
    expect(head.body).toBe('');
    const put = await s.app.inject({ method: 'PUT', url: '/repositories/pub/open/-/probe' });
    expect(put.statusCode).toBe(405);
    expect(put.headers['content-type']).toMatch(/^text\/html/);
  });
});

describe('sessions', () => {
  let s: UiServer;
  let now = Date.parse('2026-01-01T00:00:00Z');
  beforeAll(async () => {
    s = await startUiServer('ui-sessions', { auth: { now: () => now }, trustProxy: ['127.0.0.1'] });
  });
  afterAll(() => s?.close());

  it('end after their time: the visitor is anonymous again', async () => {
    const a = await s.admin();
    now += SESSION_TTL_MS - 1000;
    expect((await a.get('/')).body).toContain('Signed in as');
    now += 2000;
    const after = await a.get('/');
    expect(after.body).not.toContain('Signed in as');
    expect(a.cookies.has('berth_session')).toBe(false);
  });

  it('end when their user is removed, even if a new user of the same name comes', async () => {
    await s.berth.auth.users.create('temp', 'temp-password-1');
    const a = s.agent();
    await a.signIn('temp', 'temp-password-1');
    expect((await a.get('/')).body).toContain('Signed in as <strong>temp</strong>');
    await s.berth.auth.users.remove('temp');
    await s.berth.auth.users.create('temp', 'other-password-1');
    expect((await a.get('/')).body).not.toContain('Signed in as');
  });

  it('have a Secure cookie when the visitor came over HTTPS (here: through a trusted proxy)', async () => {
    const a = s.agent();
    await a.get('/sign-in', { 'x-forwarded-proto': 'https' });
    const res = await a.post(
      '/sign-in',
      { username: 'admin', password: 'test-admin-password' },
      { 'x-forwarded-proto': 'https' },
    );
    const cookie = [res.headers['set-cookie']].flat().find((c) => String(c).startsWith('berth_session='));
    expect(cookie).toMatch(/; Secure/);
    expect(cookie).toMatch(/HttpOnly/);
  });
});
