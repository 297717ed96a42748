// The versions timeline: who made each version and how, the diff of two picked versions, restoring one.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startUiServer, type UiServer, type Agent, ADMIN } from './ui-server.js';
import { pushImage, type PushedImage } from './repo-helpers.js';
import { dirImage, tarOf } from '../helpers/images.js';
import { basic } from '../helpers/in-process.js';
import { shortDigest } from '../../src/ui/pages/repo-common.js';

let s: UiServer;
let admin: Agent;
let one: PushedImage;
let two: PushedImage;
const archive = dirImage({ n: 1 });

beforeAll(async () => {
  s = await startUiServer('ui-repo-versions');
  await s.berth.auth.users.create('writer', 'writer-password-1', false);
  await s.berth.auth.users.grant('writer', 'team/*', ['pull', 'push']);
  one = await pushImage(s.app, 'team/app', '1.0'); // version 1, by admin
  two = await pushImage(s.app, 'team/app', '1.0'); // version 2: 1.0 moves
  const up = await s.app.inject({
    method: 'POST',
    url: '/api/v1/repositories/team/app/-/archives?tag=extra',
    payload: await tarOf(archive.entries),
    headers: { authorization: basic('writer', 'writer-password-1'), 'content-type': 'application/x-tar' },
  }); // version 3, by writer
  expect(up.statusCode, up.body).toBe(201);
  admin = await s.admin();
  const del = await admin.post('/repositories/team/app/-/tags/extra/delete'); // version 4
  expect(del.status).toBe(303);
});
afterAll(() => s?.close());

const rowOf = (body: string, n: number): string => {
  const at = body.indexOf(`<th scope="row" data-label="Version">${n}`);
  expect(at, `row of version ${n}`).toBeGreaterThan(0);
  const start = body.lastIndexOf('<tr>', at);
  return body.slice(start, body.indexOf('</tr>', at));
};

describe('the versions timeline', () => {
  it('lists the versions newest first with time, actor, operation and +added/−removed', async () => {
    const res = await admin.get('/repositories/team/app/-/versions');
    expect(res.status).toBe(200);
    const order = [...res.body.matchAll(/data-label="Version">(\d+)/g)].map((m) => Number(m[1]));
    expect(order).toEqual([4, 3, 2, 1, 0]);
    expect(rowOf(res.body, 4)).toContain('<td data-label="Actor">admin</td>');
    expect(rowOf(res.body, 4)).toMatch(
      /data-label="Operation">delete<br><span class="muted">tag extra<\/span>/,
    );
    expect(rowOf(res.body, 4)).toContain('+0</span> / <span class="removed">−1');
    expect(rowOf(res.body, 3)).toContain('<td data-label="Actor">writer</td>');
    expect(rowOf(res.body, 3)).toMatch(
      /data-label="Operation">archive upload<br><span class="muted">tag extra/,
    );
    expect(rowOf(res.body, 2)).toMatch(/data-label="Operation">push<br><span class="muted">tag 1.0/);
    expect(rowOf(res.body, 1)).toContain('<td data-label="Actor">admin</td>');
    expect(rowOf(res.body, 1)).toMatch(/<time datetime="\d{4}-/);
    expect(rowOf(res.body, 0)).toContain('created');
    expect(rowOf(res.body, 4)).toContain('latest');
  });

  it('shows the retention setting', async () => {
    const res = await admin.get('/repositories/team/app/-/versions');
    expect(res.body).toContain(
      '<dt>Retention</dt><dd>the latest 10 versions are kept, and every version younger than 30 days',
    );
  });

  it('offers two versions to compare (the latest two picked) and a restore link for the older ones', async () => {
    const res = await admin.get('/repositories/team/app/-/versions');
    expect(res.body).toContain('<form method="get" action="/repositories/team/app/-/versions/diff"');
    expect(rowOf(res.body, 3)).toMatch(/name="from" value="3" checked/);
    expect(rowOf(res.body, 4)).toMatch(/name="to" value="4" checked/);
    expect(rowOf(res.body, 1)).toContain('href="/repositories/team/app/-/versions/1/restore"');
    expect(rowOf(res.body, 4)).not.toContain('/restore');
  });
});

describe('the diff of two versions', () => {
  it('shows a moved tag as 1.0: old → new, and the manifests and blobs added and removed with sizes', async () => {
    const res = await admin.get('/repositories/team/app/-/versions/diff?from=1&to=2');
    expect(res.status).toBe(200);
    expect(res.body).toContain(
      `<strong>1.0</strong>: <code title="${one.digest}">${shortDigest(one.digest)}…</code> → <code title="${two.digest}">${shortDigest(two.digest)}…</code>`,
    );
    expect(res.body).toMatch(/<h3>Manifests<\/h3>\s*<p class="added">\+ 1 added/);
    expect(res.body).toContain(`<code title="${two.digest}">`);
    expect(res.body).toMatch(/<h3>Blobs<\/h3>\s*<p class="added">\+ 2 added \(/);
    // nothing was removed from 1 to 2 but the tag's old target
    expect(res.body).not.toMatch(/<p class="removed">/);
  });

  it('the other way round: what 2 → 1 removes', async () => {
    const res = await admin.get('/repositories/team/app/-/versions/diff?from=2&to=1');
    expect(res.body).toMatch(/<p class="removed">− 1 removed/);
    expect(res.body).toMatch(/<p class="removed">− 2 removed/);
  });

  it('refuses a missing or bad version number (400) and an unknown version (404), naming it', async () => {
    const bad = await admin.get('/repositories/team/app/-/versions/diff?from=x&to=2');
    expect(bad.status).toBe(400);
    expect(bad.body).toContain('pick two versions to compare: from=x is not a version number');
    const none = await admin.get('/repositories/team/app/-/versions/diff?to=2');
    expect(none.status).toBe(400);
    const unknown = await admin.get('/repositories/team/app/-/versions/diff?from=1&to=99');
    expect(unknown.status).toBe(404);
    expect(unknown.body).toContain('99');
  });
});

describe('restoring a version', () => {
  it('asks first, saying which version it makes and what changes', async () => {
    const res = await admin.get('/repositories/team/app/-/versions/1/restore');
    expect(res.status).toBe(200);
    expect(res.body).toContain(
      'Restoring makes <strong>version 5</strong> of team/app with the content of version 1',
    );
    expect(res.body).toContain(`<strong>1.0</strong>: <code title="${two.digest}">`);
    expect(res.body).toContain('name="_csrf"');
  });

  it('refuses the form without its CSRF token, and a user who may not push; nothing changes', async () => {
    expect((await admin.post('/repositories/team/app/-/versions/1/restore', { _csrf: null })).status).toBe(
      403,
    );
    await s.berth.auth.users.create('looker', 'looker-password-1', false);
    await s.berth.auth.users.grant('looker', 'team/*', ['pull']);
    const looker = s.agent();
    await looker.signIn('looker', 'looker-password-1');
    const page = await looker.get('/repositories/team/app/-/versions');
    expect(page.status).toBe(200);
    expect(page.body).not.toContain('/restore');
    expect((await looker.post('/repositories/team/app/-/versions/1/restore')).status).toBe(403);
    expect((await s.berth.repositories.get('team/app')).info.latestVersion).toBe(4);
  });

  it('makes a new version with the old content, and the timeline says who restored what', async () => {
    const res = await admin.post('/repositories/team/app/-/versions/1/restore');
    expect(res.status).toBe(303);
    expect(res.headers.location).toBe('/repositories/team/app/-/versions?restored=1&version=5');
    const page = await admin.get(String(res.headers.location));
    expect(page.body).toContain('Version 1 was restored as version 5.');
    expect(rowOf(page.body, 5)).toContain(`<td data-label="Actor">${ADMIN.user}</td>`);
    expect(rowOf(page.body, 5)).toMatch(
      /data-label="Operation">restore<br><span class="muted">restored version 1/,
    );
    const m = await s.berth.manifests.get('team/app', { kind: 'tag', tag: '1.0' }, { head: true });
    expect(m.digest).toBe(one.digest);
  });
});

describe("berth's own versions", () => {
  it('are shown with their operation and message (cleanup), made by berth or by who ran it', async () => {
    await pushImage(s.app, 'team/other', '1'); // version 1
    await pushImage(s.app, 'team/other', undefined); // version 2: an untagged image
    await s.berth.repositories.setUntagged('team/other', { policy: 'remove', afterHours: 0 });
    await s.berth.cleanup.run({ protectionSeconds: 0 });
    const res = await admin.get('/repositories/team/other/-/versions');
    const row = rowOf(res.body, 3);
    expect(row).toContain('<td data-label="Actor"><span class="muted">berth</span></td>');
    expect(row).toMatch(
      /data-label="Operation">cleanup<br><span class="muted">cleanup: removed [^<]*untagged manifest/,
    );
    // a cleanup someone ran through the API: they are named
    await pushImage(s.app, 'team/other', undefined); // version 4: another untagged image
    const run = await s.app.inject({
      method: 'POST',
      url: '/api/v1/cleanup',
      payload: JSON.stringify({ protectionSeconds: 0 }),
      headers: { authorization: basic(ADMIN.user, ADMIN.password), 'content-type': 'application/json' },
    });
    expect(run.statusCode, run.body).toBe(200);
    const after = await admin.get('/repositories/team/other/-/versions');
    expect(rowOf(after.body, 5)).toContain(`<td data-label="Actor">${ADMIN.user}</td>`);
    expect(rowOf(after.body, 5)).toMatch(/data-label="Operation">cleanup</);
  });
});
