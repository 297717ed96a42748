// Uploading image archives from Debian's chromium: a full archive (with the progress script, and as a plain form without JavaScript), a partial one completed by what the repository holds, and a partial one refused, naming the missing layers and changing nothing.
import { createReadStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import {
  describeBrowser,
  mainText,
  openTab,
  screenshot,
  signIn,
  useBrowser,
  type Tab,
} from '../helpers/browser.js';
import { ADMIN, fixture, http, startTestServer, type TestServer } from '../helpers/in-process.js';

let s: TestServer;

beforeAll(async () => {
  s = await startTestServer('ui-upload');
});
afterAll(async () => {
  await s?.close();
});

/** The versions of a repository (none: it does not exist). */
async function versionCount(repo: string): Promise<number> {
  const r = await http('GET', `${s.url}/api/v1/repositories/${repo}/-/versions`);
  if (r.status === 404) return 0;
  return r.json<{ versions: unknown[] }>().versions.length;
}

/** Tags of a repository's latest version ([] when it does not exist). */
async function tagsOf(repo: string): Promise<string[]> {
  const r = await http('GET', `${s.url}/v2/${repo}/tags/list`);
  return r.status === 200 ? (r.json<{ tags: string[] | null }>().tags ?? []) : [];
}

/** The digests of the layers of the app image that its partial archive leaves out (base's two layers). */
async function baseLayers(): Promise<string[]> {
  const extract = tar.extract();
  let manifest = '';
  extract.on('entry', (h, body, next) => {
    const chunks: Buffer[] = [];
    body.on('data', (c: unknown) => {
      if (h.name.endsWith('manifest.json')) chunks.push(c as Buffer);
    });
    body.on('end', () => {
      if (chunks.length) manifest = Buffer.concat(chunks).toString();
      next();
    });
  });
  await pipeline(createReadStream(fixture('app.dir.partial.tar')), extract);
  const m = JSON.parse(manifest) as { layers: { digest: string }[] };
  return m.layers.slice(0, 2).map((l) => l.digest);
}

async function inTab(browser: Browser, javaScript: boolean, fn: (t: Tab) => Promise<void>) {
  const tab = await openTab(browser, s.url, { javaScript });
  try {
    await signIn(tab.page, ADMIN.user, ADMIN.password);
    await fn(tab);
  } finally {
    await tab.close();
  }
}

/** Chooses `file` in the upload form of `repo` (with `tag`) and sends it; answers how the browser sent it. */
async function upload(tab: Tab, repo: string, file: string, tag?: string): Promise<string> {
  const { page } = tab;
  await page.goto(`/repositories/${repo}/-/upload`);
  if (tag) await page.getByLabel(/^Tag/).fill(tag);
  await page.getByLabel(/^Archive/).setInputFiles(fixture(file));
  // the bar the script moves while the file streams (sent by XHR, that is)
  expect(await page.getByRole('progressbar', { name: 'Upload progress' }).count()).toBe(1);
  const sent = page.waitForRequest((r) => r.method() === 'POST' && r.url().endsWith('/-/upload'));
  await page.getByRole('button', { name: 'Upload' }).click();
  const how = (await sent).resourceType();
  await page.getByRole(/*refused or done*/ 'status').or(page.getByRole('alert')).first().waitFor();
  return how;
}

describeBrowser('uploading an archive from the browser', () => {
  const b = useBrowser();

  it('uploads a full archive with the progress script, and the result links to the image', async () => {
    await inTab(b.browser, true, async (tab) => {
      const how = await upload(tab, 'acme/base', 'base.dir.tar', '1.0');
      expect(how).toBe('xhr');
      const text = await mainText(tab.page);
      expect(text).toMatch(/Uploaded: version 1 of acme\/base/);
      expect(text).toMatch(/3 blob\(s\) uploaded/);
      expect(tab.problems).toEqual([]);
      await screenshot(tab.page, 'upload');
      expect(await tagsOf('acme/base')).toEqual(['1.0']);
      await tab.page
        .getByRole('link', { name: /sha256:/ })
        .first()
        .click();
      await tab.page.waitForURL('**/acme/base/-/manifests/sha256:*');
      expect(await mainText(tab.page)).toContain('layer 1');
    });
  });

  it('uploads a partial archive whose missing layers the repository holds (without JavaScript: a plain form)', async () => {
    await inTab(b.browser, false, async (tab) => {
      const how = await upload(tab, 'acme/base', 'app.dir.partial.tar', 'app');
      expect(how).toBe('document');
      const text = await mainText(tab.page);
      expect(text).toMatch(/Uploaded: version 2 of acme\/base/);
      expect(text).toMatch(/2 reused/);
      expect(tab.problems).toEqual([]);
      expect((await tagsOf('acme/base')).sort()).toEqual(['1.0', 'app']);
    });
  });

  it('refuses a partial archive for a repository without its layers, naming them, and changes nothing', async () => {
    await inTab(b.browser, true, async (tab) => {
      await upload(tab, 'acme/empty', 'app.dir.partial.tar', 'app');
      const alert = (await tab.page.getByRole('alert').innerText()).replace(/\s+/g, ' ');
      expect(alert).toContain('changed nothing');
      expect(alert).toContain('BLOB_UNKNOWN');
      for (const d of await baseLayers()) expect(alert).toContain(d);
      await screenshot(tab.page, 'upload-refused');
      // the only problem seen: the refusal's own answer
      expect(tab.problems).toEqual([expect.stringMatching(/^http 4\d\d POST .*\/acme\/empty\/-\/upload$/)]);
      expect(await versionCount('acme/empty')).toBe(0);
      // the form is there again to try another archive
      expect(await tab.page.getByLabel(/^Archive/).count()).toBe(1);
    });
  });
});
