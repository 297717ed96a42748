// Open upload sessions are bounded per repository and per user (issue 19): the next session is refused with 429
// TOOMANYREQUESTS saying what to do, and nothing is created; finishing or cancelling one frees a slot; other
// repositories and users are not affected; parallel starts never open more than the bound.
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_UPLOAD_OPTIONS } from '../../src/repo/uploads.js';
import { startServer } from '../../src/server.js';
import { removeTestDatabase, testDatabaseUrl } from '../helpers/backend.js';
import { basic, http, startTestServer, type HttpResult, type TestServer } from '../helpers/in-process.js';
import { sha } from '../helpers/images.js';

const PER_REPO = 5;
const PER_USER = 8;

describe('the bounds of open upload sessions', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer('upload-limits', {
      uploads: { maxPerRepository: PER_REPO, maxPerUser: PER_USER },
    });
    for (const u of ['ann', 'ben', 'cat']) {
      await s.berth.auth.users.create(u, `${u}-password`);
      await s.berth.auth.users.grant(u, `${u}/*`, ['pull', 'push']);
      await s.berth.auth.users.grant(u, 'shared/*', ['pull', 'push']);
    }
  });
  afterAll(async () => s?.close());

  const as = (user: string) => ({ authorization: basic(user, `${user}-password`) });
  const start = (user: string, repo: string) =>
    http('POST', `${s.url}/v2/${repo}/blobs/uploads/`, undefined, as(user));
  const cancel = (user: string, r: HttpResult) =>
    http('DELETE', `${s.url}${r.headers.location}`, undefined, as(user));
  const open = async (where: { repo?: string; user?: number }) => {
    const q = s.berth.db.kysely.selectFrom('upload_sessions').select((eb) => eb.fn.countAll().as('n'));
    const r = await (where.repo !== undefined ? q.where('repository', '=', where.repo) : q)
      .$if(where.user !== undefined, (qb) => qb.where('user_id', '=', where.user!))
      .executeTakeFirstOrThrow();
    return Number(r.n);
  };
  const uploadDirs = () => {
    const dir = join(s.data, 'store', 'uploads');
    return existsSync(dir) ? readdirSync(dir).length : 0;
  };
  const userId = async (name: string) => (await s.berth.auth.users.get(name)).id;
  const expectRefused = (r: HttpResult, what: RegExp) => {
    expect(r.status, r.body.toString()).toBe(429);
    const e = r.json().errors[0];
    expect(e.code).toBe('TOOMANYREQUESTS');
    expect(e.message).toMatch(what);
    expect(e.message).toMatch(
      /finish \(PUT\) or cancel \(DELETE\) the uploads in progress, or wait until unused ones expire \(24 h after their last change\); then try again$/,
    );
    expect(r.headers.location).toBeUndefined();
  };

  it('per repository: sessions up to the bound, then 429 naming the repository, and nothing created', async () => {
    const opened: HttpResult[] = [];
    for (let i = 0; i < PER_REPO; i++) {
      const r = await start(i % 2 ? 'ann' : 'ben', 'shared/app');
      expect(r.status, r.body.toString()).toBe(202);
      opened.push(r);
    }
    const [rows, dirs] = [await open({}), uploadDirs()];
    // a session, a monolithic upload (which opens one too), by either user
    expectRefused(
      await start('cat', 'shared/app'),
      /^repository shared\/app has 5 upload sessions open, the most allowed per repository: /,
    );
    const blob = Buffer.from('one blob');
    const mono = await http('POST', `${s.url}/v2/shared/app/blobs/uploads/?digest=${sha(blob)}`, blob, {
      ...as('cat'),
      'content-type': 'application/octet-stream',
    });
    expectRefused(mono, /^repository shared\/app has 5 upload sessions open/);
    expect([await open({}), uploadDirs()]).toEqual([rows, dirs]);
    expect(
      (await http('GET', `${s.url}/v2/shared/app/blobs/${sha(blob)}`, undefined, as('cat'))).status,
    ).toBe(404);
    // another repository is not affected
    expect((await start('cat', 'cat/app')).status).toBe(202);
    // cancelling one frees its slot, for anyone
    expect((await cancel('ben', opened[0]!)).status).toBe(204);
    expect((await start('cat', 'shared/app')).status).toBe(202);
    expect((await start('cat', 'shared/app')).status).toBe(429);
    // and so does finishing one
    const last = opened[1]!;
    const done = await http('PUT', `${s.url}${last.headers.location}?digest=${sha(blob)}`, blob, {
      ...as('ann'),
      'content-type': 'application/octet-stream',
    });
    expect(done.status, done.body.toString()).toBe(201);
    expect((await start('ann', 'shared/app')).status).toBe(202);
    expect(await open({ repo: 'shared/app' })).toBe(PER_REPO);
  });

  it('per user: sessions in all repositories up to the bound, then 429 for that user only', async () => {
    const ann = await userId('ann');
    const already = await open({ user: ann });
    const mine: HttpResult[] = [];
    for (let i = already; i < PER_USER; i++) {
      const r = await start('ann', `ann/repo${i % 3}`);
      expect(r.status, r.body.toString()).toBe(202);
      mine.push(r);
    }
    expect(await open({ user: ann })).toBe(PER_USER);
    const rows = await open({});
    expectRefused(
      await start('ann', 'ann/another'),
      /^you have 8 upload sessions open, the most allowed per user: /,
    );
    expect(await open({})).toBe(rows);
    // another user, in a repository where ann has sessions too, is not affected
    expect((await start('cat', 'cat/repo0')).status).toBe(202);
    // cancelling one of ann's frees one of ann's slots
    expect((await cancel('ann', mine[0]!)).status).toBe(204);
    expect((await start('ann', 'ann/another')).status).toBe(202);
    expectRefused(await start('ann', 'ann/another'), /per user/);
  });

  it('parallel starts never open more than the bound', async () => {
    const answers = await Promise.all(Array.from({ length: 20 }, () => start('ben', 'ben/parallel')));
    const statuses = answers.map((r) => r.status);
    expect(statuses.filter((c) => c === 202).length).toBe(PER_REPO);
    expect(statuses.filter((c) => c === 429).length).toBe(20 - PER_REPO);
    expect(await open({ repo: 'ben/parallel' })).toBe(PER_REPO);
    // and per user: ben has 2 in shared/app, 5 here; of parallel starts in new repositories one more opens
    const ben = await userId('ben');
    const left = PER_USER - (await open({ user: ben }));
    const more = await Promise.all(Array.from({ length: 10 }, (_, i) => start('ben', `ben/p${i}`)));
    expect(more.filter((r) => r.status === 202).length).toBe(left);
    expect(await open({ user: ben })).toBe(PER_USER);
  });

  it('the defaults: 1000 per repository and per user, sessions expire after 24 h', () => {
    expect(DEFAULT_UPLOAD_OPTIONS).toMatchObject({
      maxPerRepository: 1000,
      maxPerUser: 1000,
      expireAfterMs: 24 * 3600_000,
    });
  });
});

describe('the defaults, against one user leaving sessions open (issue 19: 5 000 of 1 byte each)', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer('upload-defaults');
    await s.berth.auth.users.create('hoarder', 'hoarder-password');
  });
  afterAll(async () => s?.close());

  it('1000 open in a repository, then refused; 1000 by the user in all, then refused; expiry frees them', async () => {
    const id = (await s.berth.auth.users.get('hoarder')).id;
    const uploads = s.berth.uploads;
    const byte = () => Readable.from([Buffer.from('x')]);
    const t0 = performance.now();
    for (let i = 0; i < 1000; i++) {
      const { id: session } = await uploads.start('hoard/one', id);
      if (i % 100 === 0) await uploads.append('hoard/one', session, byte());
    }
    const ms = Math.round(performance.now() - t0);
    await expect(uploads.start('hoard/one', id)).rejects.toMatchObject({
      code: 'TOOMANYREQUESTS',
      message: expect.stringMatching(/^repository hoard\/one has 1000 upload sessions open/),
    });
    // the user's bound counts every repository: a new one is refused for this user, not for another
    await expect(uploads.start('hoard/two', id)).rejects.toMatchObject({
      message: expect.stringMatching(/^you have 1000 upload sessions open, the most allowed per user/),
    });
    expect(await uploads.openCount()).toBe(1000);
    const other = (await s.berth.auth.users.get('admin')).id;
    await uploads.start('hoard/two', other);
    // sessions untouched for 24 h expire, and their slots with them
    expect(await uploads.expire(Date.now() + 24 * 3600_000 + 60_000)).toBe(1001);
    await uploads.start('hoard/one', id);
    console.info(`upload bounds: 1000 sessions opened in ${ms} ms, the 1001st refused`);
  });
});

describe('berth serve --max-uploads-per-repository / --max-uploads-per-user', () => {
  it('reach the sessions of the server it starts', async () => {
    const data = mkdtempSync(join(tmpdir(), 'upload-bounds-serve-'));
    const database = await testDatabaseUrl('upload_bounds_serve');
    const admin = process.env.BERTH_ADMIN_PASSWORD;
    process.env.BERTH_ADMIN_PASSWORD = 'serve-admin-password';
    const server = await startServer({
      data,
      database,
      listen: '127.0.0.1:0',
      logLevel: 'silent',
      maxUploadsPerRepository: 2,
      maxUploadsPerUser: 3,
    });
    try {
      const h = { authorization: basic('admin', 'serve-admin-password') };
      const post = (repo: string) => http('POST', `${server.url}/v2/${repo}/blobs/uploads/`, undefined, h);
      expect((await post('a/one')).status).toBe(202);
      expect((await post('a/one')).status).toBe(202);
      expect((await post('a/one')).json().errors[0].message).toMatch(
        /^repository a\/one has 2 upload sessions/,
      );
      expect((await post('a/two')).status).toBe(202);
      expect((await post('a/three')).json().errors[0].message).toMatch(/^you have 3 upload sessions open/);
    } finally {
      if (admin === undefined) delete process.env.BERTH_ADMIN_PASSWORD;
      else process.env.BERTH_ADMIN_PASSWORD = admin;
      await server.close();
      rmSync(data, { recursive: true, force: true });
      await removeTestDatabase(database);
    }
  });
});
