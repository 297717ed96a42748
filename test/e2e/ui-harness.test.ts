// The browser harness itself (test/helpers/browser.ts): Debian's chromium starts through playwright-core, and a page's CSP violations and script errors reach `problems`, so the UI tests' "no problems" checks mean something.
import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeBrowser, openTab, useBrowser } from '../helpers/browser.js';

const CSP = "default-src 'self'";
const PAGES: Record<string, string> = {
  '/clean': '<!doctype html><title>clean</title><h1>clean</h1><script src="/ok.js"></script>',
  '/ok.js': 'document.querySelector("h1").textContent = "ran";',
  '/inline': '<!doctype html><title>inline</title><h1>inline</h1><script>document.title = "x"</script>',
  '/style': '<!doctype html><title>style</title><h1 style="color:red">styled</h1>',
  '/throws': '<!doctype html><title>throws</title><script src="/throw.js"></script>',
  '/throw.js': 'throw new Error("boom from throw.js")',
};

let server: Server;
let base: string;

beforeAll(async () => {
  server = createServer((req, res) => {
    const body = PAGES[req.url ?? ''];
    if (body === undefined) return res.writeHead(404, { 'content-type': 'text/plain' }).end('not here');
    res.writeHead(200, {
      'content-type': req.url!.endsWith('.js') ? 'text/javascript' : 'text/html; charset=utf-8',
      'content-security-policy': CSP,
    });
    res.end(body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const addr = server.address();
  base = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
});
afterAll(() => new Promise<void>((r) => (server ? server.close(() => r()) : r())));

describeBrowser('the browser harness', () => {
  const b = useBrowser();

  it('runs a page from the same origin with no problems, and takes a screenshot', async () => {
    const tab = await openTab(b.browser, base);
    try {
      await tab.page.goto('/clean');
      await expect.poll(() => tab.page.textContent('h1')).toBe('ran');
      expect(tab.problems).toEqual([]);
      // (a PNG: chromium draws the page; docs/screenshots is left to the UI tests)
      const png = await tab.page.screenshot();
      expect(png.subarray(1, 4).toString()).toBe('PNG');
    } finally {
      await tab.close();
    }
  });

  it('reports an inline script and an inline style refused by the CSP, an uncaught error and an error answer', async () => {
    const tab = await openTab(b.browser, base);
    try {
      await tab.page.goto('/inline');
      await expect.poll(() => tab.problems.join('\n')).toMatch(/Content Security Policy/);
      tab.problems.length = 0;
      await tab.page.goto('/style');
      await expect.poll(() => tab.problems.join('\n')).toMatch(/style-src|inline style/i);
      tab.problems.length = 0;
      await tab.page.goto('/throws');
      await expect.poll(() => tab.problems.join('\n')).toMatch(/page error: boom from throw\.js/);
      tab.problems.length = 0;
      await tab.page.goto('/missing');
      expect(tab.problems).toEqual([`http 404 GET ${base}/missing`]);
    } finally {
      await tab.close();
    }
  });

  it('browses without JavaScript when told to', async () => {
    const tab = await openTab(b.browser, base, { javaScript: false });
    try {
      await tab.page.goto('/clean');
      expect(await tab.page.textContent('h1')).toBe('clean');
    } finally {
      await tab.close();
    }
  });
});
