// A berth with its web UI for fastify-inject tests, and a browser-like agent: cookies kept, CSRF token read from pages.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { openBerth, type Berth, type BerthConfig } from '../../src/app.js';
import { buildServer, type ServerOptions } from '../../src/server.js';
import { mountUi, type UiRoute } from '../../src/ui/mount.js';
import { removeTestDatabase, testDatabaseUrl } from '../helpers/backend.js';
import { dirImage, tarOf } from '../helpers/images.js';
import { ADMIN, basic } from '../helpers/in-process.js';

export { ADMIN };

export interface Answer {
  status: number;
  headers: Record<string, string | string[] | number | undefined>;
  body: string;
}

/** A visitor: sends the cookies the server set, reads the CSRF token of the last page that had one. */
export class Agent {
  readonly cookies = new Map<string, string>();
  csrf = '';

  constructor(readonly app: FastifyInstance) {}

  private keep(res: { headers: Answer['headers']; body: string }): void {
    const set = res.headers['set-cookie'];
    for (const c of set === undefined ? [] : Array.isArray(set) ? set : [String(set)]) {
      const [pair] = c.split(';');
      const eq = pair!.indexOf('=');
      const name = pair!.slice(0, eq);
      const value = pair!.slice(eq + 1);
      if (/Max-Age=0/.test(c)) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
    const token = /name="_csrf" value="([^"]*)"/.exec(res.body)?.[1];
    if (token) this.csrf = token;
  }

  private cookieHeader(): Record<string, string> {
    if (this.cookies.size === 0) return {};
    return { cookie: [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ') };
  }

  async get(url: string, headers: Record<string, string> = {}): Promise<Answer> {
    const res = await this.app.inject({
      method: 'GET',
      url,
      headers: { ...this.cookieHeader(), ...headers },
    });
    this.keep(res);
    return { status: res.statusCode, headers: res.headers, body: res.body };
  }

  /** A form POST; the visitor's CSRF token is added unless `_csrf` is given (null: sent without one). */
  async post(url: string, fields: Record<string, string | null> = {}, headers: Record<string, string> = {}) {
    const form = new URLSearchParams();
    const withToken = { _csrf: this.csrf, ...fields };
    for (const [k, v] of Object.entries(withToken)) if (v !== null) form.set(k, v);
    const res = await this.app.inject({
      method: 'POST',
      url,
      payload: form.toString(),
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...this.cookieHeader(), ...headers },
    });
    this.keep(res);
    return { status: res.statusCode, headers: res.headers, body: res.body };
  }

  /** Signs in through the form (first loading it, for the anonymous CSRF token). */
  async signIn(user: string, password: string): Promise<Answer> {
    await this.get('/sign-in');
    const res = await this.post('/sign-in', { username: user, password });
    if (res.status === 303) await this.get(String(res.headers.location));
    return res;
  }
}

export interface UiServer {
  app: FastifyInstance;
  berth: Berth;
  agent(): Agent;
  /** signed in as the administrator */
  admin(): Promise<Agent>;
  /** an image uploaded (as the administrator, through /api/v1) to `repo` with `tag` */
  push(repo: string, tag: string): Promise<string>;
  close(): Promise<void>;
}

/**
 * `routes`: a UI route table of the test's own in place of berth's (mounted the same way), e.g. to check the mount
 * with rows no page has yet.
 */
export async function startUiServer(
  label: string,
  opts: Pick<BerthConfig, 'clock' | 'auth'> & ServerOptions & { routes?: (berth: Berth) => UiRoute[] } = {},
): Promise<UiServer> {
  const data = mkdtempSync(join(tmpdir(), `${label}-`));
  const database = await testDatabaseUrl(label);
  const { clock, auth, routes, ...serverOptions } = opts;
  const berth = await openBerth({ data, database, ...(clock ? { clock } : {}), ...(auth ? { auth } : {}) });
  await berth.auth.users.ensureAdmin(ADMIN.password);
  const app = buildServer(berth, {
    logLevel: process.env.BERTH_TEST_LOG ?? 'silent',
    ...serverOptions,
    ...(routes ? { ui: false } : {}),
  });
  if (routes) mountUi(app, berth, routes(berth));
  await app.ready();
  return {
    app,
    berth,
    agent: () => new Agent(app),
    admin: async () => {
      const a = new Agent(app);
      const res = await a.signIn(ADMIN.user, ADMIN.password);
      if (res.status !== 303) throw new Error(`admin sign-in answered ${res.status}: ${res.body}`);
      return a;
    },
    push: async (repo, tag) => {
      const img = dirImage({ n: 1 });
      const res = await app.inject({
        method: 'POST',
        url: `/api/v1/repositories/${repo}/-/archives?tag=${tag}`,
        payload: await tarOf(img.entries),
        headers: { authorization: basic(ADMIN.user, ADMIN.password), 'content-type': 'application/x-tar' },
      });
      if (res.statusCode >= 300) throw new Error(`upload answered ${res.statusCode}: ${res.body}`);
      return img.digest;
    },
    close: async () => {
      await app.close();
      rmSync(data, { recursive: true, force: true });
      await removeTestDatabase(database);
    },
  };
}
