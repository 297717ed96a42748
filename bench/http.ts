// HTTP of the benchmark's own requests (setup, archive uploads, cleanup): node:http with a keep-alive agent,
// and the registry's push protocol for small blobs and manifests.
import { Agent, request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';

const agent = new Agent({ keepAlive: true, maxSockets: 64 });

export interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

export type Body = Buffer | string | Readable | undefined;

/** One request; a Readable body is streamed (give Content-Length in `headers`, else it is sent chunked). */
export function request(
  method: string,
  url: string,
  opts: { headers?: Record<string, string | number>; body?: Body } = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method, headers: opts.headers, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
      );
      res.on('error', reject);
    });
    req.on('error', reject);
    const body = opts.body;
    if (body === undefined) req.end();
    else if (typeof body === 'string' || Buffer.isBuffer(body)) req.end(body);
    else {
      body.on('error', (e) => req.destroy(e));
      body.pipe(req);
    }
  });
}

/** Like `request`, but any status other than `expect` is an error naming the answer. */
export async function expectStatus(
  expect: number | number[],
  method: string,
  url: string,
  opts: { headers?: Record<string, string | number>; body?: Body } = {},
): Promise<Answer> {
  const a = await request(method, url, opts);
  if (!([] as number[]).concat(expect).includes(a.status)) {
    throw new Error(`${method} ${url}: ${a.status} ${a.body.toString('utf8').slice(0, 500)}`);
  }
  return a;
}

export const sha256 = (b: Buffer | string): string =>
  `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** Credentials for a server: none (Distribution here), or berth's admin user. */
export interface Credentials {
  user: string;
  password: string;
}

export const basicHeader = (c: Credentials): string =>
  `Basic ${Buffer.from(`${c.user}:${c.password}`).toString('base64')}`;

/** The Authorization header for `repository` (pull scope, or push too): a bearer token when the server hands
 * them out at /token, else Basic (berth before authentication landed); none without credentials. */
export async function authorization(
  base: string,
  creds: Credentials | undefined,
  repository: string,
  actions = 'pull',
): Promise<Record<string, string>> {
  if (!creds) return {};
  const basic = basicHeader(creds);
  const scope = encodeURIComponent(`repository:${repository}:${actions}`);
  const a = await request('GET', `${base}/token?service=berth&scope=${scope}`, {
    headers: { Authorization: basic },
  });
  if (a.status === 200) {
    const json = JSON.parse(a.body.toString('utf8')) as { token?: string; access_token?: string };
    const token = json.token ?? json.access_token;
    if (!token) throw new Error(`GET /token answered 200 without a token: ${a.body.toString('utf8')}`);
    return { Authorization: `Bearer ${token}` };
  }
  if (a.status === 404) return { Authorization: basic };
  throw new Error(`GET /token?scope=${scope}: ${a.status} ${a.body.toString('utf8').slice(0, 300)}`);
}

/** Pushes one blob through an upload session: POST, then PUT ?digest= with the bytes (both servers take it). */
export async function pushBlob(
  base: string,
  repository: string,
  bytes: Buffer,
  headers: Record<string, string> = {},
): Promise<string> {
  const digest = sha256(bytes);
  const start = await expectStatus(202, 'POST', `${base}/v2/${repository}/blobs/uploads/`, {
    headers: { ...headers, 'Content-Length': 0 },
  });
  const location = String(start.headers.location);
  const url = new URL(location, base);
  url.searchParams.set('digest', digest);
  await expectStatus(201, 'PUT', url.toString(), {
    headers: { ...headers, 'Content-Type': 'application/octet-stream', 'Content-Length': bytes.length },
    body: bytes,
  });
  return digest;
}

/** Pushes a manifest under a tag (or digest). */
export async function pushManifest(
  base: string,
  repository: string,
  reference: string,
  manifest: Buffer,
  mediaType: string,
  headers: Record<string, string> = {},
): Promise<void> {
  await expectStatus(201, 'PUT', `${base}/v2/${repository}/manifests/${reference}`, {
    headers: { ...headers, 'Content-Type': mediaType, 'Content-Length': manifest.length },
    body: manifest,
  });
}

/** Runs `fn` over `items` with at most `concurrency` at once. */
export async function pool<T>(items: T[], concurrency: number, fn: (item: T, i: number) => Promise<void>) {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      await fn(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
}
