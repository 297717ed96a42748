// Starts berth in this process on a free loopback port, on a fresh data folder and the test database backend.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { createReadStream } from 'node:fs';
import type { Readable } from 'node:stream';
import { openBerth, type Berth, type BerthConfig } from '../../src/app.js';
import type { AuthOptions } from '../../src/auth/auth.js';
import { buildServer, type ServerOptions } from '../../src/server.js';
import { removeTestDatabase, testDatabaseUrl } from './backend.js';
import { dataStoreLocation, releaseDataStore } from './data-store.js';

export interface TestServer {
  url: string;
  berth: Berth;
  data: string;
  /** the open connections of the server (e.g. to wait until it has seen a client go) */
  connections(): Promise<number>;
  close(): Promise<void>;
}

/** The administrator every test server starts with; `http` sends these credentials unless told otherwise. */
export const ADMIN = { user: 'admin', password: 'test-admin-password' } as const;
export const basic = (user: string, password: string): string =>
  `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
/** Headers for a request without credentials. */
export const ANONYMOUS = { authorization: '' } as const;

/**
 * `auth`: the instance's authentication options (login policy, token lifetime…); `clock`: the time versions are
 * stamped and aged by, and /readyz's store check is cached by; `retention`: the rule of new repositories; `trustProxy`: the proxies whose
 * X-Forwarded-For gives the client's address (['127.0.0.1']: the test is the proxy and can speak from several);
 * `s3`: an S3 store of the test's own (with `s3Redirect`: blob GETs answer presigned URLs).
 */
export async function startTestServer(
  label = 'berth',
  opts: { auth?: AuthOptions; uploads?: BerthConfig['uploads'] } & Pick<
    BerthConfig,
    'clock' | 'retention' | 'upstreamFor' | 'onDemand' | 'syncPorts' | 's3' | 's3Redirect'
  > &
    ServerOptions = {},
): Promise<TestServer> {
  const data = mkdtempSync(join(tmpdir(), `${label}-`));
  const database = await testDatabaseUrl(label);
  const { auth, uploads, clock, retention, upstreamFor, onDemand, syncPorts, s3Redirect, ...rest } = opts;
  const { s3: ownStore, ...serverOptions } = rest;
  // a store the test chose itself (and removes), else BERTH_TEST_STORE's: the data folder's
  const s3 = ownStore ?? (await dataStoreLocation(data));
  const berth = await openBerth({
    data,
    database,
    ...(s3 ? { s3 } : {}),
    ...(s3Redirect ? { s3Redirect } : {}),
    ...(auth ? { auth } : {}),
    ...(uploads ? { uploads } : {}),
    clock,
    retention,
    upstreamFor,
    onDemand,
    ...(syncPorts ? { syncPorts } : {}),
  });
  await berth.auth.users.ensureAdmin(ADMIN.password);
  // one clock for both: versions are stamped and aged by it, /readyz times its cached store check by it
  const app = buildServer(berth, {
    logLevel: process.env.BERTH_TEST_LOG ?? 'silent',
    ...serverOptions,
    ...(clock ? { clock } : {}),
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const addr = app.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    berth,
    data,
    connections: () =>
      new Promise((resolve, reject) => app.server.getConnections((e, n) => (e ? reject(e) : resolve(n)))),
    close: async () => {
      await app.close();
      rmSync(data, { recursive: true, force: true });
      await removeTestDatabase(database);
      await releaseDataStore(data);
    },
  };
}

export interface HttpResult {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  json<T = any>(): T; // eslint-disable-line @typescript-eslint/no-explicit-any
}

/**
 * One HTTP request with a streamed body (a file path, a stream or bytes); collects the answer. It carries the
 * administrator's Basic credentials unless `headers` has its own authorization (an empty one: none at all).
 */
export function http(
  method: string,
  url: string,
  body?: { file: string } | Readable | Buffer | string,
  headers: Record<string, string> = {},
): Promise<HttpResult> {
  const own = Object.keys(headers).find((k) => k.toLowerCase() === 'authorization');
  const sent = { ...headers };
  if (own === undefined) sent.authorization = basic(ADMIN.user, ADMIN.password);
  else if (sent[own] === '') delete sent[own];
  return new Promise((resolve, reject) => {
    const send = url.startsWith('https:') ? httpsRequest : request; // https: trusts what https.globalAgent trusts
    const req = send(url, { method, headers: sent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const b = Buffer.concat(chunks);
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: b,
          json: () => JSON.parse(b.toString('utf8')),
        });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    if (body === undefined) req.end();
    else if (Buffer.isBuffer(body) || typeof body === 'string') req.end(body);
    else if ('file' in body) createReadStream(body.file).pipe(req);
    else (body as Readable).pipe(req);
  });
}

export const FIXTURES = join(import.meta.dirname, '..', '..', '..', 'shared', 'fixtures');
export const fixture = (name: string): string => join(FIXTURES, name);
