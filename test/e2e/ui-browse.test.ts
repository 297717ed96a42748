// Browsing the web UI in Debian's chromium: sign in, repositories → tags → image → layers (an index's platforms, a foreign layer, referrers), reading without JavaScript, a phone-width screen, and what an anonymous visitor sees (public repositories only, a private one exactly like a missing one).
import { afterAll, beforeAll, expect, it } from 'vitest';
import {
  describeBrowser,
  mainText,
  openTab,
  PHONE,
  screenshot,
  signIn,
  useBrowser,
  type Tab,
} from '../helpers/browser.js';
import { ADMIN, startTestServer, type TestServer } from '../helpers/in-process.js';
import {
  api,
  FOREIGN_URL,
  pushReferrers,
  pushWebImage,
  pushWebIndex,
  registryOf,
  type SeededImage,
} from './ui-seed.js';

let s: TestServer;
let web10: SeededImage;
let index: { digest: string; children: SeededImage[] };

beforeAll(async () => {
  s = await startTestServer('ui-browse');
  const reg = registryOf(s.url);
  web10 = await pushWebImage(reg, 'acme/web', '1.0', { version: '1.24.0' });
  await pushReferrers(reg, 'acme/web', web10);
  index = await pushWebIndex(reg, 'acme/web', 'latest', '1.26.1');
  await pushWebImage(reg, 'acme/win', 'ltsc2022', { foreign: true });
  await pushWebImage(reg, 'public/tools', 'stable', { version: '1.25.0' });
  await api(s.url, 'PUT', '/public', { pattern: 'public/*' });
});
afterAll(async () => {
  await s?.close();
});

/** Runs `fn` in a new tab, closes it, and expects the tab saw no problem (CSP violation, script error, 4xx). */
async function inTab(
  b: { browser: import('playwright-core').Browser },
  opts: Parameters<typeof openTab>[2],
  fn: (t: Tab) => Promise<void>,
) {
  const tab = await openTab(b.browser, s.url, opts);
  try {
    await fn(tab);
    expect(tab.problems).toEqual([]);
  } finally {
    await tab.close();
  }
}

/** (a script run in the page) the elements wider than the screen, innermost first, for the failure message */
const WIDEST = `[...document.querySelectorAll('main *')].filter((e) => e.getBoundingClientRect().right > innerWidth + 1)
  .reverse().slice(0, 5).map((e) => e.tagName + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right) + ': ' + e.textContent.slice(0, 60))`;

describeBrowser('browsing the web UI', () => {
  const b = useBrowser();

  it('signs in, then goes repositories → tags → image → layers, and an index to its platforms', async () => {
    await inTab(b, {}, async ({ page }) => {
      await page.goto('/sign-in');
      await screenshot(page, 'sign-in');
      await signIn(page, ADMIN.user, ADMIN.password);
      expect(new URL(page.url()).pathname).toBe('/');
      await page.getByRole('link', { name: 'acme/web', exact: true }).waitFor();
      expect(await page.getByRole('link', { name: 'public/tools' }).count()).toBe(1);
      await screenshot(page, 'repositories');

      await page.getByRole('link', { name: 'acme/web', exact: true }).click();
      await page.waitForURL('**/repositories/acme/web');
      const tags = await mainText(page);
      expect(tags).toContain('1.0');
      expect(tags).toContain('latest');
      expect(tags).toContain('linux/amd64');
      expect(tags).toContain('linux/arm64');
      await screenshot(page, 'tags');
      // the short digest's copy button puts the whole digest on the clipboard
      await page.context().grantPermissions(['clipboard-read', 'clipboard-write']);
      const copy = page.getByRole('button', { name: `Copy digest ${web10.digest}` }).first();
      await copy.click();
      await expect.poll(() => copy.textContent()).toBe('Copied');
      expect(await page.evaluate('navigator.clipboard.readText()')).toBe(web10.digest);
      // pull commands by tag and by digest, for each client
      const pull = page.locator('details', { hasText: 'Pull' }).first();
      await pull.locator('summary').click();
      const commands = (await pull.innerText()).replace(/\s+/g, ' ');
      const host = s.url.replace('http://', '');
      for (const cmd of ['docker pull', 'podman pull', 'skopeo copy', 'crane pull'])
        expect(commands).toContain(cmd);
      expect(commands).toMatch(new RegExp(`${host}/acme/web:(1\\.0|latest)`));
      expect(commands).toMatch(new RegExp(`${host}/acme/web@sha256:[0-9a-f]{64}`));
      await screenshot(pull, 'pull-commands');

      await page.getByRole('link', { name: '1.0', exact: true }).click();
      await page.waitForURL(`**/repositories/acme/web/-/manifests/${web10.digest}`);
      const image = await mainText(page);
      expect(image).toContain(web10.digest);
      expect(image).toContain('application/vnd.oci.image.manifest.v1+json');
      for (const want of ['/docker-entrypoint.sh', 'daemon off;', 'NGINX_PORT=8080', '8080/tcp', 'nginx'])
        expect(image).toContain(want);
      expect(image).toContain('org.opencontainers.image.version');
      // every history step, the empty ones too, with its created_by
      for (const h of web10.history) expect(image).toContain(h.created_by.replace(/\s+/g, ' ').trim());
      expect(await page.locator('text=empty layer').count()).toBe(
        web10.history.filter((h) => h.empty_layer).length,
      );
      // referrers grouped by kind
      expect(image).toMatch(/Signatures.*application\/vnd\.dev\.cosign\.artifact\.sig\.v1\+json/);
      expect(image).toMatch(/SBOMs.*application\/spdx\+json/);
      await screenshot(page, 'image', { fullPage: true });

      await page.goBack();
      await page.waitForURL('**/repositories/acme/web');
      await page.getByRole('link', { name: 'latest', exact: true }).click();
      await page.waitForURL(`**/-/manifests/${index.digest}`);
      await page.getByRole('link', { name: 'linux/arm64' }).click();
      await page.waitForURL(`**/-/manifests/${index.children[1]!.digest}`);
      expect(await mainText(page)).toContain('linux/arm64');
    });
  });

  it('flags a foreign layer with its URL', async () => {
    await inTab(b, {}, async ({ page }) => {
      await signIn(page, ADMIN.user, ADMIN.password);
      await page.goto('/repositories/acme/win');
      await page.getByRole('link', { name: 'ltsc2022', exact: true }).click();
      await page.waitForURL('**/-/manifests/**');
      const text = await mainText(page);
      expect(text).toMatch(/foreign layer/i);
      expect(await page.getByRole('link', { name: FOREIGN_URL }).count()).toBe(1);
    });
  });

  it('reads repositories, tags and an image without JavaScript (sign-in included)', async () => {
    await inTab(b, { javaScript: false }, async ({ page }) => {
      await signIn(page, ADMIN.user, ADMIN.password);
      await page.getByRole('link', { name: 'acme/web', exact: true }).click();
      await page.waitForURL('**/repositories/acme/web');
      await page.getByRole('link', { name: '1.0', exact: true }).click();
      await page.waitForURL(`**/-/manifests/${web10.digest}`);
      expect(await mainText(page)).toContain(web10.history[2]!.created_by);
    });
  });

  it('fits a phone-width screen (no sideways scrolling of the page)', async () => {
    await inTab(b, { viewport: PHONE }, async ({ page }) => {
      await signIn(page, ADMIN.user, ADMIN.password);
      for (const path of [
        '/',
        '/repositories/acme/web',
        '/repositories/acme/web/-/versions',
        // the image page: long unbroken words (a referrer's artifact type, digests) wrap
        `/repositories/acme/web/-/manifests/${web10.digest}`,
      ]) {
        await page.goto(path);
        const wide = await page.evaluate<number>('document.documentElement.scrollWidth');
        if (wide > PHONE.width) console.log(path, await page.evaluate(WIDEST));
        expect(wide, `${path} is ${wide} px wide on a ${PHONE.width} px screen`).toBeLessThanOrEqual(
          PHONE.width,
        );
      }
      await page.goto('/repositories/acme/web');
      await screenshot(page, 'tags-phone', { fullPage: true });
    });
  });

  it('shows an anonymous visitor the public repositories only, and a private one exactly as a missing one', async () => {
    const tab = await openTab(b.browser, s.url);
    try {
      const { page } = tab;
      await page.goto('/');
      await page.getByRole('link', { name: 'public/tools' }).waitFor();
      const list = await mainText(page);
      expect(list).not.toContain('acme/web');
      expect(list).not.toContain('acme/win');
      await page.getByRole('link', { name: 'public/tools' }).click();
      await page.waitForURL('**/repositories/public/tools');
      expect(await mainText(page)).toContain('stable');
      expect(tab.problems).toEqual([]);

      const seen = async (name: string) => {
        const answer = await page.goto(`/repositories/${name}`);
        return { status: answer?.status(), text: (await mainText(page)).replaceAll(name, 'NAME') };
      };
      const hidden = await seen('acme/web');
      const missing = await seen('acme/nothing-here');
      expect(hidden.status).toBe(404);
      expect(hidden).toEqual(missing);
      // …and so is a private image page
      const image = await page.goto(`/repositories/acme/web/-/manifests/${web10.digest}`);
      expect(image?.status()).toBe(404);
      expect(await mainText(page)).not.toContain('nginx');
    } finally {
      await tab.close();
    }
  });
});
