// The versions timeline in Debian's chromium: compare two versions (a moved tag, manifests and blobs added), restore one after its confirmation, and delete a tag after a confirmation that names the version it makes.
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
import { ADMIN, http, startTestServer, type TestServer } from '../helpers/in-process.js';
import { pushManifest } from '../helpers/upstreams.js';
import { api, pushWebImage, registryOf, type SeededImage } from './ui-seed.js';

const REPO = 'acme/web';
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

let s: TestServer;
let a: SeededImage;
let b: SeededImage;
/** the versions: latest → a (and 1.0), then latest moved to b (and 1.1) */
let withA: number;
let withB: number;

const latestVersion = async (): Promise<number> =>
  ((await api(s.url, 'GET', `/repositories/${REPO}`)) as { latestVersion: number }).latestVersion;
const short = (d: string) => d.slice(0, 'sha256:'.length + 12);

/** Where a tag points in the latest version (undefined: no such tag). */
async function tagDigest(tag: string): Promise<string | undefined> {
  const r = await http('HEAD', `${s.url}/v2/${REPO}/manifests/${tag}`, undefined, { accept: OCI_MANIFEST });
  return r.status === 200 ? String(r.headers['docker-content-digest']) : undefined;
}

beforeAll(async () => {
  s = await startTestServer('ui-versions');
  const reg = registryOf(s.url);
  a = await pushWebImage(reg, REPO, '1.0', { version: '1.24.0' });
  await pushManifest(reg, REPO, 'latest', Buffer.from(await manifestOf('1.0')), OCI_MANIFEST);
  withA = await latestVersion();
  b = await pushWebImage(reg, REPO, '1.1', { version: '1.26.1' });
  await pushManifest(reg, REPO, 'latest', Buffer.from(await manifestOf('1.1')), OCI_MANIFEST);
  withB = await latestVersion();
});
afterAll(async () => {
  await s?.close();
});

async function manifestOf(tag: string): Promise<string> {
  const r = await http('GET', `${s.url}/v2/${REPO}/manifests/${tag}`, undefined, { accept: OCI_MANIFEST });
  return r.body.toString();
}

async function inTab(browser: Browser, fn: (t: Tab) => Promise<void>) {
  const tab = await openTab(browser, s.url);
  try {
    await signIn(tab.page, ADMIN.user, ADMIN.password);
    await fn(tab);
    expect(tab.problems).toEqual([]);
  } finally {
    await tab.close();
  }
}

describeBrowser('the versions timeline', () => {
  const br = useBrowser();

  it('compares two versions: the tag moved, the manifest and blobs added', async () => {
    await inTab(br.browser, async ({ page }) => {
      await page.goto(`/repositories/${REPO}`);
      await page.getByRole('link', { name: 'Versions' }).first().click();
      await page.waitForURL(`**/repositories/${REPO}/-/versions`);
      const timeline = await mainText(page);
      expect(timeline).toMatch(/push/);
      expect(timeline).toContain(ADMIN.user);
      expect(timeline).toMatch(/every version is kept|kept/);
      await screenshot(page, 'versions');

      await page.getByRole('radio', { name: `compare from version ${withA}`, exact: true }).check();
      await page.getByRole('radio', { name: `compare to version ${withB}`, exact: true }).check();
      await page.getByRole('button', { name: /compare/i }).click();
      await page.waitForURL(
        (u) =>
          u.pathname.endsWith('/-/versions/diff') &&
          u.searchParams.get('from') === String(withA) &&
          u.searchParams.get('to') === String(withB),
      );
      const diff = await mainText(page);
      expect(diff).toContain(`latest: ${short(a.digest)}… → ${short(b.digest)}…`);
      expect(diff).toMatch(/\+ ?1\.1/);
      expect(diff).toContain(short(b.digest));
      // b's layers and config were added (each layer size shown)
      expect(diff).toMatch(/Blobs.*\+ \d+ added/);
      await screenshot(page, 'diff');
    });
  });

  it('restores a version after its confirmation: one new version, the tags as they were', async () => {
    await inTab(br.browser, async ({ page }) => {
      const before = await latestVersion();
      await page.goto(`/repositories/${REPO}/-/versions`);
      const row = page
        .getByRole('row')
        .filter({ has: page.getByRole('rowheader', { name: String(withA), exact: true }) });
      await row.getByRole('link', { name: /restore/i }).click();
      await page.waitForURL(`**/-/versions/${withA}/restore`);
      expect(await mainText(page)).toContain(`version ${before + 1}`);
      // nothing happens before the confirmation
      expect(await latestVersion()).toBe(before);
      await page.getByRole('button', { name: `Restore version ${withA}` }).click();
      await page.waitForURL(`**/-/versions?restored=${withA}&version=${before + 1}`);
      expect(await mainText(page)).toContain(`Version ${withA} was restored as version ${before + 1}`);
      expect(await latestVersion()).toBe(before + 1);
      expect(await tagDigest('latest')).toBe(a.digest);
      expect(await tagDigest('1.1')).toBeUndefined();
    });
  });

  it('deletes a tag after a confirmation naming the version it makes', async () => {
    await inTab(br.browser, async ({ page }) => {
      const before = await latestVersion();
      await page.goto(`/repositories/${REPO}`);
      const row = page
        .getByRole('row')
        .filter({ has: page.getByRole('rowheader', { name: '1.0', exact: true }) });
      await row.getByRole('link', { name: /delete/i }).click();
      await page.waitForURL(`**/-/tags/1.0/delete`);
      expect(await mainText(page)).toContain(`version ${before + 1}`);
      await screenshot(page, 'delete-tag');
      expect(await tagDigest('1.0')).toBe(a.digest);
      await page.getByRole('button', { name: 'Delete tag 1.0' }).click();
      await page.waitForURL(`**/repositories/${REPO}?deleted=1.0&version=${before + 1}`);
      expect(await mainText(page)).toContain(`version ${before + 1}`);
      expect(await page.getByRole('rowheader', { name: '1.0', exact: true }).count()).toBe(0);
      expect(await tagDigest('1.0')).toBeUndefined();
      expect(await latestVersion()).toBe(before + 1);

      await page.goto(`/repositories/${REPO}/-/versions`);
      const timeline = await mainText(page);
      expect(timeline).toMatch(/delete/);
      expect(timeline).toMatch(/restore/);
    });
  });
});
