// The access pages: own tokens (create with scopes and expiry, secret once, revoke); admins' users, permissions, public, audit.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { basic } from '../helpers/in-process.js';
import { startUiServer, type UiServer } from './ui-server.js';

describe('the access pages', () => {
  let s: UiServer;
  beforeAll(async () => {
    s = await startUiServer('ui-access');
    await s.berth.auth.users.create('dev', 'dev-password-1');
    await s.berth.auth.users.grant('dev', 'team/*', ['pull', 'push']);
    await s.push('team/app', '1.0');
  });
  afterAll(() => s?.close());

  it('creates a token with scopes and expiry: its secret shown once, and it works against /v2 within its scope', async () => {
    const dev = s.agent();
    await dev.signIn('dev', 'dev-password-1');
    expect((await dev.get('/access')).body).toContain('You have no API tokens.');
    const res = await dev.post('/access/tokens', {
      name: 'ci',
      pattern: 'team/*',
      actions: 'pull',
      expiresIn: '30d',
    });
    expect(res.status).toBe(201);
    const token = /<p class="secret" id="secret">(berth_[^<]+)<\/p>/.exec(res.body)![1]!;
    expect(res.body).toContain('shown only this once');
    expect(res.body).toContain('<code>repository:team/*:pull</code>');
    // the list afterwards never shows it again
    const list = await dev.get('/access');
    expect(list.body).not.toContain(token);
    expect(list.body).toMatch(/<td data-label="Name">ci<\/td>/);
    // the same token through the API: pull yes, push no
    const pull = await s.app.inject({
      method: 'GET',
      url: '/api/v1/repositories/team/app/-/versions',
      headers: { authorization: basic('dev', token) },
    });
    expect(pull.statusCode).toBe(200);
    const id = /berth_([a-z0-9]{12})_/.exec(token)![1]!;
    const info = await s.berth.auth.tokens.get(id);
    expect(info.scopes).toEqual(['repository:team/*:pull']);
    const days = (Date.parse(info.expiresAt!) - Date.now()) / 86_400_000;
    expect(days).toBeGreaterThan(29.9);
    expect(days).toBeLessThan(30.1);
  });

  it('refuses scopes beyond what the form allows with a page naming the problem, and creates nothing', async () => {
    const dev = s.agent();
    await dev.signIn('dev', 'dev-password-1');
    const before = (await s.berth.auth.tokens.list('dev')).length;
    const res = await dev.post('/access/tokens', { name: 'x', pattern: 'team/*', expiresIn: '30d' });
    expect(res.status).toBe(400);
    expect(res.body).toContain('tick at least one action');
    const bad = await dev.post('/access/tokens', { name: 'x', expiresIn: 'soon' });
    expect(bad.status).toBe(400);
    expect(bad.body).toContain('is not a duration');
    expect((await s.berth.auth.tokens.list('dev')).length).toBe(before);
  });

  it('revokes a token (which then no longer signs in), and records both in the audit log', async () => {
    const dev = s.agent();
    await dev.signIn('dev', 'dev-password-1');
    const made = await dev.post('/access/tokens', { name: 'short', expiresIn: '7d' });
    const token = /<p class="secret" id="secret">(berth_[^<]+)<\/p>/.exec(made.body)![1]!;
    const id = /berth_([a-z0-9]{12})_/.exec(token)![1]!;
    expect((await dev.post(`/access/tokens/${id}/revoke`, { _csrf: null })).status).toBe(403);
    expect((await s.berth.auth.tokens.get(id)).revokedAt).toBeNull();
    const res = await dev.post(`/access/tokens/${id}/revoke`);
    expect(res.status).toBe(303);
    expect((await s.berth.auth.tokens.get(id)).revokedAt).not.toBeNull();
    const again = s.agent();
    await again.get('/sign-in');
    expect((await again.post('/sign-in', { username: 'dev', password: token })).status).toBe(401);
    const actions = (await s.berth.auth.audit.list({ actor: 'dev' })).map((e) => e.action);
    expect(actions).toEqual(expect.arrayContaining(['token.create', 'token.revoke', 'session.create']));
  });

  it("does not let a user revoke another user's token", async () => {
    const admin = await s.admin();
    const made = await admin.post('/access/tokens', { name: 'admins', expiresIn: '7d' });
    const id = /berth_([a-z0-9]{12})_/.exec(made.body)![1]!;
    const dev = s.agent();
    await dev.signIn('dev', 'dev-password-1');
    const res = await dev.post(`/access/tokens/${id}/revoke`);
    expect(res.status).toBe(403);
    expect((await s.berth.auth.tokens.get(id)).revokedAt).toBeNull();
  });

  it('keeps the admin pages from users who are not administrators, and from anonymous visitors', async () => {
    const dev = s.agent();
    await dev.signIn('dev', 'dev-password-1');
    for (const page of [
      '/access/users',
      '/access/permissions',
      '/access/public',
      '/access/audit',
      '/operations',
    ]) {
      const res = await dev.get(page);
      expect(res.status, page).toBe(403);
      expect(res.body).toContain('dev is not an administrator');
      const anon = await s.agent().get(page);
      expect(anon.status, page).toBe(303);
      expect(anon.headers.location).toBe(`/sign-in?next=${encodeURIComponent(page)}`);
    }
    expect((await dev.post('/access/users', { name: 'evil', password: 'evil-password-1' })).status).toBe(403);
    expect(await s.berth.auth.users.find('evil')).toBeUndefined();
    // the admin tabs are not shown to them
    expect((await dev.get('/access')).body).not.toContain('href="/access/users"');
  });

  it('lets an administrator create and remove users, grant and revoke permissions, and make repositories public', async () => {
    const admin = await s.admin();
    expect((await admin.post('/access/users', { name: 'ops', password: 'ops-password-1' })).status).toBe(303);
    expect((await admin.get('/access/users')).body).toContain('>ops</a>');
    expect(
      (await admin.post('/access/permissions', { user: 'ops', pattern: 'team/*', actions: 'pull' })).status,
    ).toBe(303);
    expect(await s.berth.auth.users.show('ops')).toMatchObject({
      permissions: [{ pattern: 'team/*', actions: ['pull'] }],
    });
    expect((await admin.get('/access/permissions?user=ops')).body).toContain('<code>team/*</code>');
    expect((await admin.post('/access/permissions/revoke', { user: 'ops', pattern: 'team/*' })).status).toBe(
      303,
    );
    expect((await s.berth.auth.users.show('ops')).permissions).toEqual([]);
    expect((await admin.post('/access/public', { pattern: 'team/*' })).status).toBe(303);
    expect(await s.berth.auth.users.publicPatterns()).toEqual(['team/*']);
    s.berth.auth.invalidate();
    expect((await s.agent().get('/')).body).toContain('team/app');
    expect((await admin.post('/access/public/remove', { pattern: 'team/*' })).status).toBe(303);
    expect(await s.berth.auth.users.publicPatterns()).toEqual([]);
    expect((await admin.post('/access/users/ops/remove')).status).toBe(303);
    expect(await s.berth.auth.users.find('ops')).toBeUndefined();
    const bad = await admin.post('/access/permissions', { user: 'dev', pattern: 'team/*', actions: 'fly' });
    expect(bad.status).toBe(400);
    expect(bad.body).toContain('is not a list of actions');
  });

  it('shows the audit log with filters, newest first', async () => {
    const admin = await s.admin();
    const all = await admin.get('/access/audit');
    expect(all.status).toBe(200);
    expect(all.body).toContain('<code>archive.upload</code>');
    const only = await admin.get('/access/audit?action=token.revoke');
    const actions = [...only.body.matchAll(/<td data-label="Action"><code>([^<]+)<\/code>/g)].map(
      (m) => m[1],
    );
    expect(actions.length).toBeGreaterThan(0);
    expect(new Set(actions)).toEqual(new Set(['token.revoke']));
    const byWho = await admin.get('/access/audit?actor=nobody-at-all');
    expect(byWho.body).toContain('No entries');
  });
});

describe('the operations page', () => {
  let s: UiServer;
  let digest: string;
  beforeAll(async () => {
    s = await startUiServer('ui-operations');
    digest = await s.push('team/app', '1.0');
  });
  afterAll(() => s?.close());

  it('shows storage totals, runs a cleanup dry run that removes nothing, then a real run, audited', async () => {
    const admin = await s.admin();
    const page = await admin.get('/operations');
    expect(page.status).toBe(200);
    expect(page.body).toMatch(/All blobs and manifests<\/th><td class="num">\d+ blobs?<\/td>/);
    // the image deleted, and only the latest version kept: its blobs are unreferenced, cleanup's to remove
    const del = await s.app.inject({
      method: 'DELETE',
      url: `/api/v1/repositories/team/app/-/manifests/${digest}`,
      headers: { authorization: basic('admin', 'test-admin-password') },
    });
    expect(del.statusCode).toBeLessThan(300);
    await s.berth.history.setRetention('team/app', { versions: 1, days: null });
    const before = await s.berth.diskUsage.wholeStore();
    const dry = await admin.post('/operations/cleanup', { protectionSeconds: '0', dryRun: 'true' });
    expect(dry.status).toBe(200);
    expect(dry.body).toContain('Cleanup dry run: nothing was removed');
    expect(await s.berth.diskUsage.wholeStore()).toEqual(before);
    const run = await admin.post('/operations/cleanup', { protectionSeconds: '0', dryRun: 'false' });
    expect(run.body).toContain('Cleanup done');
    expect(run.body).toMatch(/Cleanup removed [1-9]\d* blobs?/);
    expect((await s.berth.diskUsage.wholeStore()).blobs.count).toBeLessThan(before.blobs.count);
    const audit = await s.berth.auth.audit.list({ action: 'cleanup' });
    expect(audit.map((e) => e.detail?.dryRun)).toEqual([false, true]);
    const bad = await admin.post('/operations/cleanup', { protectionSeconds: 'soon', dryRun: 'false' });
    expect(bad.status).toBe(400);
    expect(bad.body).toContain('is not a whole number of seconds');
  });
});
