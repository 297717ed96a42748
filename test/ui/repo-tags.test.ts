// The tags page of a repository: rows, pull commands, filter, pages reading only their rows' manifests, deleting a tag.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startUiServer, type UiServer, type Agent, ADMIN } from './ui-server.js';
import { pushImage, putManifest, OCI_INDEX, OCI_MANIFEST, type PushedImage } from './repo-helpers.js';
import { formatBytes } from '../../src/core/sizes.js';
import { Keys } from '../../src/storage/cas.js';

let s: UiServer;
let admin: Agent;
let a: PushedImage;
let b: PushedImage;
let index: string;

beforeAll(async () => {
  s = await startUiServer('ui-repo-tags');
  a = await pushImage(s.app, 'team/app', '1.0', { layers: 2 });
  b = await pushImage(s.app, 'team/app', 'latest', { config: { architecture: 'arm64', variant: 'v8' } });
  index = await putManifest(s.app, 'team/app', 'multi', {
    schemaVersion: 2,
    mediaType: OCI_INDEX,
    manifests: [
      {
        mediaType: OCI_MANIFEST,
        digest: a.digest,
        size: 1,
        platform: { os: 'linux', architecture: 'amd64' },
      },
      {
        mediaType: OCI_MANIFEST,
        digest: b.digest,
        size: 1,
        platform: { os: 'linux', architecture: 'arm64', variant: 'v8' },
      },
    ],
  });
  admin = await s.admin();
  await s.berth.auth.users.create('reader', 'reader-password-1', false);
  await s.berth.auth.users.grant('reader', 'team/*', ['pull']);
});
afterAll(() => s?.close());

const rowOf = (body: string, tag: string): string => {
  const at = body.indexOf(`>${tag}</a></th>`);
  expect(at, `row of ${tag}`).toBeGreaterThan(0);
  const start = body.lastIndexOf('<tr>', at);
  const next = body.indexOf('<th scope="row" data-label="Tag">', at);
  return body.slice(start, next < 0 ? body.indexOf('</table></div>', start) : next);
};

describe('the tags page', () => {
  it('lists each tag with its short digest (and a copy button), platforms, size and when it moved', async () => {
    const res = await admin.get('/repositories/team/app');
    expect(res.status).toBe(200);
    expect(res.body).toContain('<h1>team/app</h1>');
    const one = rowOf(res.body, '1.0');
    expect(one).toContain(`href="/repositories/team/app/-/manifests/${a.digest}"`);
    expect(one).toContain(`>${a.digest.slice(0, 7 + 12)}</code>`);
    expect(one).toContain(`data-copy="${a.digest}"`);
    expect(one).toContain('linux/amd64');
    expect(one).toContain(`>${formatBytes(a.size)}</td>`);
    expect(one).toMatch(
      /<time datetime="[^"]+">\d{4}-\d\d-\d\d \d\d:\d\d UTC<\/time> <span class="muted">\(version 1\)/,
    );
    expect(rowOf(res.body, 'latest')).toContain('linux/arm64/v8');
    // an index: the platforms of its children, its size theirs
    const multi = rowOf(res.body, 'multi');
    expect(multi).toContain('linux/amd64, linux/arm64/v8');
    expect(multi).toContain(`data-copy="${index}"`);
  });

  it('shows pull commands for docker, podman, skopeo and crane, by tag and by digest', async () => {
    const row = rowOf((await admin.get('/repositories/team/app')).body, '1.0');
    const host = 'localhost:80';
    expect(row).toContain(`docker pull ${host}/team/app:1.0`);
    expect(row).toContain(`docker pull ${host}/team/app@${a.digest}`);
    expect(row).toContain(`podman pull --tls-verify=false ${host}/team/app:1.0`);
    expect(row).toContain(
      `skopeo copy --src-tls-verify=false docker://${host}/team/app@${a.digest} oci-archive:app.tar`,
    );
    expect(row).toContain(`crane pull --insecure ${host}/team/app:1.0 app.tar`);
    expect(row).toContain(`data-copy="crane pull --insecure ${host}/team/app@${a.digest} app.tar"`);
  });

  it('filters tags by a part of their name', async () => {
    const res = await admin.get('/repositories/team/app?q=ATE');
    expect(res.body).toContain('>latest</a>');
    expect(res.body).not.toContain('>1.0</a>');
    expect(res.body).toContain('1 matching “ATE”');
    expect((await admin.get('/repositories/team/app?q=nothing')).body).toContain('No tag matches “nothing”.');
    // LIKE's wildcards are the characters they are: "_" and "%" match only themselves
    for (const q of ['_', '%']) {
      expect((await admin.get(`/repositories/team/app?q=${encodeURIComponent(q)}`)).body).toContain(
        `No tag matches “${q}”.`,
      );
    }
  });

  it('refuses a page number that is not one (400, named)', async () => {
    const res = await admin.get('/repositories/team/app?page=x');
    expect(res.status).toBe(400);
    expect(res.body).toContain('query parameter page=x must be a non-negative integer');
  });

  it('a repository the visitor may not read is the same 404 page as one that does not exist', async () => {
    const anon = s.agent();
    const hidden = await anon.get('/repositories/team/app');
    const missing = await anon.get('/repositories/no/such');
    expect(hidden.status).toBe(404);
    expect(missing.status).toBe(404);
    expect(hidden.body.replace(/team(\/|%2F)app/g, 'X')).toBe(missing.body.replace(/no(\/|%2F)such/g, 'X'));
    const del = await anon.get('/repositories/team/app/-/tags/1.0/delete');
    expect(del.status).toBe(404);
  });
});

describe('a repository of many tags', () => {
  const digests: string[] = [];
  beforeAll(async () => {
    const base = await pushImage(s.app, 'big/repo', undefined);
    for (let i = 0; i < 120; i++) {
      // distinct manifests of one config and layer: each tag its own manifest
      digests.push(
        await putManifest(s.app, 'big/repo', `t${String(i).padStart(3, '0')}`, {
          schemaVersion: 2,
          mediaType: OCI_MANIFEST,
          config: {
            mediaType: 'application/vnd.oci.image.config.v1+json',
            digest: base.configDigest,
            size: 1,
          },
          layers: [],
          annotations: { n: String(i) },
        }),
      );
    }
  }, 60_000);

  it('shows 50 tags a page, with links to the others, and reads only the manifests of its rows', async () => {
    const read = new Set<string>();
    const reader = s.berth.store.reader.bind(s.berth.store);
    s.berth.store.reader = (key, range) => {
      read.add(key);
      return reader(key, range);
    };
    try {
      const res = await admin.get('/repositories/big/repo?page=2');
      expect(res.status).toBe(200);
      expect(res.body).toContain('Page 2 of 3');
      expect(res.body).toContain('href="/repositories/big/repo?page=3" rel="next"');
      expect(res.body).toContain('href="/repositories/big/repo" rel="prev"');
      expect(res.body).toContain('>t050</a>');
      expect(res.body).toContain('>t099</a>');
      expect(res.body).not.toContain('>t049</a>');
      expect(res.body).not.toContain('>t100</a>');
      const manifestsRead = digests.filter((d) => read.has(Keys.blob(d as `sha256:${string}`)));
      expect(manifestsRead).toEqual(digests.slice(50, 100));
    } finally {
      s.berth.store.reader = reader;
    }
  });
});

describe('deleting a tag', () => {
  it('asks first, saying which version the delete makes', async () => {
    const latest = (await s.berth.repositories.get('team/app')).info.latestVersion;
    const res = await admin.get('/repositories/team/app/-/tags/1.0/delete');
    expect(res.status).toBe(200);
    expect(res.body).toContain(`makes <strong>version ${latest + 1}</strong> of team/app`);
    expect(res.body).toMatch(/<form method="post" action="\/repositories\/team\/app\/-\/tags\/1.0\/delete"/);
    expect(res.body).toContain('name="_csrf"');
    expect((await admin.get('/repositories/team/app/-/tags/nope/delete')).status).toBe(404);
  });

  it('refuses the form without its CSRF token, and deletes nothing', async () => {
    const before = (await s.berth.repositories.get('team/app')).info.latestVersion;
    const res = await admin.post('/repositories/team/app/-/tags/1.0/delete', { _csrf: null });
    expect(res.status).toBe(403);
    expect(res.body).toContain('CSRF_INVALID');
    expect((await s.berth.repositories.get('team/app')).info.latestVersion).toBe(before);
  });

  it('refuses a user who may only pull (and shows them no delete link)', async () => {
    const reader = s.agent();
    await reader.signIn('reader', 'reader-password-1');
    const page = await reader.get('/repositories/team/app');
    expect(page.status).toBe(200);
    expect(page.body).not.toContain('/-/tags/1.0/delete');
    const res = await reader.post('/repositories/team/app/-/tags/1.0/delete');
    expect(res.status).toBe(403);
    expect(res.body).toContain('reader may not delete repository team/app');
  });

  it('deletes the tag in one new version, records who did it, and says so on the tags page', async () => {
    const before = (await s.berth.repositories.get('team/app')).info.latestVersion;
    const res = await admin.post('/repositories/team/app/-/tags/1.0/delete');
    expect(res.status).toBe(303);
    expect(res.headers.location).toBe(`/repositories/team/app?deleted=1.0&version=${before + 1}`);
    const page = await admin.get(String(res.headers.location));
    expect(page.body).toContain(`Tag <strong>1.0</strong> was deleted: that made version ${before + 1}.`);
    expect(page.body).not.toContain('>1.0</a></th>');
    expect(await s.berth.tags.list('team/app')).toEqual(['latest', 'multi']);
    const [entry] = await s.berth.auth.audit.list({ action: 'tag.delete', repository: 'team/app' });
    expect(entry).toMatchObject({ actor: ADMIN.user, detail: { tag: '1.0', version: before + 1 } });
  });
});
