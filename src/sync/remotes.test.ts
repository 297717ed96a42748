// The remotes service on every backend: add (name taken: 409), list, show, edit, remove (refused while in use), get.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, type Db } from '../db/connect.js';
import { BerthError } from '../core/errors.js';
import { backends, removeTestDatabase, testDatabaseUrl, type Backend } from '../../test/helpers/backend.js';
import { lockRemote, Remotes } from './remotes.js';
import { Secrets } from './secrets.js';

const key = (c: string) => new Secrets('/none', async () => Buffer.from(c.repeat(64), 'hex'));
const clock = (ms: number) => ({ ...fakeNow, now: () => ms });
const fakeNow = {
  now: () => 0,
  setTimeout: () => 0,
  clearTimeout: () => {},
  setInterval: () => 0,
  clearInterval: () => {},
  random: () => 0.5,
};

async function refusal(p: Promise<unknown>): Promise<BerthError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(BerthError);
  return e as BerthError;
}

describe.each(backends())('remotes on %s', (backend: Backend) => {
  let url: string;
  let db: Db;
  let remotes: Remotes;
  beforeAll(async () => {
    url = await testDatabaseUrl(`remotes-${backend}`, backend);
    db = await openDatabase(url);
    remotes = new Remotes(db.kysely, key('a'), clock(1_700_000_000_000));
  });
  afterAll(async () => {
    await db?.close();
    if (url) await removeTestDatabase(url);
  });

  it('adds a remote with defaults; shows and lists it without its password; get() gives it decrypted', async () => {
    const added = await remotes.add({
      name: 'hub',
      url: 'https://registry-1.docker.io/',
      username: 'me',
      password: 's3cret-token',
    });
    expect(added).toEqual({
      name: 'hub',
      url: 'https://registry-1.docker.io',
      username: 'me',
      hasPassword: true,
      caPem: null,
      tlsVerify: true,
      include: [],
      exclude: [],
      platforms: [],
      referrers: 'none',
      policy: 'immediate',
      concurrency: 4,
      requestsPerSecond: null,
      ratelimitRemaining: null,
      ratelimitSeenAt: null,
      createdAt: '2023-11-14T22:13:20.000Z',
      updatedAt: '2023-11-14T22:13:20.000Z',
    });
    expect(JSON.stringify(await remotes.list())).not.toContain('s3cret');
    const row = await db.kysely
      .selectFrom('remotes')
      .selectAll()
      .where('name', '=', 'hub')
      .executeTakeFirst();
    expect(row?.secret).toMatch(/^v1:/);
    expect(row?.secret).not.toContain('s3cret');
    expect(await remotes.get('hub')).toEqual({
      connection: {
        name: 'hub',
        url: 'https://registry-1.docker.io',
        username: 'me',
        password: 's3cret-token',
        tlsVerify: true,
        concurrency: 4,
      },
      include: [],
      exclude: [],
      platforms: [],
      referrers: 'none',
      policy: 'immediate',
    });
  });

  it('keeps every setting as given (normalised), and get() carries them', async () => {
    await remotes.add({
      name: 'local',
      url: 'http://127.0.0.1:5001',
      include: ['v*', '1.0', 'v*', `sha256:${'a'.repeat(64)}`],
      exclude: ['*-rc?'],
      platforms: ['linux/amd64', 'linux/arm/v7'],
      referrers: ['application/vnd.dev.cosign.artifact.sig.v1+json'],
      policy: 'on_demand',
      concurrency: 8,
      requestsPerSecond: 20,
    });
    const r = await remotes.get('local');
    expect(r).toEqual({
      connection: {
        name: 'local',
        url: 'http://127.0.0.1:5001',
        tlsVerify: true,
        concurrency: 8,
        requestsPerSecond: 20,
      },
      include: ['v*', '1.0', `sha256:${'a'.repeat(64)}`],
      exclude: ['*-rc?'],
      platforms: ['linux/amd64', 'linux/arm/v7'],
      referrers: ['application/vnd.dev.cosign.artifact.sig.v1+json'],
      policy: 'on_demand',
    });
    expect((await remotes.list()).map((x) => x.name)).toEqual(['hub', 'local']);
  });

  it('refuses a taken name with ALREADY_EXISTS and changes nothing', async () => {
    const before = await remotes.show('hub');
    const e = await refusal(remotes.add({ name: 'hub', url: 'http://example.com' }));
    expect(e.code).toBe('ALREADY_EXISTS');
    expect(e.message).toContain('a remote named hub exists already');
    expect(await remotes.show('hub')).toEqual(before);
  });

  it('edits what is given and keeps the rest (the password too); null clears', async () => {
    const r = new Remotes(db.kysely, key('a'), clock(1_700_000_100_000));
    const edited = await r.edit('hub', { include: ['latest'], concurrency: 2 });
    expect(edited.include).toEqual(['latest']);
    expect(edited.concurrency).toBe(2);
    expect(edited.username).toBe('me');
    expect(edited.updatedAt).toBe('2023-11-14T22:15:00.000Z');
    expect(edited.createdAt).toBe('2023-11-14T22:13:20.000Z');
    expect((await r.get('hub')).connection.password).toBe('s3cret-token');
    await r.edit('hub', { password: 'new-token' });
    expect((await r.get('hub')).connection.password).toBe('new-token');
    const cleared = await r.edit('hub', { username: null, password: null });
    expect(cleared).toMatchObject({ username: null, hasPassword: false });
    const c = (await r.get('hub')).connection;
    expect(c.username).toBeUndefined();
    expect(c.password).toBeUndefined();
  });

  it('refuses an edit whose result is invalid, and changes nothing', async () => {
    const before = await remotes.show('local');
    const e = await refusal(remotes.edit('local', { password: 'pw' }));
    expect(e.code).toBe('PARAMETER_INVALID');
    expect(e.message).toContain('a password needs a username');
    const e2 = await refusal(remotes.edit('local', { tlsVerify: false }));
    expect(e2.message).toContain('apply to https remotes');
    expect(await remotes.show('local')).toEqual(before);
    expect((await refusal(remotes.edit('nope', { concurrency: 1 }))).code).toBe('REMOTE_UNKNOWN');
  });

  it('records the last ratelimit-remaining and lists it for the metrics', async () => {
    await remotes.recordRateLimit('local', 76);
    expect(await remotes.show('local')).toMatchObject({
      ratelimitRemaining: 76,
      ratelimitSeenAt: '2023-11-14T22:13:20.000Z',
    });
    expect(await remotes.rateLimits()).toEqual([{ name: 'local', remaining: 76 }]);
  });

  it('a secret encrypted under another key: get() fails naming the remote', async () => {
    const other = new Remotes(db.kysely, key('b'));
    await remotes.add({ name: 'keyed', url: 'https://r.example', username: 'u', password: 'p' });
    const e = await refusal(other.get('keyed'));
    expect(e.code).toBe('REMOTE_SECRET_UNREADABLE');
    expect(e.message).toContain('remote keyed');
    await remotes.remove('keyed');
  });

  it('refuses to remove a remote a cache, a schedule or on-demand blobs use, naming them; removes it after', async () => {
    await remotes.add({ name: 'used', url: 'http://127.0.0.1:5002' });
    const k = db.kysely;
    await k
      .insertInto('caches')
      .values({
        name: 'hubcache',
        remote: 'used',
        prefix: 'cache/hub',
        check_seconds: 60,
        stale_seconds: 3600,
        created_at: 0,
      })
      .execute();
    await k
      .insertInto('sync_schedules')
      .values({
        repository: 'team/app',
        remote: 'used',
        upstream: 'app',
        mirror: 0,
        interval_seconds: 3600,
        next_at: 0,
      })
      .execute();
    await k
      .insertInto('on_demand_blobs')
      .values({
        repository: 'team/od',
        digest: `sha256:${'b'.repeat(64)}`,
        size: 1,
        remote: 'used',
        upstream: 'od',
        created_at: 0,
      })
      .execute();
    const e = await refusal(remotes.remove('used'));
    expect(e.code).toBe('REMOTE_IN_USE');
    expect(e.status).toBe(409);
    expect(e.message).toContain('caches hubcache');
    expect(e.message).toContain('the sync schedules of team/app');
    expect(e.message).toContain('on-demand blobs of team/od');
    expect(e.detail).toEqual({
      remote: 'used',
      caches: ['hubcache'],
      schedules: ['team/app'],
      onDemandRepositories: ['team/od'],
    });
    expect((await remotes.show('used')).name).toBe('used');
    await k.deleteFrom('caches').execute();
    await k.deleteFrom('sync_schedules').execute();
    await k.deleteFrom('on_demand_blobs').execute();
    await remotes.remove('used');
    expect((await refusal(remotes.show('used'))).code).toBe('REMOTE_UNKNOWN');
    expect((await refusal(remotes.remove('used'))).code).toBe('REMOTE_UNKNOWN');
  });

  it('lockRemote: a use recorded while the remote is being removed sees it gone (or the removal sees the use)', async () => {
    await remotes.add({ name: 'racy', url: 'http://127.0.0.1:5003' });
    const addCache = () =>
      db.kysely.transaction().execute(async (trx) => {
        await lockRemote(trx, 'racy');
        await trx
          .insertInto('caches')
          .values({
            name: 'c',
            remote: 'racy',
            prefix: 'cache/racy',
            check_seconds: 1,
            stale_seconds: 1,
            created_at: 0,
          })
          .execute();
      });
    const [removed, cached] = await Promise.allSettled([remotes.remove('racy'), addCache()]);
    // exactly one wins; never a cache naming a remote that is gone
    expect([removed.status, cached.status].sort()).toEqual(['fulfilled', 'rejected']);
    const remote = await db.kysely.selectFrom('remotes').select('name').where('name', '=', 'racy').execute();
    const caches = await db.kysely.selectFrom('caches').select('name').where('remote', '=', 'racy').execute();
    expect(remote.length).toBe(caches.length);
    await db.kysely.deleteFrom('caches').execute();
    await db.kysely.deleteFrom('remotes').where('name', '=', 'racy').execute();
  });
});
