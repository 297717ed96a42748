// Uploading an archive from the browser: the form, a full upload, a partial one refused naming the missing layers, refusals.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startUiServer, type UiServer, type Agent } from './ui-server.js';
import { dirImage, tarOf } from '../helpers/images.js';

let s: UiServer;
let admin: Agent;
const BOUNDARY = '----berthUploadBoundaryK9s8d7f6';

beforeAll(async () => {
  s = await startUiServer('ui-repo-upload');
  admin = await s.admin();
  await admin.get('/repositories/team/app/-/upload');
});
afterAll(() => s?.close());

/** A multipart/form-data body as a browser sends the form: the fields in order, the file last. */
function multipart(fields: Record<string, string>, file?: Buffer): Buffer {
  const parts: Buffer[] = [];
  for (const [k, v] of Object.entries(fields)) {
    parts.push(Buffer.from(`--${BOUNDARY}\r\nContent-Disposition: form-data; name="${k}"\r\n\r\n${v}\r\n`));
  }
  if (file) {
    parts.push(
      Buffer.from(
        `--${BOUNDARY}\r\nContent-Disposition: form-data; name="archive"; filename="app.tar"\r\nContent-Type: application/x-tar\r\n\r\n`,
      ),
      file,
      Buffer.from('\r\n'),
    );
  }
  parts.push(Buffer.from(`--${BOUNDARY}--\r\n`));
  return Buffer.concat(parts);
}

async function upload(agent: Agent, repo: string, payload: Buffer, headers: Record<string, string> = {}) {
  const res = await agent.app.inject({
    method: 'POST',
    url: `/repositories/${repo}/-/upload`,
    payload,
    headers: {
      'content-type': `multipart/form-data; boundary=${BOUNDARY}`,
      cookie: [...agent.cookies].map(([k, v]) => `${k}=${v}`).join('; '),
      ...headers,
    },
  });
  return { status: res.statusCode, body: res.body };
}

const latest = async (repo: string) => (await s.berth.repositories.find(repo))?.info.latestVersion;

describe('the upload form', () => {
  it('has a labelled file input and tag, multipart, its CSRF token and a progress bar', async () => {
    const res = await admin.get('/repositories/team/app/-/upload');
    expect(res.status).toBe(200);
    expect(res.body).toContain('enctype="multipart/form-data"');
    expect(res.body).toContain('<label for="upload-file">Archive (.tar)</label>');
    expect(res.body).toContain('<input id="upload-file" name="archive" type="file" required');
    expect(res.body).toContain('<label for="upload-tag">');
    expect(res.body).toContain('data-progress');
    expect(res.body).toContain('<progress');
    // the token first: read before the archive
    expect(res.body.indexOf('name="_csrf"')).toBeLessThan(res.body.indexOf('name="archive"'));
  });

  it('is refused to anonymous visitors as a missing repository (404)', async () => {
    expect((await s.agent().get('/repositories/team/app/-/upload')).status).toBe(404);
  });
});

describe('uploading', () => {
  const image = dirImage({ n: 2 });

  it('imports a whole archive as one new version, with the tag given, and says what it did', async () => {
    const res = await upload(
      admin,
      'team/app',
      multipart({ _csrf: admin.csrf, tag: 'v1' }, await tarOf(image.entries)),
    );
    expect(res.status, res.body).toBe(201);
    expect(res.body).toContain('Uploaded: version <strong>1</strong> of team/app (dir).');
    expect(res.body).toContain('3 blob(s) uploaded, 0 reused');
    expect(res.body).toContain(`href="/repositories/team/app/-/manifests/${image.digest}"`);
    expect(res.body).toContain('>v1</td>');
    expect(await s.berth.tags.list('team/app')).toEqual(['v1']);
    const [entry] = await s.berth.auth.audit.list({ action: 'archive.upload', repository: 'team/app' });
    expect(entry).toMatchObject({ actor: 'admin', detail: { version: 1, tag: 'v1' } });
  });

  it('takes the token as a header too (the script sends it so)', async () => {
    const other = dirImage({ n: 1 });
    const res = await upload(admin, 'team/app', multipart({ tag: 'v2' }, await tarOf(other.entries)), {
      'x-csrf-token': admin.csrf,
    });
    expect(res.status, res.body).toBe(201);
    expect(await s.berth.tags.list('team/app')).toEqual(['v1', 'v2']);
  });

  it('takes an archive that leaves out layers the repository holds', async () => {
    const next = dirImage({ layers: [image.layers[0]!, Buffer.from('a new layer')] });
    const partial = next.entries.filter((e) => e.name !== image.layerDigests[0]!.slice(7));
    const res = await upload(
      admin,
      'team/app',
      multipart({ _csrf: admin.csrf, tag: 'v3' }, await tarOf(partial)),
    );
    expect(res.status, res.body).toBe(201);
    expect(res.body).toContain('1 reused from team/app');
  });

  it('refuses a partial archive whose left-out layers the repository lacks, naming them, and changes nothing', async () => {
    const before = await latest('team/app');
    const lacking = dirImage({ n: 2 });
    const partial = lacking.entries.filter((e) => e.name !== lacking.layerDigests[1]!.slice(7));
    const res = await upload(admin, 'team/app', multipart({ _csrf: admin.csrf }, await tarOf(partial)));
    expect(res.status).toBe(404);
    expect(res.body).toContain('BLOB_UNKNOWN');
    expect(res.body).toContain(
      `1 blob(s) are neither in the archive nor in repository team/app: ${lacking.layerDigests[1]}`,
    );
    expect(res.body).toContain(`<li><code>${lacking.layerDigests[1]}</code></li>`);
    // the form again, to try another archive
    expect(res.body).toContain('name="archive"');
    expect(await latest('team/app')).toBe(before);
  });

  it('refuses a form without its CSRF token before reading the archive, and changes nothing', async () => {
    const res = await upload(
      admin,
      'fresh/repo',
      multipart({ tag: 'x' }, await tarOf(dirImage({ n: 1 }).entries)),
    );
    expect(res.status).toBe(403);
    expect(res.body).toContain('CSRF_INVALID');
    expect(await latest('fresh/repo')).toBeUndefined();
  });

  it('refuses a form with no file chosen (400), and a body that is not a form (415)', async () => {
    const none = await upload(admin, 'team/app', multipart({ _csrf: admin.csrf, tag: 'x' }));
    expect(none.status).toBe(400);
    expect(none.body).toContain('choose the archive (a .tar file) to upload');
    const tar = await admin.app.inject({
      method: 'POST',
      url: '/repositories/team/app/-/upload',
      payload: Buffer.from('not a form'),
      headers: {
        'content-type': 'application/x-tar',
        'x-csrf-token': admin.csrf,
        cookie: [...admin.cookies].map(([k, v]) => `${k}=${v}`).join('; '),
      },
    });
    expect(tar.statusCode).toBe(415);
    expect(tar.body).toContain('this form takes multipart/form-data');
  });

  it('refuses a bad tag as berth upload does (400, named)', async () => {
    const res = await upload(
      admin,
      'team/app',
      multipart({ _csrf: admin.csrf, tag: 'bad tag!' }, await tarOf(dirImage({ n: 1 }).entries)),
    );
    expect(res.status).toBe(400);
    expect(res.body).toContain('TAG_INVALID');
  });

  it('refuses a user who may only pull (403)', async () => {
    await s.berth.auth.users.create('reader', 'reader-password-1', false);
    await s.berth.auth.users.grant('reader', 'team/*', ['pull']);
    const reader = s.agent();
    await reader.signIn('reader', 'reader-password-1');
    const res = await upload(
      reader,
      'team/app',
      multipart({ _csrf: reader.csrf }, await tarOf(dirImage({ n: 1 }).entries)),
    );
    expect(res.status).toBe(403);
  });
});

describe("a pull-through cache's repository", () => {
  it('takes no upload and no restore from the web pages (403, naming the cache), as the API refuses them', async () => {
    await s.berth.remotes.add({ name: 'hub', url: 'https://registry.example' });
    await s.berth.caches.add({ name: 'hubcache', remote: 'hub', prefix: 'hub' });
    const form = await admin.get('/repositories/hub/library/alpine/-/upload');
    expect(form.status).toBe(403);
    expect(form.body).toContain('belongs to the pull-through cache hubcache');
    const res = await upload(
      admin,
      'hub/library/alpine',
      multipart({ _csrf: admin.csrf }, await tarOf(dirImage({ n: 1 }).entries)),
    );
    expect(res.status).toBe(403);
    expect(await latest('hub/library/alpine')).toBeUndefined();
    expect((await admin.post('/repositories/hub/library/alpine/-/versions/0/restore')).status).toBe(403);
  });
});
