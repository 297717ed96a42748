// The caches service on every backend: add with its checks, list, show, remove, the cache a name falls under, push refusal, containerd's ns.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { openBerth, type Berth } from '../app.js';
import { BerthError } from '../core/errors.js';
import { commitVersion } from '../repo/versions.js';
import { backends, removeTestDatabase, testDatabaseUrl } from '../../test/helpers/backend.js';
import { snapshot } from '../../test/helpers/state.js';
import { DEFAULT_CHECK_SECONDS, DEFAULT_STALE_SECONDS, prefixesOf } from './caches.js';

async function refusal(p: Promise<unknown>): Promise<BerthError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(BerthError);
    return e as BerthError;
  }
  throw new Error('expected a refusal');
}

it('prefixesOf: a name and each of its ancestors', () => {
  expect(prefixesOf('cache/hub/library/alpine')).toEqual([
    'cache',
    'cache/hub',
    'cache/hub/library',
    'cache/hub/library/alpine',
  ]);
  expect(prefixesOf('alpine')).toEqual(['alpine']);
});

describe.each(backends())('pull-through caches on %s', (backend) => {
  let data: string;
  let database: string;
  let berth: Berth;
  const db = () => berth.db.kysely;

  beforeAll(async () => {
    data = mkdtempSync(join(tmpdir(), 'caches-'));
    database = await testDatabaseUrl(`caches-${backend}`, backend);
    berth = await openBerth({ data, database });
  });
  afterAll(async () => {
    await berth?.close();
    if (database) await removeTestDatabase(database);
    rmSync(data, { recursive: true, force: true });
  });
  beforeEach(async () => {
    for (const t of ['cache_tags', 'caches', 'remotes'] as const) await db().deleteFrom(t).execute();
    await db().deleteFrom('repository_content').execute();
    await db().deleteFrom('repository_versions').execute();
    await db().deleteFrom('repositories').execute();
    const now = Date.now();
    for (const [name, url] of [
      ['hub', 'https://registry-1.docker.io'],
      ['local', 'http://127.0.0.1:5001'],
    ]) {
      await db()
        .insertInto('remotes')
        .values({ name: name!, url: url!, created_at: now, updated_at: now })
        .execute();
    }
  });

  it('adds a cache with the default settings, shows and lists it with the repositories it made', async () => {
    const added = await berth.caches.add({ name: 'hub', remote: 'hub', prefix: 'cache/hub' });
    expect(added).toMatchObject({
      name: 'hub',
      remote: 'hub',
      prefix: 'cache/hub',
      checkSeconds: DEFAULT_CHECK_SECONDS,
      staleSeconds: DEFAULT_STALE_SECONDS,
      retainDays: null,
      repositories: 0,
    });
    await berth.caches.add({
      name: 'mine',
      remote: 'local',
      prefix: 'mirror/local',
      checkSeconds: 0,
      staleSeconds: 60,
      retainDays: 7,
    });
    await commitVersion(db(), 'cache/hub/library/alpine', { create: true }, async () => []);
    await db().updateTable('repositories').set({ cache: 'hub' }).execute();
    expect(await berth.caches.show('hub')).toMatchObject({ repositories: 1 });
    const list = await berth.caches.list();
    expect(
      list.map((c) => [c.name, c.prefix, c.checkSeconds, c.staleSeconds, c.retainDays, c.repositories]),
    ).toEqual([
      ['hub', 'cache/hub', DEFAULT_CHECK_SECONDS, DEFAULT_STALE_SECONDS, null, 1],
      ['mine', 'mirror/local', 0, 60, 7, 0],
    ]);
  });

  it('refuses bad input, naming the problem, and changes nothing', async () => {
    await berth.caches.add({ name: 'hub', remote: 'hub', prefix: 'cache/hub' });
    await commitVersion(db(), 'team/app', { create: true }, async () => []);
    const before = await snapshot(berth, data);
    const cases: [Parameters<Berth['caches']['add']>[0], string, RegExp][] = [
      [{ name: 'Hub', remote: 'hub', prefix: 'x' }, 'PARAMETER_INVALID', /"Hub" is not a cache name/],
      [{ name: '', remote: 'hub', prefix: 'x' }, 'PARAMETER_INVALID', /is not a cache name/],
      [{ name: 'a', remote: 'hub', prefix: 'Cache/Hub' }, 'NAME_INVALID', /lowercase/],
      [{ name: 'a', remote: 'hub', prefix: 'cache//x' }, 'NAME_INVALID', /invalid repository name/],
      [
        { name: 'a', remote: 'hub', prefix: 'x', checkSeconds: -1 },
        'PARAMETER_INVALID',
        /checkSeconds must be/,
      ],
      [
        { name: 'a', remote: 'hub', prefix: 'x', staleSeconds: 1.5 },
        'PARAMETER_INVALID',
        /staleSeconds must be/,
      ],
      [{ name: 'a', remote: 'hub', prefix: 'x', retainDays: 0 }, 'PARAMETER_INVALID', /retainDays must be/],
      [{ name: 'a', remote: 'nope', prefix: 'x' }, 'PARAMETER_INVALID', /remote nope does not exist/],
      [{ name: 'hub', remote: 'hub', prefix: 'x' }, 'ALREADY_EXISTS', /cache hub exists already/],
      [
        { name: 'a', remote: 'hub', prefix: 'cache/hub' },
        'ALREADY_EXISTS',
        /overlaps the prefix of cache hub/,
      ],
      [
        { name: 'a', remote: 'hub', prefix: 'cache/hub/x' },
        'ALREADY_EXISTS',
        /overlaps the prefix of cache hub/,
      ],
      [{ name: 'a', remote: 'hub', prefix: 'cache' }, 'ALREADY_EXISTS', /overlaps the prefix of cache hub/],
      [{ name: 'a', remote: 'hub', prefix: 'team' }, 'ALREADY_EXISTS', /covers repositories .*team\/app/],
      [{ name: 'a', remote: 'hub', prefix: 'team/app' }, 'ALREADY_EXISTS', /covers repositories .*team\/app/],
    ];
    for (const [input, code, message] of cases) {
      const e = await refusal(berth.caches.add(input));
      expect([e.code, e.message], JSON.stringify(input)).toEqual([code, expect.stringMatching(message)]);
    }
    expect(await snapshot(berth, data)).toEqual(before);
    // "_" in a prefix is literal: team_x covers no repository of team/…
    await commitVersion(db(), 'teamxapp/a', { create: true }, async () => []);
    await expect(berth.caches.add({ name: 'u', remote: 'hub', prefix: 'team_x' })).resolves.toMatchObject({
      prefix: 'team_x',
    });
  });

  it('two additions of overlapping prefixes at once: one wins', async () => {
    const results = await Promise.allSettled([
      berth.caches.add({ name: 'a', remote: 'hub', prefix: 'cache' }),
      berth.caches.add({ name: 'b', remote: 'local', prefix: 'cache/hub' }),
    ]);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    expect(await db().selectFrom('caches').select('name').execute()).toHaveLength(1);
  });

  it('match: the cache covering a name and the upstream repository it stands for', async () => {
    await berth.caches.add({ name: 'hub', remote: 'hub', prefix: 'cache/hub' });
    expect(await berth.caches.match('cache/hub/library/alpine')).toMatchObject({
      cache: { name: 'hub', remote: 'hub' },
      upstream: 'library/alpine',
    });
    expect(await berth.caches.match('cache/hub')).toMatchObject({ upstream: '' });
    expect(await berth.caches.match('cache/hubx/alpine')).toBeUndefined();
    expect(await berth.caches.match('cache')).toBeUndefined();
  });

  it('refuses pushes under a prefix, naming the cache; others pass', async () => {
    await berth.caches.add({ name: 'hub', remote: 'hub', prefix: 'cache/hub' });
    const e = await refusal(berth.caches.refusePush('cache/hub/library/alpine'));
    expect(e.code).toBe('DENIED');
    expect(e.message).toMatch(/belongs to the pull-through cache hub \(prefix cache\/hub\).*remote hub/);
    expect((await refusal(berth.caches.refusePush('cache/hub'))).code).toBe('DENIED');
    await expect(berth.caches.refusePush('cache/other')).resolves.toBeUndefined();
  });

  it("containerd's ns: the cache whose remote has that host (docker.io: Docker Hub's registry)", async () => {
    await berth.caches.add({ name: 'hub', remote: 'hub', prefix: 'cache/hub' });
    await berth.caches.add({ name: 'mine', remote: 'local', prefix: 'mirror/local' });
    expect((await berth.caches.forNamespace('docker.io'))?.name).toBe('hub');
    expect((await berth.caches.forNamespace('registry-1.docker.io'))?.name).toBe('hub');
    expect((await berth.caches.forNamespace('127.0.0.1:5001'))?.prefix).toBe('mirror/local');
    expect(await berth.caches.forNamespace('127.0.0.1')).toBeUndefined();
    expect(await berth.caches.forNamespace('quay.io')).toBeUndefined();
  });

  it('edit: changes the settings given, keeps the others; the new remote serves the next resolution', async () => {
    await berth.caches.add({
      name: 'hub',
      remote: 'hub',
      prefix: 'cache/hub',
      staleSeconds: 60,
      retainDays: 7,
    });
    const edited = await berth.caches.edit('hub', { checkSeconds: 5, remote: 'local' });
    expect(edited).toMatchObject({
      name: 'hub',
      remote: 'local',
      prefix: 'cache/hub',
      checkSeconds: 5,
      staleSeconds: 60,
      retainDays: 7,
    });
    expect((await berth.caches.match('cache/hub/library/alpine'))?.cache).toMatchObject({
      remote: 'local',
      check_seconds: 5,
    });
    // retainDays null: kept for ever again; the same prefix given is no change
    expect(await berth.caches.edit('hub', { retainDays: null, prefix: 'cache/hub' })).toMatchObject({
      remote: 'local',
      checkSeconds: 5,
      staleSeconds: 60,
      retainDays: null,
    });
    // the remote the cache used is free again, the one it uses now is not
    await berth.remotes.remove('hub');
    expect((await refusal(berth.remotes.remove('local'))).code).toBe('REMOTE_IN_USE');
  });

  it('edit refuses bad input, naming the problem, and changes nothing', async () => {
    await berth.caches.add({ name: 'hub', remote: 'hub', prefix: 'cache/hub' });
    const before = await snapshot(berth, data);
    const cases: [string, Parameters<Berth['caches']['edit']>[1], string, RegExp][] = [
      ['nope', { checkSeconds: 1 }, 'CACHE_UNKNOWN', /cache nope does not exist/],
      ['hub', { checkSeconds: -1 }, 'PARAMETER_INVALID', /checkSeconds must be/],
      ['hub', { staleSeconds: 0.5 }, 'PARAMETER_INVALID', /staleSeconds must be/],
      ['hub', { retainDays: 0 }, 'PARAMETER_INVALID', /retainDays must be/],
      ['hub', { remote: 'nope' }, 'PARAMETER_INVALID', /remote nope does not exist/],
      [
        'hub',
        { prefix: 'cache/other', checkSeconds: 1 },
        'PARAMETER_INVALID',
        /prefix of cache hub \(cache\/hub\) cannot change/,
      ],
    ];
    for (const [name, changes, code, message] of cases) {
      const e = await refusal(berth.caches.edit(name, changes));
      expect([e.code, e.message], JSON.stringify(changes)).toEqual([code, expect.stringMatching(message)]);
    }
    expect(await snapshot(berth, data)).toEqual(before);
  });

  it('remove: the repositories it made stay as ordinary ones; its bookkeeping goes; unknown is CACHE_UNKNOWN', async () => {
    await berth.caches.add({ name: 'hub', remote: 'hub', prefix: 'cache/hub' });
    await commitVersion(db(), 'cache/hub/library/alpine', { create: true }, async () => []);
    await db().updateTable('repositories').set({ cache: 'hub' }).execute();
    const now = Date.now();
    await db()
      .insertInto('cache_tags')
      .values({
        repository: 'cache/hub/library/alpine',
        reference: '3',
        digest: 'sha256:x',
        checked_at: now,
        pulled_at: now,
      })
      .execute();
    await berth.caches.remove('hub');
    expect(await db().selectFrom('caches').selectAll().execute()).toEqual([]);
    expect(await db().selectFrom('cache_tags').selectAll().execute()).toEqual([]);
    expect(await db().selectFrom('repositories').select(['name', 'cache']).execute()).toEqual([
      { name: 'cache/hub/library/alpine', cache: null },
    ]);
    await expect(berth.caches.refusePush('cache/hub/library/alpine')).resolves.toBeUndefined();
    const e = await refusal(berth.caches.remove('hub'));
    expect([e.code, e.message]).toEqual([
      'CACHE_UNKNOWN',
      'cache hub does not exist (berth cache list shows the caches)',
    ]);
    expect((await refusal(berth.caches.show('nope'))).code).toBe('CACHE_UNKNOWN');
  });
});
