// The browser of the UI tests: Debian's chromium driven by playwright-core (one browser per test file), pages that record console errors and CSP violations, and the screenshots of docs/screenshots.
//
// Chromium is /usr/bin/chromium (Debian: apt-get install chromium), or BERTH_TEST_CHROMIUM. Missing, the
// browser tests are skipped with that reason locally and fail under CI=true (describeBrowser). playwright-core
// downloads no browser; nothing here does either.
//
// Screenshots are taken by the tests every run; they are written to docs/screenshots/NAME.png only when
// BERTH_UPDATE_SCREENSHOTS=1 (so that a test run does not rewrite the committed pictures), else to a temp dir.
import { accessSync, constants, mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Locator, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe } from 'vitest';
import { describeUnless } from './backend.js';
import { slowE2E } from './tools.js';
import { ROOT } from './real-server.js';

export const CHROMIUM = process.env.BERTH_TEST_CHROMIUM || '/usr/bin/chromium';

/** The flags every launch uses (headless, no sandbox for root in CI, nothing that talks to the network). */
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

/** Why the browser tests cannot run here (undefined: they can). */
export function chromiumMissing(): string | undefined {
  try {
    accessSync(CHROMIUM, constants.X_OK);
    return undefined;
  } catch {
    return `no chromium at ${CHROMIUM} (Debian: apt-get install chromium; or set BERTH_TEST_CHROMIUM)`;
  }
}

/**
 * `describe` for a file of browser tests. They are a slow end-to-end group: run once, where BERTH_TEST_SLOW_E2E is
 * set (CI: the Node 20 SQLite run; the pages' queries run on both databases in test/ui), skipped with that reason
 * elsewhere. Where they run: skipped with its reason without chromium, failing under CI=true.
 */
export const describeBrowser: typeof describe = slowE2E()
  ? describeUnless(chromiumMissing() === undefined, chromiumMissing() ?? '')
  : (new Proxy(describe.skip, {
      apply: (target, self, [name, ...rest]: unknown[]) =>
        Reflect.apply(target, self, [
          `${String(name)} [skipped: a slow end-to-end test, run when BERTH_TEST_SLOW_E2E=1 (CI: its test_slow run)]`,
          ...rest,
        ]),
    }) as typeof describe);

export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: true });
}

/** One browser for the enclosing describe block (launched before its tests, closed after them). */
export function useBrowser(): { readonly browser: Browser } {
  let browser: Browser | undefined;
  beforeAll(async () => {
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
  });
  return {
    get browser() {
      if (!browser) throw new Error('the browser is not running (useBrowser() outside a describe block?)');
      return browser;
    },
  };
}

export const DESKTOP = { width: 1280, height: 800 };
export const PHONE = { width: 390, height: 844 };

export interface Tab {
  context: BrowserContext;
  page: Page;
  /**
   * console errors, uncaught page errors, CSP violations, answers >= 400 and failed requests seen so far (a test
   * expects none, or empties it after what it expected)
   */
  problems: string[];
  /** the questions of the dialogs (window.confirm) the page asked; each is accepted */
  dialogs: string[];
  close(): Promise<void>;
}

/**
 * A new browser context (its own cookies: one visitor) with one page on `baseURL`. Console errors, page errors,
 * Content-Security-Policy violations, error answers and failed requests are collected in `problems`; `javaScript: false` browses as a visitor
 * without JavaScript.
 */
export async function openTab(
  browser: Browser,
  baseURL: string,
  opts: { javaScript?: boolean; viewport?: { width: number; height: number } } = {},
): Promise<Tab> {
  const context = await browser.newContext({
    baseURL,
    viewport: opts.viewport ?? DESKTOP,
    javaScriptEnabled: opts.javaScript ?? true,
    acceptDownloads: false,
  });
  // (a page that does not come is a failure in seconds, not at the test's timeout)
  context.setDefaultTimeout(10_000);
  const page = await context.newPage();
  const problems: string[] = [];
  page.on('console', (m) => {
    // (a failed load is reported below with its URL)
    if (m.type() === 'error' && !m.text().startsWith('Failed to load resource'))
      problems.push(`console: ${m.text()}`);
  });
  const dialogs: string[] = [];
  page.on('dialog', (d) => {
    dialogs.push(d.message());
    void d.accept();
  });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('response', (r) => {
    // (chromium asks for /favicon.ico on its own)
    if (r.status() >= 400 && new URL(r.url()).pathname !== '/favicon.ico')
      problems.push(`http ${r.status()} ${r.request().method()} ${r.url()}`);
  });
  page.on('requestfailed', (r) => {
    // (net::ERR_ABORTED: the browser let the request go because the test navigated elsewhere meanwhile)
    const why = r.failure()?.errorText ?? '';
    if (why !== 'net::ERR_ABORTED') problems.push(`failed ${r.method()} ${r.url()}: ${why}`);
  });
  return { context, page, problems, dialogs, close: () => context.close() };
}

let shotDir: string | undefined;

/** Where screenshots go: docs/screenshots with BERTH_UPDATE_SCREENSHOTS=1, else a temp dir of this process. */
export function screenshotDir(): string {
  if (process.env.BERTH_UPDATE_SCREENSHOTS === '1') {
    shotDir ??= join(ROOT, 'docs', 'screenshots');
    mkdirSync(shotDir, { recursive: true });
  } else {
    shotDir ??= mkdtempSync(join(tmpdir(), 'berth-screenshots-'));
  }
  return shotDir;
}

/** A PNG of the page as it is (the whole page with `fullPage`), or of one element of it; answers its path. */
export async function screenshot(
  what: Page | Locator,
  name: string,
  opts: { fullPage?: boolean } = {},
): Promise<string> {
  if (!/^[a-z0-9-]+$/.test(name)) throw new Error(`screenshot name ${name}: use a-z, 0-9 and -`);
  const path = join(screenshotDir(), `${name}.png`);
  if ('goto' in what)
    await what.screenshot({ path, fullPage: opts.fullPage ?? false, animations: 'disabled' });
  else await what.screenshot({ path, animations: 'disabled' });
  return path;
}

/**
 * Signs in through the form at `/sign-in` (fields labelled "Username" and "Password", button "Sign in") and waits
 * to leave it; throws with the page's alert when the form comes back instead.
 */
export async function signIn(page: Page, user: string, password: string, path = '/sign-in'): Promise<void> {
  await page.goto(path);
  await page.getByLabel('Username').fill(user);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  const left = page
    .waitForURL((u) => u.pathname !== '/sign-in' && u.pathname !== '/login')
    .then(() => undefined);
  const refused = page
    .getByRole('alert')
    .waitFor()
    .then(() => page.getByRole('alert').innerText());
  const why = await Promise.race([left, refused]);
  if (why !== undefined) throw new Error(`sign-in as ${user} failed: ${why}`);
  // the page signed in has come (the header names the user)
  await page.getByRole('banner').getByText(`Signed in as ${user}`).waitFor();
}

/** The visible text of the page's main element, whitespace folded. */
export async function mainText(page: Page): Promise<string> {
  return ((await page.locator('main').innerText()) ?? '').replace(/\s+/g, ' ').trim();
}
