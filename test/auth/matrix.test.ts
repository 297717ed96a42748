// The access matrix (issue 5): every principal against every registry and management operation, on a public
// repository (pub/base, public through "pub/*"), a private one (team/app) and a private one that does not exist
// (team/ghost). Each cell states the expected status (401 means UNAUTHORIZED, 403 DENIED; any other error's code
// is given per repository in `codes`). A refused cell must leave everything as it was (the `state` below), and
// send the challenge its caller needs; an allowed cell of an operation that changes something must change it (so
// the state is known to see it). Last, every refusal on team/app must equal the one on team/ghost, name aside.
//
// The expired token is made by setting its expires_at in the past through berth.db.kysely (not by waiting).
// The server runs with a login-limit policy that never makes anyone wait: the revoked and expired columns fail
// a few hundred logins from 127.0.0.1, which the default policy would (rightly) answer with 429 after five.
import { createHash, randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ANONYMOUS,
  basic,
  http,
  startTestServer,
  type HttpResult,
  type TestServer,
} from '../helpers/in-process.js';
import { dirImage, hex, sha, tarOf } from '../helpers/images.js';
import { descriptorOf, ociImage, Registry, type Image } from '../registry/oci.js';

/** The principals, in the order of the cells of every row. */
const COLS = [
  'anon', // no credentials
  'stranger', // a user with no permission on team/* (pull on other/* only)
  'reader', // pull on team/*
  'pusher', // push on team/*
  'deleter', // delete on team/*
  'admin', // administrator of the instance
  'scoped', // the admin's API token with scope repository:team/app:pull, as Basic admin:<token>
  'apiToken', // the pusher's API token without scopes, as Bearer
  'revoked', // a revoked API token of the pusher, as Basic pusher:<token>
  'expired', // an expired API token of the pusher, as Bearer
  'jwtReader', // a registry token from /token for the reader, asked for pull,push,delete everywhere
  'jwtPusher', // a registry token from /token for the pusher, asked for pull only
  'jwtAnon', // a registry token from /token without credentials, asked for pull on pub/base and team/app
] as const;
type Col = (typeof COLS)[number];

const PUB = 'pub/base';
const APP = 'team/app';
const GHOST = 'team/ghost';
const LIB = 'pub/lib'; // public too: where mounted blobs come from
const SECRET = 'other/secret'; // private, only the administrator may pull it
const GLOBAL = '-';
type Where = typeof PUB | typeof APP | typeof GHOST | typeof GLOBAL;

type Access = 'anyone' | 'signed-in' | 'administrator' | 'pull' | 'push' | 'delete' | 'admin';
type Headers = Record<string, string>;

interface Op {
  name: string;
  flavor: 'registry' | 'api';
  access: Access;
  head?: boolean;
  /** one expected status per principal (COLS order), per repository (or GLOBAL) */
  cells: Partial<Record<Where, string>>;
  /** the error code of an expected status other than 401 and 403, per repository */
  codes?: Partial<Record<Where, Record<number, string>>>;
  /** an allowed call changes the state (checked on the repositories that exist, and GLOBAL) */
  mutates?: boolean;
  /** run as the administrator before each cell: makes what the cell acts on */
  prepare?: (repo: Where, n: number) => Promise<string>;
  send: (repo: Where, target: string, h: Headers, n: number) => Promise<HttpResult>;
  /** a repository whose pull the challenge asks for too (the source of a mount) */
  alsoPull?: string;
  /** further checks of a 2xx answer */
  allowed?: (col: Col, r: HttpResult, repo: Where) => void;
}

let s: TestServer;
let reg: Registry;
const headers = {} as Record<Col, Headers>;
const users: Partial<Record<Col, string>> = {
  stranger: 'stranger',
  reader: 'reader',
  pusher: 'pusher',
  deleter: 'deleter',
  admin: 'admin',
  scoped: 'admin',
  apiToken: 'pusher',
  jwtReader: 'reader',
  jwtPusher: 'pusher',
};
const PASSWORD = 'matrix-password';
const images = {} as Record<typeof PUB | typeof APP | typeof SECRET | typeof LIB, Image>;
let sig: Image;

const api = (path: string) => `${s.url}/api/v1${path}`;
const v2 = (path: string) => `${s.url}/v2${path}`;
const json = (h: Headers) => ({ ...h, 'content-type': 'application/json' });
const locationId = (r: HttpResult) => String(r.headers.location).split('/').at(-1)!;

/** What is in the repository a cell names; team/ghost does not exist, so its targets are team/app's. */
const imageOf = (repo: Where): Image => images[repo === PUB ? PUB : APP];

async function latest(repo: string): Promise<number> {
  return (await reg.versions(repo)).at(-1)!.number;
}

/** A new manifest of the repository's blobs (a new version), under a new tag; its digest and tag. */
async function freshManifest(repo: Where, n: number): Promise<{ digest: string; tag: string }> {
  const base = imageOf(repo);
  if (repo === GHOST) return { digest: base.digest, tag: 'v1' };
  const img = ociImage({ layers: base.layers, config: base.config!, annotations: { cell: String(n) } });
  await reg.pushImage(repo, { ...img, blobs: [] }, `cell-${n}`);
  return { digest: img.digest, tag: `cell-${n}` };
}

/** An upload session of the repository (of team/app for team/ghost). */
async function session(repo: Where): Promise<string> {
  const r = await reg.startSession(repo === GHOST ? APP : repo);
  expect(r.status).toBe(202);
  return locationId(r);
}

async function tokenFor(user: string, scopes?: string[]): Promise<{ id: string; token: string }> {
  const r = await http('POST', api('/tokens'), JSON.stringify({ user, ...(scopes ? { scopes } : {}) }), {
    'content-type': 'application/json',
  });
  expect(r.status, r.body.toString()).toBe(201);
  return r.json();
}

/** A registry token from /token, as a client gets one. */
async function registryToken(h: Headers, scopes: string[]): Promise<string> {
  const q = new URLSearchParams([
    ['service', 'berth'],
    ...scopes.map((sc): [string, string] => ['scope', sc]),
  ]);
  const r = await http('GET', `${s.url}/token?${q}`, undefined, h);
  expect(r.status, r.body.toString()).toBe(200);
  return r.json().token;
}

const claimsOf = (jwt: string) => JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString('utf8'));

/** The files under the store, relative and sorted (one readdir per folder, no stat: this runs often). */
function storeFiles(): string[] {
  const out: string[] = [];
  const walk = (dir: string, rel: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const r = rel === '' ? e.name : `${rel}/${e.name}`;
      if (e.isDirectory()) walk(join(dir, e.name), r);
      else out.push(r);
    }
  };
  walk(join(s.data, 'store'), '');
  return out.sort();
}

/**
 * Everything a call could change: row counts and sums of the tables that matter, the users' password hashes,
 * and (when `files`) the files of the store.
 */
async function state(files: boolean): Promise<unknown> {
  const db = s.berth.db.kysely;
  const { rows } = await sql<Record<string, unknown>>`select
    (select count(*) from repositories) as repositories,
    (select coalesce(sum(coalesce(retain_versions, 0)), 0) from repositories) as retain,
    (select coalesce(sum(coalesce(untagged_after_hours, 0)), 0) from repositories) as untagged,
    (select count(*) from repository_versions) as versions,
    (select count(*) from repository_content) as content,
    (select coalesce(sum(version_added + coalesce(version_removed, 0)), 0) from repository_content) as ranges,
    (select count(*) from blobs) as blobs,
    (select count(*) from manifests) as manifests,
    (select count(*) from pending_blobs) as pending,
    (select count(*) from upload_sessions) as sessions,
    (select coalesce(sum(size), 0) from upload_sessions) as session_bytes,
    (select count(*) from users) as users,
    (select count(*) from user_permissions) as permissions,
    (select count(*) from public_patterns) as public_patterns,
    (select count(*) from api_tokens) as tokens,
    (select count(*) from api_tokens where revoked_at is not null) as revoked,
    (select count(*) from audit_log) as audit`.execute(db);
  const counts = Object.fromEntries(Object.entries(rows[0]!).map(([k, v]) => [k, Number(v)]));
  const pw = await db.selectFrom('users').select(['name', 'password_hash']).orderBy('name').execute();
  return {
    counts,
    passwords: createHash('sha256').update(JSON.stringify(pw)).digest('hex'),
    ...(files ? { files: storeFiles() } : {}),
  };
}

beforeAll(async () => {
  s = await startTestServer('matrix', {
    auth: { loginPolicy: { free: 1e9, baseDelayMs: 0, maxDelayMs: 0, windowMs: 1 } },
  });
  reg = new Registry(s.url);
  const u = s.berth.auth.users;
  for (const name of ['stranger', 'reader', 'pusher', 'deleter', 'victim']) await u.create(name, PASSWORD);
  await u.grant('stranger', 'other/*', ['pull']);
  await u.grant('reader', 'team/*', ['pull']);
  await u.grant('pusher', 'team/*', ['push']);
  await u.grant('deleter', 'team/*', ['delete']);
  await u.addPublic('pub/*');
  s.berth.auth.invalidate();

  images[PUB] = ociImage({ n: 1 });
  await reg.pushImage(PUB, images[PUB], 'v1');
  await reg.putManifest(PUB, 'v2', images[PUB].bytes, images[PUB].mediaType);
  images[APP] = ociImage({ n: 2 });
  await reg.pushImage(APP, images[APP], 'v1');
  sig = ociImage({ subject: descriptorOf(images[APP]), artifactType: 'application/vnd.test.sig' });
  await reg.pushImage(APP, sig, 'sig');
  images[SECRET] = ociImage({ n: 1 });
  await reg.pushImage(SECRET, images[SECRET], 'v1');
  images[LIB] = ociImage({ n: 1 });
  await reg.pushImage(LIB, images[LIB], 'v1');

  const scoped = await tokenFor('admin', ['repository:team/app:pull']);
  const pusherToken = await tokenFor('pusher');
  const revoked = await tokenFor('pusher');
  expect((await http('DELETE', api(`/tokens/${revoked.id}`))).status).toBe(204);
  const expired = await tokenFor('pusher');
  await s.berth.db.kysely
    .updateTable('api_tokens')
    .set({ expires_at: Date.now() - 60_000 })
    .where('id', '=', expired.id)
    .execute();
  s.berth.auth.invalidate();

  const pw = (user: string) => ({ authorization: basic(user, PASSWORD) });
  Object.assign(headers, {
    anon: ANONYMOUS,
    stranger: pw('stranger'),
    reader: pw('reader'),
    pusher: pw('pusher'),
    deleter: pw('deleter'),
    admin: {},
    scoped: { authorization: basic('admin', scoped.token) },
    apiToken: { authorization: `Bearer ${pusherToken.token}` },
    revoked: { authorization: basic('pusher', revoked.token) },
    expired: { authorization: `Bearer ${expired.token}` },
  });
  const all = [PUB, APP, GHOST, LIB];
  const jwtReader = await registryToken(pw('reader'), [
    ...all.map((r) => `repository:${r}:pull,push,delete`),
    'registry:catalog:*',
  ]);
  const jwtPusher = await registryToken(
    pw('pusher'),
    [PUB, APP, GHOST].map((r) => `repository:${r}:pull`),
  );
  const jwtAnon = await registryToken(ANONYMOUS, [`repository:${PUB}:pull`, `repository:${APP}:pull,push`]);
  headers.jwtReader = { authorization: `Bearer ${jwtReader}` };
  headers.jwtPusher = { authorization: `Bearer ${jwtPusher}` };
  headers.jwtAnon = { authorization: `Bearer ${jwtAnon}` };
});
afterAll(async () => s?.close());

describe('the token endpoint', () => {
  it('grants only the permitted subset of what is asked', async () => {
    const access = (col: Col) =>
      Object.fromEntries(
        (claimsOf(headers[col].authorization!.slice(7)).access as { name: string; actions: string[] }[]).map(
          (a) => [a.name, [...a.actions].sort()],
        ),
      );
    expect(access('jwtReader')).toEqual({
      [PUB]: ['pull'],
      [APP]: ['pull'],
      [GHOST]: ['pull'],
      [LIB]: ['pull'],
      catalog: ['*'],
    });
    expect(access('jwtPusher')).toEqual({ [PUB]: ['pull'], [APP]: ['pull'], [GHOST]: ['pull'] });
    expect(access('jwtAnon')).toEqual({ [PUB]: ['pull'] });
    expect(claimsOf(headers.jwtAnon.authorization!.slice(7)).sub).toBeUndefined();
  });
  it('refuses revoked and expired API tokens, and a wrong password', async () => {
    for (const col of ['revoked', 'expired'] as const) {
      const r = await http('GET', `${s.url}/token?service=berth&scope=repository:${APP}:pull`, undefined, {
        ...headers[col],
      });
      expect(r.status, col).toBe(401);
      expect(r.json().errors[0].code).toBe('UNAUTHORIZED');
    }
    const wrong = await http('GET', `${s.url}/token?service=berth`, undefined, {
      authorization: basic('reader', 'not-the-password'),
    });
    expect(wrong.status).toBe(401);
  });
});

describe('a scoped API token', () => {
  const mint = (scopes: string[]) =>
    http('POST', api('/tokens'), JSON.stringify({ scopes }), json(headers.scoped));
  const count = async () =>
    Number(
      (
        await s.berth.db.kysely
          .selectFrom('api_tokens')
          .select((eb) => eb.fn.countAll<number>().as('n'))
          .executeTakeFirstOrThrow()
      ).n,
    );

  it('makes tokens within its scopes only', async () => {
    const narrower = await mint(['repository:team/app:pull']);
    expect(narrower.status, narrower.body.toString()).toBe(201);
    const before = await count();
    for (const wider of [
      ['repository:*:admin'],
      ['repository:team/*:pull'],
      ['repository:team/app:push'],
      [`repository:${SECRET}:pull`],
      ['repository:team/app:pull', 'repository:team/ghost:pull'],
    ]) {
      const r = await mint(wider);
      expect(r.status, `${wider.join(' ')}: ${r.body.toString()}`).toBe(403);
      expect(r.json().errors[0].code).toBe('DENIED');
    }
    expect(await count()).toBe(before);
  });
});

describe('a registry token', () => {
  const tags = (jwt: string) =>
    http('GET', v2(`/${APP}/tags/list`), undefined, { authorization: `Bearer ${jwt}` });

  it('stops working when the API token it was issued for is revoked', async () => {
    const t = await tokenFor('reader');
    const jwt = await registryToken({ authorization: basic('reader', t.token) }, [`repository:${APP}:pull`]);
    expect((await tags(jwt)).status).toBe(200);
    expect((await http('DELETE', api(`/tokens/${t.id}`))).status).toBe(204);
    const r = await tags(jwt);
    expect(r.status).toBe(401);
    expect(r.json().errors[0].code).toBe('UNAUTHORIZED');
  });
  it('stops working when its user is removed', async () => {
    await s.berth.auth.users.create('leaving', PASSWORD);
    await s.berth.auth.users.grant('leaving', 'team/*', ['pull']);
    s.berth.auth.invalidate();
    const jwt = await registryToken({ authorization: basic('leaving', PASSWORD) }, [
      `repository:${APP}:pull`,
    ]);
    expect((await tags(jwt)).status).toBe(200);
    expect((await http('DELETE', api('/users/leaving'))).status).toBe(204);
    expect((await tags(jwt)).status).toBe(401);
  });
});

/** What the catalog and the repository list show each principal (in lexical order). */
const CATALOG: Record<Col, string[]> = {
  anon: [PUB, LIB],
  stranger: [SECRET, PUB, LIB],
  reader: [PUB, LIB, APP],
  pusher: [PUB, LIB, APP],
  deleter: [PUB, LIB, APP],
  admin: [SECRET, PUB, LIB, APP],
  scoped: [PUB, LIB, APP],
  apiToken: [PUB, LIB, APP],
  revoked: [],
  expired: [],
  jwtReader: [PUB, LIB, APP],
  jwtPusher: [PUB, LIB, APP],
  jwtAnon: [PUB, LIB],
};

// Columns:  anon strgr readr pushr delet admin scopd apiTk revkd exprd jwtRd jwtPs jwtAn
const OPS: Op[] = [
  {
    name: 'GET /v2/',
    flavor: 'registry',
    access: 'signed-in',
    cells: { [GLOBAL]: '401 200 200 200 200 200 200 200 401 401 200 200 401' },
    send: (_r, _t, h) => http('GET', v2('/'), undefined, h),
  },
  {
    name: 'GET /v2/_catalog',
    flavor: 'registry',
    access: 'anyone',
    cells: { [GLOBAL]: '200 200 200 200 200 200 200 200 401 401 200 200 200' },
    send: (_r, _t, h) => http('GET', v2('/_catalog'), undefined, h),
    allowed: (col, r) => expect(r.json().repositories).toEqual(CATALOG[col]),
  },
  {
    name: 'GET tags/list',
    flavor: 'registry',
    access: 'pull',
    cells: {
      [PUB]: '200 200 200 200 200 200 200 200 401 401 200 200 200',
      [APP]: '401 403 200 200 200 200 200 200 401 401 200 200 401',
      [GHOST]: '401 403 404 404 404 404 403 404 401 401 404 404 401',
    },
    codes: { [GHOST]: { 404: 'NAME_UNKNOWN' } },
    send: (repo, _t, h) => http('GET', v2(`/${repo}/tags/list`), undefined, h),
    allowed: (_c, r) => expect(r.json().tags).toContain('v1'),
  },
  ...(['tag', 'digest'] as const).flatMap((by) =>
    (['GET', 'HEAD'] as const).map((method): Op => ({
      name: `${method} manifest by ${by}`,
      flavor: 'registry',
      access: 'pull',
      head: method === 'HEAD',
      cells: {
        [PUB]: '200 200 200 200 200 200 200 200 401 401 200 200 200',
        [APP]: '401 403 200 200 200 200 200 200 401 401 200 200 401',
        [GHOST]: '401 403 404 404 404 404 403 404 401 401 404 404 401',
      },
      codes: { [GHOST]: { 404: 'NAME_UNKNOWN' } },
      send: (repo, _t, h) =>
        http(method, v2(`/${repo}/manifests/${by === 'tag' ? 'v1' : imageOf(repo).digest}`), undefined, {
          ...h,
          accept: imageOf(repo).mediaType,
        }),
      allowed: (_c, r, repo) => expect(r.headers['docker-content-digest']).toBe(imageOf(repo).digest),
    })),
  ),
  {
    name: 'PUT manifest',
    flavor: 'registry',
    access: 'push',
    mutates: true,
    cells: {
      [PUB]: '401 403 403 403 403 201 403 403 401 401 403 403 401',
      [APP]: '401 403 403 201 403 201 403 201 401 401 403 401 401',
      [GHOST]: '401 403 403 400 403 400 403 400 401 401 403 401 401',
    },
    codes: { [GHOST]: { 400: 'MANIFEST_BLOB_UNKNOWN' } },
    send: (repo, _t, h, n) => {
      const base = imageOf(repo);
      const img = ociImage({ layers: base.layers, config: base.config!, annotations: { put: String(n) } });
      return http('PUT', v2(`/${repo}/manifests/put-${n}`), img.bytes, {
        ...h,
        'content-type': img.mediaType,
      });
    },
  },
  {
    name: 'DELETE manifest by digest',
    flavor: 'registry',
    access: 'delete',
    mutates: true,
    cells: {
      [PUB]: '401 403 403 403 403 202 403 403 401 401 403 403 401',
      [APP]: '401 403 403 403 202 202 403 403 401 401 403 403 401',
      [GHOST]: '401 403 403 403 404 404 403 403 401 401 403 403 401',
    },
    codes: { [GHOST]: { 404: 'NAME_UNKNOWN' } },
    prepare: async (repo, n) => (await freshManifest(repo, n)).digest,
    send: (repo, digest, h) => http('DELETE', v2(`/${repo}/manifests/${digest}`), undefined, h),
  },
  {
    name: 'DELETE tag',
    flavor: 'registry',
    access: 'delete',
    mutates: true,
    cells: {
      [PUB]: '401 403 403 403 403 202 403 403 401 401 403 403 401',
      [APP]: '401 403 403 403 202 202 403 403 401 401 403 403 401',
      [GHOST]: '401 403 403 403 404 404 403 403 401 401 403 403 401',
    },
    codes: { [GHOST]: { 404: 'NAME_UNKNOWN' } },
    prepare: async (repo, n) => (await freshManifest(repo, n)).tag,
    send: (repo, tag, h) => http('DELETE', v2(`/${repo}/manifests/${tag}`), undefined, h),
  },
  ...(['GET', 'HEAD'] as const).map((method): Op => ({
    name: `${method} blob`,
    flavor: 'registry',
    access: 'pull',
    head: method === 'HEAD',
    cells: {
      [PUB]: '200 200 200 200 200 200 200 200 401 401 200 200 200',
      [APP]: '401 403 200 200 200 200 200 200 401 401 200 200 401',
      [GHOST]: '401 403 404 404 404 404 403 404 401 401 404 404 401',
    },
    codes: { [GHOST]: { 404: 'NAME_UNKNOWN' } },
    send: (repo, _t, h) => http(method, v2(`/${repo}/blobs/${sha(imageOf(repo).layers[0]!)}`), undefined, h),
    allowed: (_c, r, repo) =>
      expect(r.headers['content-length']).toBe(String(imageOf(repo).layers[0]!.length)),
  })),
  {
    name: 'DELETE blob',
    flavor: 'registry',
    access: 'delete',
    mutates: true,
    cells: {
      [PUB]: '401 403 403 403 403 202 403 403 401 401 403 403 401',
      [APP]: '401 403 403 403 202 202 403 403 401 401 403 403 401',
      [GHOST]: '401 403 403 403 404 404 403 403 401 401 403 403 401',
    },
    codes: { [GHOST]: { 404: 'NAME_UNKNOWN' } },
    prepare: async (repo) =>
      repo === GHOST ? sha(imageOf(repo).layers[0]!) : reg.pushBlob(repo, randomBytes(64)),
    send: (repo, digest, h) => http('DELETE', v2(`/${repo}/blobs/${digest}`), undefined, h),
  },
  {
    name: 'POST upload',
    flavor: 'registry',
    access: 'push',
    mutates: true,
    cells: {
      [PUB]: '401 403 403 403 403 202 403 403 401 401 403 403 401',
      [APP]: '401 403 403 202 403 202 403 202 401 401 403 401 401',
      [GHOST]: '401 403 403 202 403 202 403 202 401 401 403 401 401',
    },
    send: (repo, _t, h) => http('POST', v2(`/${repo}/blobs/uploads/`), undefined, h),
  },
  {
    name: 'PATCH upload',
    flavor: 'registry',
    access: 'push',
    mutates: true,
    cells: {
      [PUB]: '401 403 403 403 403 202 403 403 401 401 403 403 401',
      [APP]: '401 403 403 202 403 202 403 202 401 401 403 401 401',
      [GHOST]: '401 403 403 404 403 404 403 404 401 401 403 401 401',
    },
    codes: { [GHOST]: { 404: 'BLOB_UPLOAD_UNKNOWN' } },
    prepare: (repo) => session(repo),
    send: (repo, id, h) =>
      http('PATCH', v2(`/${repo}/blobs/uploads/${id}`), Buffer.from('0123456789'), {
        ...h,
        'content-type': 'application/octet-stream',
        'content-range': '0-9',
      }),
  },
  {
    name: 'PUT upload',
    flavor: 'registry',
    access: 'push',
    mutates: true,
    cells: {
      [PUB]: '401 403 403 403 403 201 403 403 401 401 403 403 401',
      [APP]: '401 403 403 201 403 201 403 201 401 401 403 401 401',
      [GHOST]: '401 403 403 404 403 404 403 404 401 401 403 401 401',
    },
    codes: { [GHOST]: { 404: 'BLOB_UPLOAD_UNKNOWN' } },
    prepare: (repo) => session(repo),
    send: (repo, id, h, n) => {
      const bytes = Buffer.from(`blob of cell ${n}`);
      return http('PUT', v2(`/${repo}/blobs/uploads/${id}?digest=${sha(bytes)}`), bytes, {
        ...h,
        'content-type': 'application/octet-stream',
      });
    },
  },
  {
    name: 'GET upload',
    flavor: 'registry',
    access: 'push',
    cells: {
      [PUB]: '401 403 403 403 403 204 403 403 401 401 403 403 401',
      [APP]: '401 403 403 204 403 204 403 204 401 401 403 401 401',
      [GHOST]: '401 403 403 404 403 404 403 404 401 401 403 401 401',
    },
    codes: { [GHOST]: { 404: 'BLOB_UPLOAD_UNKNOWN' } },
    prepare: (repo) => session(repo),
    send: (repo, id, h) => http('GET', v2(`/${repo}/blobs/uploads/${id}`), undefined, h),
  },
  {
    name: 'DELETE upload',
    flavor: 'registry',
    access: 'push',
    mutates: true,
    cells: {
      [PUB]: '401 403 403 403 403 204 403 403 401 401 403 403 401',
      [APP]: '401 403 403 204 403 204 403 204 401 401 403 401 401',
      [GHOST]: '401 403 403 404 403 404 403 404 401 401 403 401 401',
    },
    codes: { [GHOST]: { 404: 'BLOB_UPLOAD_UNKNOWN' } },
    prepare: (repo) => session(repo),
    send: (repo, id, h) => http('DELETE', v2(`/${repo}/blobs/uploads/${id}`), undefined, h),
  },
  {
    name: 'POST mount from pub/lib',
    flavor: 'registry',
    access: 'push',
    mutates: true,
    cells: {
      [PUB]: '401 403 403 403 403 201 403 403 401 401 403 403 401',
      [APP]: '401 403 403 201 403 201 403 201 401 401 403 401 401',
      [GHOST]: '401 403 403 201 403 201 403 201 401 401 403 401 401',
    },
    // the challenge asks for pull on pub/lib too, as CNCF Distribution's does
    alsoPull: LIB,
    // a blob pushed to pub/lib (pending there) for each cell, so that every mount allowed adds one
    prepare: () => reg.pushBlob(LIB, randomBytes(64)),
    send: (repo, digest, h) =>
      http('POST', v2(`/${repo}/blobs/uploads/?mount=${digest}&from=${LIB}`), undefined, h),
  },
  {
    name: 'GET referrers',
    flavor: 'registry',
    access: 'pull',
    cells: {
      [PUB]: '200 200 200 200 200 200 200 200 401 401 200 200 200',
      [APP]: '401 403 200 200 200 200 200 200 401 401 200 200 401',
      [GHOST]: '401 403 200 200 200 200 403 200 401 401 200 200 401',
    },
    send: (repo, _t, h) => http('GET', v2(`/${repo}/referrers/${imageOf(repo).digest}`), undefined, h),
    allowed: (_c, r, repo) =>
      expect(r.json().manifests.map((m: { digest: string }) => m.digest)).toEqual(
        repo === APP ? [sig.digest] : [],
      ),
  },

  // the management API: every route needs credentials (a registry token is not one)
  {
    name: 'GET /api/v1/repositories',
    flavor: 'api',
    access: 'signed-in',
    cells: { [GLOBAL]: '401 200 200 200 200 200 200 200 401 401 401 401 401' },
    send: (_r, _t, h) => http('GET', api('/repositories'), undefined, h),
    allowed: (col, r) =>
      expect(r.json().repositories.map((x: { name: string }) => x.name)).toEqual(CATALOG[col]),
  },
  {
    name: 'GET repository',
    flavor: 'api',
    access: 'pull',
    cells: {
      [PUB]: '401 200 200 200 200 200 200 200 401 401 401 401 401',
      [APP]: '401 403 200 200 200 200 200 200 401 401 401 401 401',
      [GHOST]: '401 403 404 404 404 404 403 404 401 401 401 401 401',
    },
    codes: { [GHOST]: { 404: 'NAME_UNKNOWN' } },
    send: (repo, _t, h) => http('GET', api(`/repositories/${repo}`), undefined, h),
    allowed: (_c, r, repo) => expect(r.json().name).toBe(repo),
  },
  {
    name: 'GET versions',
    flavor: 'api',
    access: 'pull',
    cells: {
      [PUB]: '401 200 200 200 200 200 200 200 401 401 401 401 401',
      [APP]: '401 403 200 200 200 200 200 200 401 401 401 401 401',
      [GHOST]: '401 403 404 404 404 404 403 404 401 401 401 401 401',
    },
    codes: { [GHOST]: { 404: 'NAME_UNKNOWN' } },
    send: (repo, _t, h) => http('GET', api(`/repositories/${repo}/-/versions`), undefined, h),
    allowed: (_c, r) => expect(r.json().versions.length).toBeGreaterThanOrEqual(2),
  },
  {
    name: 'GET version 1',
    flavor: 'api',
    access: 'pull',
    cells: {
      [PUB]: '401 200 200 200 200 200 200 200 401 401 401 401 401',
      [APP]: '401 403 200 200 200 200 200 200 401 401 401 401 401',
      [GHOST]: '401 403 404 404 404 404 403 404 401 401 401 401 401',
    },
    codes: { [GHOST]: { 404: 'NAME_UNKNOWN' } },
    send: (repo, _t, h) => http('GET', api(`/repositories/${repo}/-/versions/1`), undefined, h),
    allowed: (_c, r, repo) =>
      expect(r.json().content.tags).toEqual([{ name: 'v1', digest: imageOf(repo).digest }]),
  },
  {
    name: 'GET version diff',
    flavor: 'api',
    access: 'pull',
    cells: {
      [PUB]: '401 200 200 200 200 200 200 200 401 401 401 401 401',
      [APP]: '401 403 200 200 200 200 200 200 401 401 401 401 401',
      [GHOST]: '401 403 404 404 404 404 403 404 401 401 401 401 401',
    },
    codes: { [GHOST]: { 404: 'NAME_UNKNOWN' } },
    send: (repo, _t, h) => http('GET', api(`/repositories/${repo}/-/versions/2/diff`), undefined, h),
    allowed: (_c, r) => expect(r.json()).toMatchObject({ from: 1, to: 2 }),
  },
  {
    name: 'POST archive',
    flavor: 'api',
    access: 'push',
    mutates: true,
    cells: {
      [PUB]: '401 403 403 403 403 201 403 403 401 401 401 401 401',
      [APP]: '401 403 403 201 403 201 403 201 401 401 401 401 401',
      [GHOST]: '401 403 403 404 403 404 403 404 401 401 401 401 401',
    },
    // into team/ghost a partial archive (a layer left out that it cannot hold): team/ghost stays nonexistent
    codes: { [GHOST]: { 404: 'BLOB_UNKNOWN' } },
    send: async (repo, _t, h, n) => {
      const img = dirImage({ n: 1, label: `cell-${n}` });
      const entries =
        repo === GHOST ? img.entries.filter((e) => e.name !== hex(img.layerDigests[0]!)) : img.entries;
      return http('POST', api(`/repositories/${repo}/-/archives?tag=arch-${n}`), await tarOf(entries), {
        ...h,
        'content-type': 'application/x-tar',
      });
    },
  },
  {
    name: 'POST blobs/present',
    flavor: 'api',
    access: 'pull',
    cells: {
      [PUB]: '401 200 200 200 200 200 200 200 401 401 401 401 401',
      [APP]: '401 403 200 200 200 200 200 200 401 401 401 401 401',
      [GHOST]: '401 403 200 200 200 200 403 200 401 401 401 401 401',
    },
    send: (repo, _t, h) =>
      http(
        'POST',
        api(`/repositories/${repo}/-/blobs/present`),
        JSON.stringify({ digests: [sha(imageOf(repo).layers[0]!)] }),
        json(h),
      ),
    allowed: (_c, r, repo) =>
      expect(r.json().present).toEqual(repo === GHOST ? [] : [sha(imageOf(repo).layers[0]!)]),
  },
  {
    name: 'POST restore',
    flavor: 'api',
    access: 'push',
    mutates: true,
    cells: {
      [PUB]: '401 403 403 403 403 201 403 403 401 401 401 401 401',
      [APP]: '401 403 403 201 403 201 403 201 401 401 401 401 401',
      [GHOST]: '401 403 403 404 403 404 403 404 401 401 401 401 401',
    },
    codes: { [GHOST]: { 404: 'NAME_UNKNOWN' } },
    // restores the latest version (a new version with the same content: the repository stays as it is)
    prepare: async (repo) => String(repo === GHOST ? 1 : await latest(repo)),
    send: (repo, number, h) =>
      http('POST', api(`/repositories/${repo}/-/versions/${number}/restore`), undefined, h),
  },
  {
    name: 'DELETE version',
    flavor: 'api',
    access: 'delete',
    mutates: true,
    cells: {
      [PUB]: '401 403 403 403 403 204 403 403 401 401 401 401 401',
      [APP]: '401 403 403 403 204 204 403 403 401 401 401 401 401',
      [GHOST]: '401 403 403 403 404 404 403 403 401 401 401 401 401',
    },
    codes: { [GHOST]: { 404: 'NAME_UNKNOWN' } },
    // a new version first, so that the one before it (not the latest) can go
    prepare: async (repo, n) => {
      if (repo === GHOST) return '1';
      await freshManifest(repo, n);
      return String((await latest(repo)) - 1);
    },
    send: (repo, number, h) =>
      http('DELETE', api(`/repositories/${repo}/-/versions/${number}`), undefined, h),
  },
  {
    name: 'PATCH retainVersions',
    flavor: 'api',
    access: 'admin',
    mutates: true,
    cells: {
      [PUB]: '401 403 403 403 403 200 403 403 401 401 401 401 401',
      [APP]: '401 403 403 403 403 200 403 403 401 401 401 401 401',
      [GHOST]: '401 403 403 403 403 404 403 403 401 401 401 401 401',
    },
    codes: { [GHOST]: { 404: 'NAME_UNKNOWN' } },
    send: (repo, _t, h, n) =>
      http('PATCH', api(`/repositories/${repo}`), JSON.stringify({ retainVersions: 1000 + n }), json(h)),
  },
  {
    name: 'PUT untagged',
    flavor: 'api',
    access: 'admin',
    mutates: true,
    cells: {
      [PUB]: '401 403 403 403 403 200 403 403 401 401 401 401 401',
      [APP]: '401 403 403 403 403 200 403 403 401 401 401 401 401',
      [GHOST]: '401 403 403 403 403 404 403 403 401 401 401 401 401',
    },
    codes: { [GHOST]: { 404: 'NAME_UNKNOWN' } },
    send: (repo, _t, h, n) =>
      http(
        'PUT',
        api(`/repositories/${repo}/-/untagged`),
        JSON.stringify({ policy: 'remove', afterHours: 1000 + n }),
        json(h),
      ),
  },
  {
    name: 'POST cleanup',
    flavor: 'api',
    access: 'administrator',
    mutates: true, // audited
    cells: { [GLOBAL]: '401 403 403 403 403 200 403 403 401 401 401 401 401' },
    send: (_r, _t, h) => http('POST', api('/cleanup'), JSON.stringify({ dryRun: true }), json(h)),
  },
  {
    name: 'GET users',
    flavor: 'api',
    access: 'administrator',
    cells: { [GLOBAL]: '401 403 403 403 403 200 403 403 401 401 401 401 401' },
    send: (_r, _t, h) => http('GET', api('/users'), undefined, h),
  },
  {
    name: 'POST users',
    flavor: 'api',
    access: 'administrator',
    mutates: true,
    cells: { [GLOBAL]: '401 403 403 403 403 201 403 403 401 401 401 401 401' },
    send: (_r, _t, h, n) =>
      http('POST', api('/users'), JSON.stringify({ name: `made-${n}`, password: PASSWORD }), json(h)),
  },
  {
    name: 'GET users/reader (self)',
    flavor: 'api',
    access: 'signed-in',
    cells: { [GLOBAL]: '401 403 200 403 403 200 403 403 401 401 401 401 401' },
    send: (_r, _t, h) => http('GET', api('/users/reader'), undefined, h),
  },
  {
    name: 'GET users/victim',
    flavor: 'api',
    access: 'signed-in',
    cells: { [GLOBAL]: '401 403 403 403 403 200 403 403 401 401 401 401 401' },
    send: (_r, _t, h) => http('GET', api('/users/victim'), undefined, h),
  },
  {
    name: 'PUT users/victim/password',
    flavor: 'api',
    access: 'signed-in',
    mutates: true,
    cells: { [GLOBAL]: '401 403 403 403 403 204 403 403 401 401 401 401 401' },
    send: (_r, _t, h) =>
      http('PUT', api('/users/victim/password'), JSON.stringify({ password: PASSWORD }), json(h)),
  },
  {
    name: 'GET users/victim/permissions',
    flavor: 'api',
    access: 'signed-in',
    cells: { [GLOBAL]: '401 403 403 403 403 200 403 403 401 401 401 401 401' },
    send: (_r, _t, h) => http('GET', api('/users/victim/permissions'), undefined, h),
  },
  {
    name: 'PUT users/victim/permissions',
    flavor: 'api',
    access: 'administrator',
    mutates: true,
    cells: { [GLOBAL]: '401 403 403 403 403 200 403 403 401 401 401 401 401' },
    send: (_r, _t, h, n) =>
      http(
        'PUT',
        api('/users/victim/permissions'),
        JSON.stringify({ pattern: `granted${n}/*`, actions: ['pull'] }),
        json(h),
      ),
  },
  {
    name: 'DELETE users/victim/permissions',
    flavor: 'api',
    access: 'administrator',
    mutates: true,
    cells: { [GLOBAL]: '401 403 403 403 403 204 403 403 401 401 401 401 401' },
    prepare: async (_r, n) => {
      await s.berth.auth.users.grant('victim', `revoked${n}/*`, ['pull']);
      return `revoked${n}/*`;
    },
    send: (_r, pattern, h) =>
      http('DELETE', api(`/users/victim/permissions?pattern=${encodeURIComponent(pattern)}`), undefined, h),
  },
  {
    name: 'DELETE user',
    flavor: 'api',
    access: 'administrator',
    mutates: true,
    cells: { [GLOBAL]: '401 403 403 403 403 204 403 403 401 401 401 401 401' },
    prepare: async (_r, n) => (await s.berth.auth.users.create(`doomed-${n}`, PASSWORD)).name,
    send: (_r, user, h) => http('DELETE', api(`/users/${user}`), undefined, h),
  },
  {
    name: 'GET public',
    flavor: 'api',
    access: 'signed-in',
    cells: { [GLOBAL]: '401 200 200 200 200 200 200 200 401 401 401 401 401' },
    send: (_r, _t, h) => http('GET', api('/public'), undefined, h),
    allowed: (_c, r) => expect(r.json().patterns).toContain('pub/*'),
  },
  {
    name: 'PUT public',
    flavor: 'api',
    access: 'administrator',
    mutates: true,
    cells: { [GLOBAL]: '401 403 403 403 403 204 403 403 401 401 401 401 401' },
    send: (_r, _t, h, n) => http('PUT', api('/public'), JSON.stringify({ pattern: `open${n}/*` }), json(h)),
  },
  {
    name: 'DELETE public',
    flavor: 'api',
    access: 'administrator',
    mutates: true,
    cells: { [GLOBAL]: '401 403 403 403 403 204 403 403 401 401 401 401 401' },
    prepare: async (_r, n) => {
      await s.berth.auth.users.addPublic(`shut${n}/*`);
      return `shut${n}/*`;
    },
    send: (_r, pattern, h) =>
      http('DELETE', api(`/public?pattern=${encodeURIComponent(pattern)}`), undefined, h),
  },
  {
    name: 'POST tokens (own)',
    flavor: 'api',
    access: 'signed-in',
    mutates: true,
    // a token with scopes may not make one without
    cells: { [GLOBAL]: '401 201 201 201 201 201 403 201 401 401 401 401 401' },
    send: (_r, _t, h) => http('POST', api('/tokens'), JSON.stringify({ name: 'own' }), json(h)),
    allowed: (col, r) => expect(r.json().user).toBe(users[col]),
  },
  {
    name: 'POST tokens (for victim)',
    flavor: 'api',
    access: 'signed-in',
    mutates: true,
    cells: { [GLOBAL]: '401 403 403 403 403 201 403 403 401 401 401 401 401' },
    send: (_r, _t, h) => http('POST', api('/tokens'), JSON.stringify({ user: 'victim' }), json(h)),
  },
  {
    name: 'GET tokens',
    flavor: 'api',
    access: 'signed-in',
    cells: { [GLOBAL]: '401 200 200 200 200 200 200 200 401 401 401 401 401' },
    send: (_r, _t, h) => http('GET', api('/tokens'), undefined, h),
    allowed: (col, r) => {
      const owners = new Set(r.json().tokens.map((t: { user: string }) => t.user));
      if (col === 'admin') expect(owners).toContain('victim');
      else expect([...owners].filter((o) => o !== users[col])).toEqual([]);
    },
  },
  {
    name: "DELETE victim's token",
    flavor: 'api',
    access: 'signed-in',
    mutates: true,
    cells: { [GLOBAL]: '401 403 403 403 403 204 403 403 401 401 401 401 401' },
    prepare: async () => (await tokenFor('victim')).id,
    send: (_r, id, h) => http('DELETE', api(`/tokens/${id}`), undefined, h),
  },
  {
    name: 'GET audit',
    flavor: 'api',
    access: 'administrator',
    cells: { [GLOBAL]: '401 403 403 403 403 200 403 403 401 401 401 401 401' },
    send: (_r, _t, h) => http('GET', api('/audit'), undefined, h),
  },
  {
    name: 'GET whoami',
    flavor: 'api',
    access: 'signed-in',
    cells: { [GLOBAL]: '401 200 200 200 200 200 200 200 401 401 401 401 401' },
    send: (_r, _t, h) => http('GET', api('/whoami'), undefined, h),
    allowed: (col, r) => expect(r.json()).toMatchObject({ user: users[col], admin: col === 'admin' }),
  },
];

/** What a cell answered, for the comparison of team/app with team/ghost. */
interface Answer {
  status: number;
  code?: string;
  message?: string;
  challenge?: string;
  headerNames: string[];
}
const answers = new Map<string, Answer>();
/**
 * Headers that differ by timing alone: the date, and Connection/Keep-Alive (a refusal sent before the body
 * arrived whole closes the connection).
 */
const TRANSIENT = new Set(['date', 'connection', 'keep-alive']);

const scopeActions: Record<string, string> = {
  pull: 'pull',
  push: 'pull,push',
  delete: 'delete',
  admin: '*',
};

/** The WWW-Authenticate a 401 of this cell must carry. */
function challengeOf(op: Op, col: Col, repo: Where): string {
  if (op.flavor === 'api') return 'Basic realm="berth", charset="UTF-8"';
  const base = `Bearer realm="${s.url}/token",service="berth"`;
  if (col === 'revoked' || col === 'expired' || repo === GLOBAL || op.access === 'signed-in') return base;
  const also = op.alsoPull === undefined ? '' : ` repository:${op.alsoPull}:pull`;
  const scoped = `${base},scope="repository:${repo}:${scopeActions[op.access]}${also}"`;
  return col === 'jwtPusher' ? `${scoped},error="insufficient_scope"` : scoped;
}

let cellNumber = 0;

describe.each(OPS)('$name', (op) => {
  const wheres = Object.keys(op.cells) as Where[];
  it.each(wheres)('on %s', async (repo) => {
    const cells = op.cells[repo]!.split(/\s+/);
    expect(cells).toHaveLength(COLS.length);
    // What a refused cell acted on is still there, so the next cell acts on it too; and the state after a
    // refusal is the state before the next cell, when nothing ran between them.
    let target: string | undefined;
    let previous: { files: boolean; state: unknown } | undefined;
    for (const [i, col] of COLS.entries()) {
      const n = ++cellNumber;
      const want = Number(cells[i]);
      const refusal = want === 401 || want === 403;
      const label = `${op.name} on ${repo} as ${col}`;
      if (op.prepare && target === undefined) {
        target = await op.prepare(repo, n);
        previous = undefined;
      }
      const watch = refusal || (op.mutates && repo !== GHOST);
      // the store's files are compared around the refusals of the operations that write
      const files = refusal && !!op.mutates;
      const before = !watch ? undefined : previous?.files === files ? previous.state : await state(files);
      const r = await op.send(repo, target ?? '', headers[col], n);
      const isJson = String(r.headers['content-type']).includes('json') && r.body.length > 0;
      const body = isJson ? r.json() : undefined;
      const code: string | undefined = body?.errors?.[0]?.code;
      const wantCode = want === 401 ? 'UNAUTHORIZED' : want === 403 ? 'DENIED' : op.codes?.[repo]?.[want];
      expect
        .soft({ status: r.status, code }, `${label}: ${r.body.toString().slice(0, 300)}`)
        .toEqual({ status: want, code: op.head ? undefined : wantCode });
      if (want === 401) expect.soft(r.headers['www-authenticate'], label).toBe(challengeOf(op, col, repo));
      previous = undefined;
      if (refusal) {
        const after = await state(files);
        expect.soft(after, `${label}: refused, so nothing changed`).toEqual(before);
        previous = { files, state: after };
      } else if (watch && r.status < 300) {
        expect.soft(await state(files), `${label}: allowed, so something changed`).not.toEqual(before);
      }
      if (r.status !== 401 && r.status !== 403) target = undefined;
      if (r.status < 300 && want < 300 && op.allowed) op.allowed(col, r, repo);
      answers.set(`${op.name}|${col}|${repo}`, {
        status: r.status,
        code,
        message: body?.errors?.[0]?.message?.replaceAll(repo, 'NAME'),
        challenge: (r.headers['www-authenticate'] as string | undefined)?.replaceAll(repo, 'NAME'),
        headerNames: Object.keys(r.headers)
          .filter((h) => !TRANSIENT.has(h))
          .sort(),
      });
    }
  });
});

describe('no leak', () => {
  it('every refusal on team/app is the refusal on team/ghost, name aside', () => {
    let compared = 0;
    for (const op of OPS) {
      if (!op.cells[APP] || !op.cells[GHOST]) continue;
      for (const col of COLS) {
        const app = answers.get(`${op.name}|${col}|${APP}`);
        const ghost = answers.get(`${op.name}|${col}|${GHOST}`);
        expect(app && ghost, `${op.name} as ${col}: both answered`).toBeTruthy();
        const refused = (a: Answer) => a.status === 401 || a.status === 403;
        if (!refused(app!) || !refused(ghost!)) continue;
        expect.soft(ghost, `${op.name} as ${col}`).toEqual(app);
        compared++;
      }
    }
    expect(compared).toBeGreaterThan(200);
  });
});
