// The repositories page: what each visitor may read (anonymous: public only), filter, pages, the columns.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPOSITORIES_PER_PAGE } from '../../src/ui/pages/repositories.js';
import { startUiServer, type UiServer } from './ui-server.js';

describe('the repositories page', () => {
  let s: UiServer;
  beforeAll(async () => {
    s = await startUiServer('ui-repositories');
    await s.push('pub/app', '1.0');
    await s.push('pub/app', '2.0');
    await s.push('team/secret', 'v1');
    await s.push('other/thing', 'x');
    await s.berth.auth.users.addPublic('pub/*');
    await s.berth.auth.users.create('dev', 'dev-password-1');
    await s.berth.auth.users.grant('dev', 'team/*', ['pull']);
  });
  afterAll(() => s?.close());

  const names = (body: string) =>
    [...body.matchAll(/<a href="\/repositories\/([^"]+)">/g)]
      .map((m) => m[1])
      .filter((n) => !n!.includes('/-/'));

  it('shows an anonymous visitor the public repositories only, with their badge', async () => {
    const res = await s.agent().get('/');
    expect(res.status).toBe(200);
    expect(names(res.body)).toEqual(['pub/app']);
    expect(res.body).toContain('<span class="badge public">public</span>');
    expect(res.body).not.toContain('team/secret');
  });

  it('shows a signed-in user what they may read: their grants and the public ones', async () => {
    const dev = s.agent();
    await dev.signIn('dev', 'dev-password-1');
    const res = await dev.get('/repositories');
    expect(names(res.body)).toEqual(['pub/app', 'team/secret']);
    const admin = await s.admin();
    expect(names((await admin.get('/repositories')).body)).toEqual(['other/thing', 'pub/app', 'team/secret']);
  });

  it("shows a session signed in with a scoped API token only what the token's scopes allow", async () => {
    const admin = await s.admin();
    const made = await admin.post('/access/tokens', {
      name: 'narrow',
      pattern: 'other/*',
      actions: 'pull',
      expiresIn: '7d',
    });
    const token = /<p class="secret" id="secret">(berth_[^<]+)<\/p>/.exec(made.body)![1]!;
    const a = s.agent();
    await a.signIn('admin', token);
    const res = await a.get('/');
    expect(names(res.body)).toEqual(['other/thing', 'pub/app']);
    // a scoped token is no administrator: no operations in the navigation, and the page refused
    expect(res.body).not.toContain('href="/operations"');
    expect((await a.get('/operations')).status).toBe(403);
    expect((await admin.get('/')).body).toContain('href="/operations"');
  });

  it('shows latest version, tag count, size and the last change (when, who, what)', async () => {
    const admin = await s.admin();
    const body = (await admin.get('/')).body;
    const row = body.slice(
      body.indexOf('href="/repositories/pub/app"'),
      body.indexOf('</tr>', body.indexOf('href="/repositories/pub/app"')),
    );
    expect(row).toMatch(
      /data-label="Latest version" class="num"><a href="\/repositories\/pub\/app\/-\/versions">2<\/a>/,
    );
    expect(row).toMatch(/data-label="Tags" class="num">2</);
    expect(row).toMatch(/data-label="Size" class="num">\d[\d.]* (B|KiB|kB|KB)/);
    expect(row).toMatch(
      /<time datetime="[^"]+">[^<]+ UTC<\/time> <span class="muted">by<\/span> admin: archive upload/,
    );
  });

  it('filters by name, and says when nothing matches', async () => {
    const admin = await s.admin();
    expect(names((await admin.get('/repositories?q=app')).body)).toEqual(['pub/app']);
    const none = await admin.get('/repositories?q=%3Cb%3Enope');
    expect(none.body).toContain('No repositories matching “&lt;b&gt;nope”');
  });

  it('pages through many repositories', async () => {
    for (let i = 0; i <= REPOSITORIES_PER_PAGE; i++) await s.push(`many/r${String(i).padStart(3, '0')}`, 't');
    const admin = await s.admin();
    const first = await admin.get('/repositories?q=many/');
    expect(names(first.body)).toHaveLength(REPOSITORIES_PER_PAGE);
    expect(first.body).toContain('href="/repositories?q=many%2F&amp;page=2" rel="next"');
    const second = await admin.get('/repositories?q=many/&page=2');
    expect(names(second.body)).toEqual([`many/r${String(REPOSITORIES_PER_PAGE).padStart(3, '0')}`]);
    expect(second.body).toContain('rel="prev"');
    expect(second.body).not.toContain('rel="next"');
    expect((await admin.get('/repositories?page=x')).status).toBe(400);
  });
});
