// What a caller may not read stays invisible through the side doors: a HEAD (or GET) of a blob held only by a
// repository they may not pull, a mount from such a repository, a manifest or an archive that leaves out blobs
// held only there. Each answer is compared, whole, with the answer for content that exists nowhere.
//
// The caller is `pusher`: push on team/*, nothing on other/*; other/secret is the administrator's.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ADMIN,
  ANONYMOUS,
  basic,
  fixture,
  http,
  startTestServer,
  type HttpResult,
  type TestServer,
} from '../helpers/in-process.js';
import { sha } from '../helpers/images.js';
import { snapshot } from '../helpers/state.js';
import { ociImage, Registry, type Image } from '../registry/oci.js';

let s: TestServer;
let reg: Registry;
let secret: Image;
const PUSHER = { authorization: basic('pusher', 'pusher-password') };
const SECRET = 'other/secret';
const NOWHERE = 'other/hidden'; // does not exist (a name as long as other/secret's)
const DEST = 'team/app';

beforeAll(async () => {
  s = await startTestServer('no-leak');
  reg = new Registry(s.url);
  await s.berth.auth.users.create('pusher', 'pusher-password');
  await s.berth.auth.users.grant('pusher', 'team/*', ['push']);
  await s.berth.auth.users.addPublic('pub/*');
  s.berth.auth.invalidate();
  secret = ociImage({ n: 2 });
  await reg.pushImage(SECRET, secret, 'v1');
  await reg.pushImage(DEST, ociImage({ n: 1 }), 'v1');
  await reg.pushImage('pub/base', ociImage({ n: 1 }), 'v1');
});
afterAll(async () => s?.close());

/** An answer with what differs by nature (timing headers, upload ids, the digest asked about) made equal. */
function shape(r: HttpResult, replace: [string | RegExp, string][] = []): unknown {
  let body = r.body.toString('utf8');
  const headers: Record<string, unknown> = { ...r.headers };
  // the date, and Connection/Keep-Alive (a refusal sent before the body arrived whole closes the connection)
  for (const h of ['date', 'connection', 'keep-alive']) delete headers[h];
  let text = JSON.stringify(headers);
  for (const [from, to] of [
    ...replace,
    [/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, 'UUID'] as [RegExp, string],
  ]) {
    body = body.replaceAll(from, to);
    text = text.replaceAll(from, to);
  }
  return { status: r.status, headers: JSON.parse(text), body };
}

const unknownDigest = () => sha(randomBytes(32));

describe('HEAD and GET of a blob', () => {
  for (const method of ['HEAD', 'GET'] as const) {
    it(`${method} in a repository the caller may pull: a blob of other/secret is unknown, like one that exists nowhere`, async () => {
      const held = sha(secret.layers[0]!);
      const nowhere = unknownDigest();
      for (const [who, repo, h] of [
        ['pusher', DEST, PUSHER],
        ['anonymous', 'pub/base', ANONYMOUS],
      ] as const) {
        const a = await http(method, `${s.url}/v2/${repo}/blobs/${held}`, undefined, h);
        const b = await http(method, `${s.url}/v2/${repo}/blobs/${nowhere}`, undefined, h);
        expect(a.status, `${who}: ${a.body.toString()}`).toBe(404);
        expect(shape(a, [[held, 'D']]), who).toEqual(shape(b, [[nowhere, 'D']]));
      }
      // and the administrator does see it there, so the digest is a real one
      expect((await http(method, `${s.url}/v2/${SECRET}/blobs/${held}`)).status).toBe(200);
    });
    it(`${method} in other/secret itself: refused as in a repository that does not exist`, async () => {
      const held = sha(secret.layers[0]!);
      const a = await http(method, `${s.url}/v2/${SECRET}/blobs/${held}`, undefined, PUSHER);
      const b = await http(method, `${s.url}/v2/${NOWHERE}/blobs/${held}`, undefined, PUSHER);
      expect(a.status).toBe(403);
      expect(shape(a, [[SECRET, 'NAME']])).toEqual(shape(b, [[NOWHERE, 'NAME']]));
      const anonA = await http(method, `${s.url}/v2/${SECRET}/blobs/${held}`, undefined, ANONYMOUS);
      const anonB = await http(method, `${s.url}/v2/${NOWHERE}/blobs/${held}`, undefined, ANONYMOUS);
      expect(anonA.status).toBe(401);
      expect(shape(anonA, [[SECRET, 'NAME']])).toEqual(shape(anonB, [[NOWHERE, 'NAME']]));
    });
  }
  it('a manifest of other/secret, by digest in team/app: unknown, like one that exists nowhere', async () => {
    const nowhere = unknownDigest();
    for (const method of ['HEAD', 'GET']) {
      const a = await http(method, `${s.url}/v2/${DEST}/manifests/${secret.digest}`, undefined, PUSHER);
      const b = await http(method, `${s.url}/v2/${DEST}/manifests/${nowhere}`, undefined, PUSHER);
      expect(a.status).toBe(404);
      expect(shape(a, [[secret.digest, 'D']])).toEqual(shape(b, [[nowhere, 'D']]));
    }
  });
  it('blobs/present and referrers in team/app say nothing of other/secret', async () => {
    const present = await http(
      'POST',
      `${s.url}/api/v1/repositories/${DEST}/-/blobs/present`,
      JSON.stringify({ digests: secret.blobs.map((b) => sha(b)) }),
      { ...PUSHER, 'content-type': 'application/json' },
    );
    expect(present.status).toBe(200);
    expect(present.json().present).toEqual([]);
    const nowhere = unknownDigest();
    const a = await http('GET', `${s.url}/v2/${DEST}/referrers/${secret.digest}`, undefined, PUSHER);
    const b = await http('GET', `${s.url}/v2/${DEST}/referrers/${nowhere}`, undefined, PUSHER);
    expect(a.status).toBe(200);
    expect(shape(a, [[secret.digest, 'D']])).toEqual(shape(b, [[nowhere, 'D']]));
  });
});

describe('pushing with digests held only by other/secret', () => {
  it('a monolithic upload naming a blob of other/secret with other bytes is refused like any wrong digest', async () => {
    const before = await snapshot(s.berth, s.data);
    const held = sha(secret.layers[0]!);
    const nowhere = unknownDigest();
    const send = (d: string) =>
      http('POST', `${s.url}/v2/${DEST}/blobs/uploads/?digest=${d}`, Buffer.alloc(0), {
        ...PUSHER,
        'content-type': 'application/octet-stream',
      });
    const a = await send(held);
    const b = await send(nowhere);
    expect(a.status, a.body.toString()).toBe(400);
    expect(shape(a, [[held, 'D']])).toEqual(shape(b, [[nowhere, 'D']]));
    expect((await http('HEAD', `${s.url}/v2/${DEST}/blobs/${held}`, undefined, PUSHER)).status).toBe(404);
    expect(await snapshot(s.berth, s.data)).toEqual(before);
  });
  it("a manifest of other/secret's blobs pushed to team/app is refused like one of blobs that exist nowhere", async () => {
    const before = await snapshot(s.berth, s.data);
    const stolen = ociImage({ layers: secret.layers, config: secret.config!, annotations: { x: 'y' } });
    const made = ociImage({ n: 2 });
    const a = await http('PUT', `${s.url}/v2/${DEST}/manifests/stolen`, stolen.bytes, {
      ...PUSHER,
      'content-type': stolen.mediaType,
    });
    const b = await http('PUT', `${s.url}/v2/${DEST}/manifests/stolen`, made.bytes, {
      ...PUSHER,
      'content-type': made.mediaType,
    });
    expect(a.status, a.body.toString()).toBe(400);
    expect(a.json().errors[0].code).toBe('MANIFEST_BLOB_UNKNOWN');
    const digests = (img: Image): [string, string][] => [
      ...img.blobs.map((x, i): [string, string] => [sha(x), `B${i}`]),
      [img.digest, 'M'],
    ];
    expect(shape(a, digests(stolen))).toEqual(shape(b, digests(made)));
    expect(await snapshot(s.berth, s.data)).toEqual(before);
  });
});

describe('a mount from a repository the caller may not pull', () => {
  const mount = (from: string, digest: string, h: Record<string, string> = PUSHER) =>
    http('POST', `${s.url}/v2/${DEST}/blobs/uploads/?mount=${digest}&from=${from}`, undefined, h);

  it('is a plain upload (202), the blob not linked, the answer that of a mount from nowhere', async () => {
    const held = sha(secret.layers[0]!);
    const a = await mount(SECRET, held);
    expect(a.status, a.body.toString()).toBe(202);
    expect(String(a.headers.location)).toMatch(new RegExp(`^/v2/${DEST}/blobs/uploads/[0-9a-f-]{36}$`));
    for (const [from, digest] of [
      [NOWHERE, held], // a repository that does not exist
      [SECRET, unknownDigest()], // other/secret, a blob it does not hold
    ] as const) {
      const b = await mount(from, digest);
      expect(shape(a), `from ${from}`).toEqual(shape(b));
    }
    // not linked: team/app does not have the blob, and a manifest using it is refused
    expect((await http('HEAD', `${s.url}/v2/${DEST}/blobs/${held}`, undefined, PUSHER)).status).toBe(404);
    const pending = await s.berth.db.kysely
      .selectFrom('pending_blobs')
      .select('digest')
      .where('repository', '=', DEST)
      .where('digest', '=', held)
      .execute();
    expect(pending).toEqual([]);
    const img = ociImage({ layers: [secret.layers[0]!] });
    await reg.pushBlob(DEST, img.config!);
    const put = await http('PUT', `${s.url}/v2/${DEST}/manifests/mounted`, img.bytes, {
      ...PUSHER,
      'content-type': img.mediaType,
    });
    expect(put.status).toBe(400);
    expect(put.json().errors[0].code).toBe('MANIFEST_BLOB_UNKNOWN');
    // the session the refused mount opened is an ordinary upload: the pusher can finish it with the bytes
    const fin = await http('PUT', `${s.url}${a.headers.location}?digest=${held}`, secret.layers[0]!, {
      ...PUSHER,
      'content-type': 'application/octet-stream',
    });
    expect(fin.status, fin.body.toString()).toBe(201);
  });
  it('with a registry token that asked for pull on other/secret: the same plain upload', async () => {
    const q = `service=berth&scope=repository:${DEST}:pull,push&scope=repository:${SECRET}:pull`;
    const t = await http('GET', `${s.url}/token?${q}`, undefined, PUSHER);
    expect(t.status).toBe(200);
    const bearer = { authorization: `Bearer ${t.json().token}` };
    const held = sha(secret.layers[1]!);
    const a = await mount(SECRET, held, bearer);
    const b = await mount(NOWHERE, held, bearer);
    expect(a.status).toBe(202);
    expect(shape(a)).toEqual(shape(b));
    expect((await http('HEAD', `${s.url}/v2/${DEST}/blobs/${held}`)).status).toBe(404);
  });
  it('is a mount (201) for a caller who may pull the source: the test above would see one', async () => {
    const held = sha(secret.layers[1]!);
    const r = await mount(SECRET, held, { authorization: basic(ADMIN.user, ADMIN.password) });
    expect(r.status).toBe(201);
    expect((await http('HEAD', `${s.url}/v2/${DEST}/blobs/${held}`)).status).toBe(200);
  });
});

describe('the challenge of a mount (issue 11)', () => {
  const url = (from: string, digest: string) =>
    `${s.url}/v2/${DEST}/blobs/uploads/?mount=${digest}&from=${encodeURIComponent(from)}`;
  const mount = (from: string, digest: string, h: Record<string, string>) =>
    http('POST', url(from, digest), undefined, h);
  const params = (r: HttpResult) =>
    Object.fromEntries(
      [...String(r.headers['www-authenticate']).matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1]!, m[2]!]),
    );
  /** A registry token for the scope of a challenge, asked for as clients do (one parameter, spaces between). */
  async function tokenFrom(challenge: HttpResult, h: Record<string, string>): Promise<string> {
    const c = params(challenge);
    const q = new URLSearchParams({ service: c.service!, scope: c.scope! });
    const r = await http('GET', `${c.realm}?${q}`, undefined, h);
    expect(r.status, r.body.toString()).toBe(200);
    return r.json().token;
  }
  const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
  const access = (token: string) =>
    JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()).access as {
      name: string;
      actions: string[];
    }[];

  it('asks an anonymous caller for pull on the source too, whether the source exists or not', async () => {
    const digest = sha(secret.layers[0]!);
    const a = await mount(SECRET, digest, ANONYMOUS);
    expect(a.status).toBe(401);
    expect(a.headers['www-authenticate']).toBe(
      `Bearer realm="${s.url}/token",service="berth",scope="repository:${DEST}:pull,push repository:${SECRET}:pull"`,
    );
    const b = await mount(NOWHERE, digest, ANONYMOUS);
    expect(shape(a, [[SECRET, 'FROM']])).toEqual(shape(b, [[NOWHERE, 'FROM']]));
    // no mount asked for (from without mount, or from naming the destination): the destination's scope alone
    for (const q of [`from=${SECRET}`, `mount=${digest}&from=${DEST}`]) {
      const r = await http('POST', `${s.url}/v2/${DEST}/blobs/uploads/?${q}`, undefined, ANONYMOUS);
      expect(params(r).scope, q).toBe(`repository:${DEST}:pull,push`);
    }
  });
  it('a token obtained from that challenge by a user who may pull the source mounts (201)', async () => {
    await s.berth.auth.users.create('mover', 'mover-password');
    await s.berth.auth.users.grant('mover', 'team/*', ['push']);
    await s.berth.auth.users.grant('mover', 'other/*', ['pull']);
    const blob = randomBytes(99);
    await reg.pushBlob(SECRET, blob);
    const token = await tokenFrom(await mount(SECRET, sha(blob), ANONYMOUS), {
      authorization: basic('mover', 'mover-password'),
    });
    expect(access(token).map((e) => [e.name, [...e.actions].sort()])).toEqual([
      [DEST, ['pull', 'push']],
      [SECRET, ['pull']],
    ]);
    const r = await mount(SECRET, sha(blob), bearer(token));
    expect(r.status, r.body.toString()).toBe(201);
    expect(r.headers['docker-content-digest']).toBe(sha(blob));
    expect((await http('HEAD', `${s.url}/v2/${DEST}/blobs/${sha(blob)}`)).status).toBe(200);
  });
  it('a token from it without pull on the source: a plain upload (202), the answer of a mount from nowhere', async () => {
    const blob = randomBytes(98);
    await reg.pushBlob(SECRET, blob);
    const held = sha(blob);
    const token = await tokenFrom(await mount(SECRET, held, ANONYMOUS), PUSHER);
    expect(access(token).map((e) => e.name)).toEqual([DEST]);
    const a = await mount(SECRET, held, bearer(token));
    const b = await mount(NOWHERE, held, bearer(token));
    expect(a.status, a.body.toString()).toBe(202);
    expect(shape(a)).toEqual(shape(b));
    expect((await http('HEAD', `${s.url}/v2/${DEST}/blobs/${held}`)).status).toBe(404);
  });
  it('a token lacking push on the destination is asked to widen to both scopes (insufficient_scope)', async () => {
    const digest = sha(secret.layers[0]!);
    const q = new URLSearchParams({ service: 'berth', scope: `repository:${DEST}:pull` });
    const t = await http('GET', `${s.url}/token?${q}`, undefined, PUSHER);
    const r = await mount(SECRET, digest, bearer(t.json().token));
    expect(r.status).toBe(401);
    expect(params(r)).toMatchObject({
      scope: `repository:${DEST}:pull,push repository:${SECRET}:pull`,
      error: 'insufficient_scope',
    });
  });
});

describe('a partial archive leaving out layers held only by a repository the caller may not read', () => {
  const FILES = ['app.dir.partial.tar', 'app.docker.partial.tar'];
  const REPOS = [DEST, 'team/new']; // one that exists, one that does not
  const upload = (repo: string, file: string, h: Record<string, string> = PUSHER) =>
    http(
      'POST',
      `${s.url}/api/v1/repositories/${repo}/-/archives?tag=1.0`,
      { file: fixture(file) },
      { ...h, 'content-type': 'application/x-tar' },
    );
  const asAdmin = { authorization: basic(ADMIN.user, ADMIN.password) };
  /** the answers while the left-out layers exist nowhere */
  const nowhere = new Map<string, HttpResult>();

  beforeAll(async () => {
    for (const file of FILES) {
      for (const repo of REPOS) {
        const r = await upload(repo, file);
        expect(r.status, r.body.toString()).toBe(404);
        expect(r.json().errors[0].code).toBe('BLOB_UNKNOWN');
        nowhere.set(`${file} ${repo}`, r);
      }
    }
    // now the left-out layers exist, in other/secret only (by digest from the dir tar, by diff ID from docker's)
    for (const base of ['base.dir.tar', 'base.docker.tar']) {
      const r = await upload(SECRET, base, asAdmin);
      expect(r.status, r.body.toString()).toBe(201);
    }
  });

  for (const file of FILES) {
    it(`${file}: refused exactly as when the layers existed nowhere, nothing committed`, async () => {
      for (const repo of REPOS) {
        const before = await snapshot(s.berth, s.data);
        const r = await upload(repo, file);
        expect(shape(r), `into ${repo}`).toEqual(shape(nowhere.get(`${file} ${repo}`)!));
        expect(await snapshot(s.berth, s.data), `into ${repo}: nothing committed`).toEqual(before);
      }
      expect((await http('GET', `${s.url}/api/v1/repositories/team/new`)).status).toBe(404);
    });
  }
  it('is accepted where the caller may read the layers: the refusals above are about reading', async () => {
    const control = 'team/control';
    for (const [base, file] of [
      ['base.dir.tar', 'app.dir.partial.tar'],
      ['base.docker.tar', 'app.docker.partial.tar'],
    ]) {
      expect((await upload(control, base!, asAdmin)).status).toBe(201);
      const r = await upload(control, file!);
      expect(r.status, r.body.toString()).toBe(201);
    }
  });
});
