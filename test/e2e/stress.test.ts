// The cleanup invariant under load: skopeo pushes, archive uploads (partial ones too), cross-repository mounts of
// what is being deleted from its source, tag and manifest deletes and re-pushes, and cleanup with protection 0 in a
// loop, removing unreferenced blobs and (--untagged-after 0) untagged manifests from the repositories, at once; then
// every tag pulls, every blob verifies, fsck is clean, and every cleanup round removed something.
// BERTH_STRESS_SECONDS sets how long the load runs (default 10; run it longer by hand).
import { afterAll, beforeAll, describe, expect } from 'vitest';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { hasCommand, selectedBackend, skipUnless, testDatabaseUrl } from '../helpers/backend.js';
import { dirImage, sha, tarOf, hex } from '../helpers/images.js';
import { buildLayout } from '../helpers/oci-layout.js';
import { http } from '../helpers/in-process.js';
import { BIN, skopeo, startRealServer, type RealServer } from '../helpers/real-server.js';

const it = skipUnless(hasCommand('skopeo'), 'skopeo is not installed (apt-get install skopeo)');
const SECONDS = Number(process.env.BERTH_STRESS_SECONDS ?? 10);
const REPOS = ['stress/a', 'stress/b', 'stress/c'];
const IMAGES = 6;

let s: RealServer;
/** On PostgreSQL a second berth process shares the database and the store: the load goes to both. */
const servers: RealServer[] = [];
const any = (): RealServer => pick(servers);
let work: string;
let database: string;
beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'stress-'));
  database = await testDatabaseUrl('stress');
  // untagged manifests go as soon as cleanup runs: the server default on every process
  const args = ['--untagged-after', '0'];
  s = await startRealServer('stress', { data: join(work, 'data'), database, args });
  servers.push(s);
  if (selectedBackend() === 'postgres')
    servers.push(await startRealServer('stress2', { data: join(work, 'data'), database, args }));
});
afterAll(async () => {
  for (const t of servers.slice(1)) await t.stop();
  await s?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

const pick = <T>(xs: T[]): T => xs[Math.floor(Math.random() * xs.length)]!;

describe('stress: pushes, uploads, deletes and cleanup at once', () => {
  it(`runs for ${SECONDS} s and loses nothing`, async () => {
    const layout = join(work, 'layout');
    await buildLayout(layout, IMAGES);
    // archive material: fresh full images sharing a base layer, and a partial one leaving the base out
    const baseLayer = randomBytes(20 * 1024);
    const freshFull = () => tarOf(dirImage({ layers: [baseLayer, randomBytes(2048)] }).entries);
    const partialImg = dirImage({ layers: [baseLayer, randomBytes(2048)] });
    const partial = await tarOf(partialImg.entries.filter((e) => e.name !== hex(sha(baseLayer))));
    for (const r of REPOS) {
      const up = await http(
        'POST',
        `${s.url}/api/v1/repositories/${r}/-/archives?tag=seed`,
        await freshFull(),
      );
      expect(up.status).toBe(201);
      const retain = await http(
        'PATCH',
        `${s.url}/api/v1/repositories/${r}`,
        JSON.stringify({ retainVersions: 2 }),
        {
          'content-type': 'application/json',
        },
      );
      expect(retain.status).toBe(200);
    }
    const counts = {
      pushes: 0,
      uploads: 0,
      partials: 0,
      partialsRefused: 0,
      tagDeletes: 0,
      manifestDeletes: 0,
      blobDeletes: 0,
      blobDeletesRefused: 0,
      mounts: 0,
      mountPushes: 0,
      mountPushesRefused: 0,
      pushesRefused: 0,
      /** manifests deleted whose own blobs the client left to cleanup */
      leftToCleanup: 0,
      cleanups: 0,
      removed: 0,
      unreferenced: 0,
      untagged: 0,
    };
    /** per cleanup round: blobs deleted, blobs taken out of repositories' latest versions, untagged manifests */
    const rounds: { removed: number; unreferenced: number; untagged: number }[] = [];
    const failures: string[] = [];
    /**
     * A skopeo push. skopeo asks whether each blob exists (HEAD) before it sends the manifest: a blob that its image's
     * tag delete and cleanup (protection 0) made unreferenced can leave the repository in between, and the manifest
     * is then refused (MANIFEST_BLOB_UNKNOWN, nothing committed); counted apart, as in production only a blob pushed
     * longer ago than the protection time can be taken so.
     */
    const push = async (from: string, to: string) => {
      try {
        await skopeo('copy', '--quiet', '--dest-tls-verify=false', from, to);
        counts.pushes++;
      } catch (e) {
        if (!/manifest blob unknown|MANIFEST_BLOB_UNKNOWN/i.test((e as Error).message)) throw e;
        counts.pushesRefused++;
      }
    };
    const deadline = Date.now() + SECONDS * 1000;
    const loop = async (fn: () => Promise<void>) => {
      while (Date.now() < deadline && failures.length < 50) {
        try {
          await fn();
        } catch (e) {
          failures.push(String((e as Error).message).slice(0, 500));
        }
      }
    };
    await Promise.all([
      loop(async () => {
        const i = Math.floor(Math.random() * IMAGES);
        await push(`oci:${layout}:img${i}`, `docker://${any().hostPort}/${pick(REPOS)}:t${i}`);
      }),
      loop(async () => {
        await push(`oci:${layout}:img0`, `docker://${any().hostPort}/${pick(REPOS)}:again`);
      }),
      loop(async () => {
        const r = pick(REPOS);
        const full = await http(
          'POST',
          `${any().url}/api/v1/repositories/${r}/-/archives?tag=u${counts.uploads % 3}`,
          await freshFull(),
        );
        if (full.status !== 201) throw new Error(`archive upload answered ${full.status}: ${full.body}`);
        counts.uploads++;
        const part = await http(
          'POST',
          `${any().url}/api/v1/repositories/${r}/-/archives?tag=partial`,
          partial,
        );
        // refused only when the base layer fell out of the repository's latest version meanwhile
        if (part.status === 201) counts.partials++;
        else if (part.status === 404 && part.json().errors[0].code === 'BLOB_UNKNOWN')
          counts.partialsRefused++;
        else throw new Error(`partial upload answered ${part.status}: ${part.body}`);
      }),
      loop(async () => {
        // an uploaded image goes: its manifest by digest, then the blobs only it had (the base layer stays)
        const r = pick(REPOS);
        const m = await http('GET', `${any().url}/v2/${r}/manifests/u${Math.floor(Math.random() * 3)}`);
        if (m.status === 200) {
          const digest = m.headers['docker-content-digest'];
          const del = await http('DELETE', `${any().url}/v2/${r}/manifests/${digest}`);
          // one time in four the client deletes the blobs only it had; else cleanup takes them (unreferenced)
          const clientDeletes = Math.random() < 0.25;
          if (del.status === 202) {
            counts.manifestDeletes++;
            if (!clientDeletes) counts.leftToCleanup++;
          } else if (del.status !== 404)
            throw new Error(`manifest delete answered ${del.status}: ${del.body}`);
          const json = m.json();
          const blobs = clientDeletes ? [json.config, ...json.layers] : [];
          for (const d of blobs.map((x: { digest: string }) => x.digest)) {
            if (d === sha(baseLayer)) continue;
            const b = await http('DELETE', `${any().url}/v2/${r}/blobs/${d}`);
            if (b.status === 202) counts.blobDeletes++;
            // refused while a manifest of the latest version needs it (the image was uploaded again meanwhile)
            else if (b.status === 405 && b.json().errors[0].code === 'DENIED') counts.blobDeletesRefused++;
            else if (b.status !== 404) throw new Error(`blob delete answered ${b.status}: ${b.body}`);
          }
        }
        // and a skopeo tag goes, to be pushed again
        const t = await http(
          'DELETE',
          `${any().url}/v2/${pick(REPOS)}/manifests/t${Math.floor(Math.random() * IMAGES)}`,
        );
        if (t.status === 202) counts.tagDeletes++;
        await new Promise((res) => setTimeout(res, 10));
      }),
      loop(async () => {
        // an uploaded image is mounted into another repository, blob by blob, and its manifest pushed there, while
        // the loop above deletes it from the source and cleanup runs: the push must then either commit blobs that
        // stay readable, or be refused because a blob is no longer the destination's
        const from = pick(REPOS);
        const to = pick(REPOS.filter((r) => r !== from));
        const k = Math.floor(Math.random() * 3);
        const m = await http('GET', `${any().url}/v2/${from}/manifests/u${k}`);
        if (m.status !== 200) return;
        const json = m.json();
        for (const d of [json.config, ...json.layers].map((x: { digest: string }) => x.digest)) {
          const r = await http('POST', `${any().url}/v2/${to}/blobs/uploads/?mount=${d}&from=${from}`);
          if (r.status === 201) {
            counts.mounts++;
            continue;
          }
          if (r.status !== 202) throw new Error(`mount answered ${r.status}: ${r.body}`);
          await http('DELETE', new URL(String(r.headers.location), any().url).toString());
          return; // the source lost it meanwhile: the client would upload it
        }
        const put = await http('PUT', `${any().url}/v2/${to}/manifests/m${k}`, m.body, {
          'content-type': String(m.headers['content-type']),
        });
        if (put.status === 201) counts.mountPushes++;
        else if (put.status === 400 && put.json().errors[0].code === 'MANIFEST_BLOB_UNKNOWN')
          counts.mountPushesRefused++;
        else throw new Error(`push of a mounted image answered ${put.status}: ${put.body}`);
      }),
      loop(async () => {
        // a round after each manifest delete whose blobs the client left (so that each round has something to take)
        const deletes = counts.leftToCleanup;
        while (counts.leftToCleanup === deletes && Date.now() < deadline)
          await new Promise((res) => setTimeout(res, 20));
        if (Date.now() >= deadline) return;
        const c = await http(
          'POST',
          `${any().url}/api/v1/cleanup`,
          JSON.stringify({ protectionSeconds: 0 }),
          {
            'content-type': 'application/json',
          },
        );
        if (c.status !== 200) throw new Error(`cleanup answered ${c.status}: ${c.body}`);
        const report = c.json();
        const round = {
          removed: report.removed.blobs,
          unreferenced: report.repositories.reduce((n: number, r: { blobs: number }) => n + r.blobs, 0),
          untagged: report.repositories.reduce((n: number, r: { manifests: number }) => n + r.manifests, 0),
        };
        rounds.push(round);
        counts.cleanups++;
        counts.removed += round.removed;
        counts.unreferenced += round.unreferenced;
        counts.untagged += round.untagged;
      }),
    ]);
    // afterwards: every tag of every repository pulls with skopeo, and every blob of its manifest verifies
    let tagsPulled = 0;
    let blobsVerified = 0;
    const lost: string[] = [];
    for (const r of REPOS) {
      const tags: string[] = (await http('GET', `${s.url}/v2/${r}/tags/list`)).json().tags;
      for (const t of tags) {
        try {
          await skopeo(
            'copy',
            '--quiet',
            '--src-tls-verify=false',
            `docker://${s.hostPort}/${r}:${t}`,
            `oci:${join(work, 'pulled')}:${r.replace('/', '-')}-${t}`,
          );
          tagsPulled++;
        } catch (e) {
          lost.push(`${r}:${t} does not pull: ${(e as Error).message.slice(0, 300)}`);
        }
        const m = await http('GET', `${s.url}/v2/${r}/manifests/${t}`, undefined, {
          accept: 'application/vnd.oci.image.manifest.v1+json',
        });
        const manifest = m.json();
        for (const d of [manifest.config, ...manifest.layers].map((x: { digest: string }) => x.digest)) {
          const b = await http('GET', `${s.url}/v2/${r}/blobs/${d}`);
          if (b.status !== 200 || sha(b.body) !== d) lost.push(`${r}:${t} blob ${d}: ${b.status}`);
          else blobsVerified++;
        }
      }
    }
    const fsck = await promisify(execFile)(process.execPath, [
      BIN,
      'fsck',
      '--data',
      join(work, 'data'),
      '--database',
      database,
      '--json',
    ]).then(
      (r) => ({ code: 0, out: r.stdout }),
      (e: { code?: number; stdout?: string }) => ({ code: e.code ?? 1, out: e.stdout ?? '' }),
    );
    console.log(
      `stress ${SECONDS} s, ${servers.length} process(es): ${JSON.stringify(counts)}; afterwards ${tagsPulled} tags pulled, ${blobsVerified} blobs verified, ` +
        `${lost.length} lost; fsck exit ${fsck.code}; ${failures.length} operation failures; ` +
        `cleanup rounds (blobs deleted/unreferenced blobs taken/untagged manifests taken): ` +
        rounds.map((r) => `${r.removed}/${r.unreferenced}/${r.untagged}`).join(' '),
    );
    expect(failures).toEqual([]);
    expect(lost).toEqual([]);
    expect(counts.pushes).toBeGreaterThan(0);
    expect(counts.uploads).toBeGreaterThan(0);
    expect(counts.cleanups).toBeGreaterThan(0);
    expect(counts.removed).toBeGreaterThan(0);
    expect(counts.unreferenced).toBeGreaterThan(0);
    expect(counts.untagged).toBeGreaterThan(0);
    // every round (each after a manifest delete that left its blobs) took unreferenced blobs out of a repository
    const idle = rounds.filter((r) => r.unreferenced === 0);
    expect(idle.length, `rounds that took no unreferenced blob: ${idle.length} of ${rounds.length}`).toBe(0);
    expect(counts.mounts).toBeGreaterThan(0);
    expect(fsck.code, fsck.out).toBe(0);
  }, 300_000);
});
