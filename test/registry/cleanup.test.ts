// Online cleanup: what it removes and keeps, dry runs, and the invariant under interleaved writers (both backends).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { startTestServer, http, type TestServer } from '../helpers/in-process.js';
import { sha } from '../helpers/images.js';
import { Registry, indexOf, ociImage } from './oci.js';
import { Keys } from '../../src/storage/cas.js';
import { withClaims } from '../../src/gc/claims.js';
import type { Digest } from '../../src/core/digest.js';
import { fileWithBytes, toContentAddress } from '../helpers/blob-layout.js';

let s: TestServer;
let reg: Registry;
beforeAll(async () => {
  s = await startTestServer('cleanup');
  reg = new Registry(s.url);
});
afterAll(async () => s?.close());

/** the file holding a blob's bytes (its upload's object, or its content address), or where it would be */
const fileOf = (d: string) =>
  fileWithBytes(join(s.data, 'store'), d as Digest) ??
  join(s.data, 'store', ...Keys.blob(d as Digest).split('/'));
const row = (d: string) =>
  s.berth.db.kysely.selectFrom('blobs').selectAll().where('digest', '=', d).executeTakeFirst();
const cleanup = (body: Record<string, unknown>) =>
  http('POST', `${s.url}/api/v1/cleanup`, JSON.stringify(body), { 'content-type': 'application/json' });

describe('cleanup', () => {
  it('keeps what only an older version refers to: history stays restorable', async () => {
    const img = ociImage({ n: 2 });
    await reg.pushImage('clean/a', img, 'v1');
    const del = await reg.req('DELETE', `/v2/clean/a/manifests/${img.digest}`);
    expect(del.status).toBe(202);
    expect((await reg.req('GET', `/v2/clean/a/manifests/${img.digest}`)).status).toBe(404);
    const r = (await cleanup({ protectionSeconds: 0 })).json();
    for (const d of [img.digest, ...img.blobs.map((b) => sha(b))]) {
      expect(r.digests).not.toContain(d);
      expect(existsSync(fileOf(d))).toBe(true);
      expect(await row(d)).toBeDefined();
    }
  });

  it('removes what falls out of the kept versions (retention), with its manifest rows; the rest stays', async () => {
    const old = ociImage({ n: 2 });
    const kept = ociImage({ layers: [old.layers[0]!] }); // shares one layer with the old image
    await reg.pushImage('clean/retain', old, 'v1');
    await reg.pushImage('clean/retain', kept, 'v2');
    expect((await reg.req('DELETE', `/v2/clean/retain/manifests/${old.digest}`)).status).toBe(202);
    const blobRemove = await reg.req('DELETE', `/v2/clean/retain/blobs/${sha(old.layers[1]!)}`);
    expect(blobRemove.status).toBe(202);
    const retain = await http(
      'PATCH',
      `${s.url}/api/v1/repositories/clean/retain`,
      JSON.stringify({ retainVersions: 1 }),
      { 'content-type': 'application/json' },
    );
    expect(retain.status, retain.body.toString()).toBe(200);
    const r = (await cleanup({ protectionSeconds: 0 })).json();
    expect(r.digests).toContain(old.digest);
    expect(r.digests).toContain(sha(old.layers[1]!));
    expect(r.removed.manifests).toBeGreaterThanOrEqual(1);
    expect(existsSync(fileOf(old.digest))).toBe(false);
    const m = await s.berth.db.kysely
      .selectFrom('manifests')
      .select('digest')
      .where('digest', '=', old.digest)
      .execute();
    expect(m).toEqual([]);
    // the shared layer and everything of the kept image stay, and still pull
    for (const d of [kept.digest, ...kept.blobs.map((b) => sha(b))]) {
      expect(r.digests).not.toContain(d);
      expect((await reg.req('GET', `/v2/clean/retain/blobs/${d}`)).status).toBe(200);
    }
  });

  it('keeps blobs referenced by any kept version, pending, claimed or younger than the protection', async () => {
    const img = ociImage({ n: 1 });
    await reg.pushImage('clean/keep', img, 'v1');
    const pendingOnly = Buffer.from(`pending ${Math.random()}`);
    await reg.pushBlob('clean/keep', pendingOnly);
    const r = (await cleanup({ protectionSeconds: 0 })).json();
    for (const d of [img.digest, ...img.blobs.map((b) => sha(b)), sha(pendingOnly)]) {
      expect(r.digests).not.toContain(d);
      expect(existsSync(fileOf(d))).toBe(true);
    }
  });

  it('removes a pushed blob whose pending claim lapsed; dry run first reports it and removes nothing', async () => {
    const orphan = Buffer.from(`orphan ${Math.random()}`);
    const d = await reg.pushBlob('clean/orphan', orphan);
    await s.berth.db.kysely.deleteFrom('pending_blobs').where('digest', '=', d).execute();
    // young: protected by the default hour
    expect((await cleanup({})).json().digests).not.toContain(d);
    const dry = (await cleanup({ dryRun: true, protectionSeconds: 0 })).json();
    expect(dry.dryRun).toBe(true);
    expect(dry.digests).toContain(d);
    expect(await row(d)).toBeDefined();
    expect(existsSync(fileOf(d))).toBe(true);
    const real = (await cleanup({ protectionSeconds: 0 })).json();
    expect(real.digests).toContain(d);
    expect(real.removed.bytes).toBeGreaterThanOrEqual(orphan.length);
    expect(await row(d)).toBeUndefined();
    expect(existsSync(fileOf(d))).toBe(false);
    const head = await reg.req('HEAD', `/v2/clean/orphan/blobs/${d}`);
    expect(head.status).toBe(404);
  });

  it('never removes a claimed blob', async () => {
    const b = Buffer.from(`claimed ${Math.random()}`);
    const d = await reg.pushBlob('clean/claimed', b);
    await s.berth.db.kysely.deleteFrom('pending_blobs').where('digest', '=', d).execute();
    await withClaims(s.berth.db.kysely, [d], async () => {
      const r = (await cleanup({ protectionSeconds: 0 })).json();
      expect(r.digests).not.toContain(d);
    });
    expect((await cleanup({ protectionSeconds: 0 })).json().digests).toContain(d);
  });

  it('a blob re-uploaded while its old copy is being removed ends up present (writer interleaved after the decision)', async () => {
    const b = Buffer.from(`re-upload ${Math.random()}`);
    const d = await reg.pushBlob('clean/race', b);
    await s.berth.db.kysely.deleteFrom('pending_blobs').where('digest', '=', d).execute();
    const old = (await row(d))!.object_key!;
    expect(old).toMatch(/^objects\//);
    let interleaved = false;
    const report = await s.berth.cleanup.run({
      protectionSeconds: 0,
      afterDecision: async (digests) => {
        if (!digests.includes(d as Digest)) return;
        interleaved = true;
        // the row is gone, the file not yet: a client pushes the same bytes now
        await reg.pushBlob('clean/race', b);
      },
    });
    expect(interleaved).toBe(true);
    expect(report.digests).toContain(d);
    // the re-upload mapped its own object (no trash needed): the old one went, the new one is the blob's
    expect((await row(d))?.object_key).toMatch(/^objects\//);
    expect((await row(d))?.object_key).not.toBe(old);
    expect(existsSync(join(s.data, 'store', ...old.split('/')))).toBe(false);
    expect(existsSync(fileOf(d))).toBe(true);
    const get = await reg.req('GET', `/v2/clean/race/blobs/${d}`);
    expect(get.status).toBe(200);
    expect(get.body.equals(b)).toBe(true);
  });

  it('a writer that claimed before the file is let go, and commits after cleanup ended, keeps its blob', async () => {
    const b = Buffer.from(`late writer ${Math.random()}`);
    const d = await reg.pushBlob('clean/late', b);
    // at its content address, as an older berth stored it (and archives and syncs still do): let go through trash/
    await toContentAddress(s.berth.db.kysely, s.berth.store, d as Digest);
    await s.berth.db.kysely.deleteFrom('pending_blobs').where('digest', '=', d).execute();
    let release!: () => void;
    let claimed!: Promise<void>;
    const writerDone = new Promise<void>((resolve) => (release = resolve));
    await s.berth.cleanup.run({
      protectionSeconds: 0,
      afterDecision: async (digests) => {
        if (!digests.includes(d as Digest)) return;
        // a writer claims now and holds the claim past the cleanup's end, then commits
        claimed = new Promise<void>((ok) => {
          void withClaims(s.berth.db.kysely, [d], async () => {
            ok();
            await writerDone;
          });
        });
        await claimed;
      },
    });
    expect(existsSync(fileOf(d))).toBe(true); // put back: it was claimed when the cleanup let go of it
    release();
  });

  it('a sparse index keeps only what its repository holds; its absent children are no fault for cleanup or fsck', async () => {
    const repo = 'clean/sparse';
    const present = ociImage({ n: 1 });
    const elsewhere = ociImage({ n: 1 }); // held by another repository only, which lets go of it
    await reg.pushImage(repo, present, 'v1');
    await reg.pushImage('clean/sparse-src', elsewhere, 'v1');
    const idx = indexOf([present, elsewhere]);
    await reg.pushImage(repo, idx, 'idx');
    expect((await reg.req('DELETE', `/v2/clean/sparse-src/manifests/${elsewhere.digest}`)).status).toBe(202);
    const retain = await http(
      'PATCH',
      `${s.url}/api/v1/repositories/clean/sparse-src`,
      JSON.stringify({ retainVersions: 1 }),
      { 'content-type': 'application/json' },
    );
    expect(retain.status, retain.body.toString()).toBe(200);
    const r = (await cleanup({ protectionSeconds: 0 })).json();
    expect(r.digests).toContain(elsewhere.digest); // the index naming it does not keep it
    expect(existsSync(fileOf(elsewhere.digest))).toBe(false);
    for (const d of [idx.digest, present.digest, ...present.blobs.map((b) => sha(b))]) {
      expect(r.digests).not.toContain(d);
      expect(existsSync(fileOf(d))).toBe(true);
    }
    expect((await reg.req('GET', `/v2/${repo}/manifests/idx`)).status).toBe(200);
    expect((await reg.req('GET', `/v2/${repo}/manifests/${present.digest}`)).status).toBe(200);
    expect((await reg.req('GET', `/v2/${repo}/manifests/${elsewhere.digest}`)).status).toBe(404);
    const ours = new Set([idx.digest, present.digest, elsewhere.digest, ...present.blobs.map((b) => sha(b))]);
    for (const repair of [false, true]) {
      const report = await s.berth.fsck.run({ repair });
      expect(report.problems.filter((p) => p.digest && ours.has(p.digest))).toEqual([]);
    }
    expect(await row(elsewhere.digest)).toBeUndefined(); // repair recorded no "missing" row for the child
  });

  it('bad input: 400 PARAMETER_INVALID naming the field', async () => {
    const r = await cleanup({ protectionSeconds: -1 });
    expect(r.status).toBe(400);
    expect(r.json().errors[0].code).toBe('PARAMETER_INVALID');
    expect(JSON.stringify(r.json().errors[0].detail)).toContain('protectionSeconds');
    expect((await cleanup({ bogus: 1 })).status).toBe(400);
  });
});
