// Access in Debian's chromium: an API token created (scopes, expiry, the secret shown once), used and revoked; a form sent without its CSRF token refused, changing nothing; a wrong password; signing out; an administrator's users, audit log and cleanup dry run.
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
import { ADMIN, basic, http, startTestServer, type TestServer } from '../helpers/in-process.js';
import { pushWebImage, registryOf } from './ui-seed.js';

let s: TestServer;

beforeAll(async () => {
  s = await startTestServer('ui-access');
  await pushWebImage(registryOf(s.url), 'acme/web', '1.0');
});

interface TokenRow {
  id: string;
  name: string;
  scopes: string[] | null;
  expiresAt: string | null;
  revokedAt: string | null;
}
const tokens = async (): Promise<TokenRow[]> =>
  (await http('GET', `${s.url}/api/v1/tokens`)).json<{ tokens: TokenRow[] }>().tokens;
/** GET /api/v1/whoami with a token as the password: its status. */
const whoamiWith = async (token: string): Promise<number> =>
  (await http('GET', `${s.url}/api/v1/whoami`, undefined, { authorization: basic(ADMIN.user, token) }))
    .status;
afterAll(async () => {
  await s?.close();
});

async function inTab(browser: Browser, fn: (t: Tab) => Promise<void>) {
  const tab = await openTab(browser, s.url);
  try {
    await fn(tab);
  } finally {
    await tab.close();
  }
}

const signedInAs = async (tab: Tab): Promise<string | undefined> => {
  await tab.page.goto('/');
  const who = await tab.page.locator('header').innerText();
  return /Signed in as (\S+)/.exec(who)?.[1];
};

describeBrowser('access, sessions and forms', () => {
  const b = useBrowser();

  it('creates a token with scopes and expiry (its secret shown once), which works until it is revoked', async () => {
    await inTab(b.browser, async (tab) => {
      const { page } = tab;
      await signIn(page, ADMIN.user, ADMIN.password);
      await page.getByRole('link', { name: 'Access' }).first().click();
      await page.waitForURL('**/access');
      await page.getByLabel('Name', { exact: true }).fill('ci for acme');
      await page.getByLabel(/^Repositories/).fill('acme/*');
      await page.getByLabel('push').check();
      await page.getByLabel('Expires in').selectOption('30d');
      await page.getByRole('button', { name: 'Create token' }).click();
      await page.getByRole('status').waitFor();
      const secret = (await page.locator('#secret').innerText()).trim();
      expect(await page.getByRole('status').innerText()).toMatch(/shown only this once/);
      await screenshot(page, 'access-token');
      // (the form's answer is 201 Created)
      expect(tab.problems).toEqual([]);

      const [made] = (await tokens()).filter((t) => t.name === 'ci for acme');
      expect(made?.scopes).toEqual(['repository:acme/*:pull,push']);
      const days = (Date.parse(made!.expiresAt!) - Date.now()) / 86_400_000;
      expect(days).toBeGreaterThan(29.9);
      expect(days).toBeLessThan(30.1);
      expect(await whoamiWith(secret)).toBe(200);

      // shown once: not on the page when it comes again
      await page.goto('/access');
      expect(await mainText(page)).toContain('ci for acme');
      expect(await page.content()).not.toContain(secret);

      await page.getByRole('button', { name: `Revoke token ci for acme (${made!.id})` }).click();
      await page.waitForURL('**/access');
      await page
        .getByText(/revoked/)
        .first()
        .waitFor();
      expect(tab.dialogs).toEqual([expect.stringMatching(/Revoke the token ci for acme\?/)]);
      expect(await whoamiWith(secret)).toBe(401);
      expect((await tokens()).find((t) => t.id === made!.id)?.revokedAt).not.toBeNull();
      expect(tab.problems).toEqual([]);
    });
  });

  it('refuses a form sent without its CSRF token (403, named), and it changes nothing', async () => {
    await inTab(b.browser, async (tab) => {
      await signIn(tab.page, ADMIN.user, ADMIN.password);
      // the sign-out form, its hidden _csrf field taken out as a forged form would lack it
      const form = tab.page.locator('form[action="/sign-out"]');
      expect(await form.locator('input[name="_csrf"]').count()).toBe(1);
      await form.locator('input[name="_csrf"]').evaluate((e) => e.remove());
      const answer = tab.page.waitForResponse((r) => r.url().endsWith('/sign-out'));
      await form.getByRole('button', { name: 'Sign out' }).click();
      expect((await answer).status()).toBe(403);
      await tab.page.getByText(/CSRF/).first().waitFor();
      expect(await mainText(tab.page)).toMatch(/CSRF token/);
      tab.problems.length = 0;
      // still signed in: the refused sign-out did nothing
      expect(await signedInAs(tab)).toBe(ADMIN.user);
      await screenshot(tab.page, 'csrf-refused');

      // the same for the form that creates a token: no token made
      const before = (await tokens()).length;
      await tab.page.goto('/access');
      await tab.page.getByLabel('Name', { exact: true }).fill('forged');
      const create = tab.page.locator('form[action="/access/tokens"]');
      await create.locator('input[name="_csrf"]').evaluate((e) => e.remove());
      const refused = tab.page.waitForResponse((r) => r.url().endsWith('/access/tokens'));
      await create.getByRole('button', { name: 'Create token' }).click();
      expect((await refused).status()).toBe(403);
      await tab.page.getByText(/CSRF/).first().waitFor();
      expect((await tokens()).length).toBe(before);
      tab.problems.length = 0;
      expect(tab.problems).toEqual([]);
    });
  });

  it('shows the sign-in form again for a wrong password, and signs out', async () => {
    await inTab(b.browser, async (tab) => {
      await expect(signIn(tab.page, ADMIN.user, 'not-the-password')).rejects.toThrow(
        /sign-in as admin failed/,
      );
      expect(tab.problems).toEqual([expect.stringMatching(/^http 401 POST .*\/sign-in$/)]);
      tab.problems.length = 0;
      expect(await signedInAs(tab)).toBeUndefined();
      await signIn(tab.page, ADMIN.user, ADMIN.password);
      expect(await signedInAs(tab)).toBe(ADMIN.user);
      await tab.page.getByRole('button', { name: 'Sign out' }).click();
      await tab.page.getByRole('banner').getByRole('link', { name: 'Sign in' }).waitFor();
      expect(await signedInAs(tab)).toBeUndefined();
      expect(tab.problems).toEqual([]);
    });
  });

  it('shows an administrator the users, the audit log with filters, and a cleanup dry run', async () => {
    await inTab(b.browser, async (tab) => {
      const { page } = tab;
      await signIn(page, ADMIN.user, ADMIN.password);
      await page.goto('/access/users');
      expect(await mainText(page)).toContain(ADMIN.user);
      await page.goto('/access/audit');
      await page.getByLabel('Action (e.g. tag.delete)').fill('manifest.push');
      await page.getByRole('button', { name: 'Filter' }).click();
      await page.waitForURL(
        (u) => u.pathname === '/access/audit' && u.searchParams.get('action') === 'manifest.push',
      );
      const audit = await mainText(page);
      expect(audit).toContain('acme/web');
      expect(audit).not.toContain('session.create');
      await screenshot(page, 'audit');
      await page.getByRole('link', { name: 'Operations' }).first().click();
      await page.waitForURL('**/operations');
      await page.getByRole('button', { name: /Dry run/ }).click();
      await page.getByRole('status').waitFor();
      expect(await page.getByRole('status').innerText()).toMatch(/dry run: nothing was removed/i);
      await screenshot(page, 'operations');
      expect(tab.problems).toEqual([]);
    });
  });
});
