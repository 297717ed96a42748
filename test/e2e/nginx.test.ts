// Several `berth serve` processes on one PostgreSQL database and one data dir (with its store: files, or one bucket
// under BERTH_TEST_STORE=s3) behind nginx (round robin): skopeo pushes and pulls, chunked uploads whose chunks land on
// different processes, archive uploads, deletes and cleanup at once; then a process is SIGKILLed mid-run and clients
// retry through nginx. Every tag pulls after, fsck is clean.
// BERTH_NGINX_PROCESSES (default 2) sets the number of processes, BERTH_NGINX_SECONDS (default 8) each part's load.
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  describeUnless,
  dropSchema,
  hasCommand,
  selectedBackend,
  testDatabaseUrl,
} from '../helpers/backend.js';
import { dirImage, sha, tarOf } from '../helpers/images.js';
import { http, type HttpResult } from '../helpers/in-process.js';
import { nginxBinary, startNginx, type Nginx } from '../helpers/nginx.js';
import { buildLayout } from '../helpers/oci-layout.js';
import { BIN, run, startRealServer, type RealServer } from '../helpers/real-server.js';
import { releaseDataStore, storeArgs } from '../helpers/data-store.js';
import { parseMetrics, valueOf } from '../http/prometheus.js';

const PROCESSES = Math.max(2, Number(process.env.BERTH_NGINX_PROCESSES ?? 2));
const SECONDS = Number(process.env.BERTH_NGINX_SECONDS ?? 8);
const CLEANUP_INTERVAL = 3;
const IMAGES = 4;
const NGINX = nginxBinary();
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
/** what a tag may hold when it may be gone */
const ABSENT = 'absent';

const suite: (name: string, body: () => void) => void =
  selectedBackend() !== 'postgres'
    ? (name, body) =>
        describe.skip(
          `${name} [skipped: several processes share a database only on PostgreSQL: run with BERTH_TEST_DATABASE=postgres]`,
          body,
        )
    : describeUnless(
        hasCommand('skopeo') && NGINX !== null,
        hasCommand('skopeo')
          ? 'nginx is not installed (apt-get install nginx)'
          : 'skopeo is not installed (apt-get install skopeo)',
      );

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const rand = (n: number) => Math.floor(Math.random() * n);

suite(`${PROCESSES} berth processes behind nginx`, () => {
  let work: string;
  let data: string;
  let database: string;
  const password = randomBytes(12).toString('hex');
  const servers: RealServer[] = [];
  const dead = new Set<RealServer>();
  let nginx: Nginx;
  let layout: string;
  let digests: string[];

  const creds = () => `admin:${password}`;
  const auth = () => ({ authorization: `Basic ${Buffer.from(creds()).toString('base64')}` });
  /** A request through nginx; `path` may be a Location header. */
  const req = (
    method: string,
    path: string,
    body?: Buffer | string | Readable,
    headers: Record<string, string> = {},
  ) => {
    const u = new URL(path, nginx.url);
    return http(method, `${nginx.url}${u.pathname}${u.search}`, body, { ...auth(), ...headers });
  };
  const skopeo = (...args: string[]) => run('skopeo', args);
  const alive = () => servers.filter((s) => !dead.has(s));

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'nginx-'));
    data = join(work, 'data');
    for (const d of ['pulls', 'verify']) mkdirSync(join(work, d));
    database = await testDatabaseUrl('nginx');
    // credentials are ignored until authentication lands; then the first start creates `admin`
    const start = (i: number) =>
      startRealServer(`nginx${i}`, {
        data,
        database,
        // nginx connects from 127.0.0.1: its X-Forwarded-For is trusted, as docs/deploy.md says
        args: [
          '--cleanup-interval',
          String(CLEANUP_INTERVAL),
          '--cleanup-protection',
          '0',
          '--trust-proxy',
          '127.0.0.1',
        ],
        env: { BERTH_ADMIN_PASSWORD: password, BERTH_LOG_LEVEL: 'info' },
      });
    servers.push(await start(0)); // migrates the database first
    servers.push(...(await Promise.all(Array.from({ length: PROCESSES - 1 }, (_, i) => start(i + 1)))));
    nginx = await startNginx(
      NGINX!,
      join(work, 'nginx'),
      servers.map((s) => s.hostPort),
    );
    layout = join(work, 'layout');
    digests = await buildLayout(layout, IMAGES);
    // pinned images: pushed once, never changed, pulled all along
    await Promise.all(
      digests.map((_, k) =>
        skopeo(
          'copy',
          '--quiet',
          '--dest-tls-verify=false',
          '--dest-creds',
          creds(),
          `oci:${layout}:img${k}`,
          `docker://${nginx.hostPort}/nginx/pinned:img${k}`,
        ),
      ),
    );
    // the repositories the load changes keep 2 versions, so that overwritten and deleted content becomes garbage
    await push(0, 0);
    await chunked(0);
    await archive(0);
    for (const repo of ['nginx/push', 'nginx/chunked', 'nginx/archive']) {
      const r = await req('PATCH', `/api/v1/repositories/${repo}`, JSON.stringify({ retainVersions: 2 }), {
        'content-type': 'application/json',
      });
      expectStatus(r, 200, `PATCH ${repo}`);
    }
  }, 120_000);

  afterAll(async () => {
    await nginx?.stop();
    for (const s of servers) await s.stop();
    if (database) await dropSchema(database);
    if (work) rmSync(work, { recursive: true, force: true });
    if (data) await releaseDataStore(data);
  });

  /** What each tag (`repo:tag`) may hold: a digest once a change is known to be committed, more when in doubt. */
  const expected = new Map<string, Set<string>>();
  const committed = (key: string, digest: string) => expected.set(key, new Set([digest]));
  /** A change that failed may or may not have been committed. */
  const inDoubt = (key: string, digest: string) =>
    expected.set(key, new Set([...(expected.get(key) ?? [ABSENT]), digest]));

  const counts = {
    pushes: 0,
    pulls: 0,
    chunkedUploads: 0,
    archiveUploads: 0,
    slowUploads: 0,
    tagDeletes: 0,
    manifestDeletes: 0,
    blobDeletes: 0,
    cleanups: 0,
    cleanupRemoved: 0,
    retries: 0,
  };
  const sessions: string[] = [];

  const expectStatus = (r: HttpResult, status: number, what: string) => {
    if (r.status !== status)
      throw new Error(`${what} answered ${r.status}: ${r.body.toString().slice(0, 300)}`);
  };

  /** skopeo push of a layout image to nginx/push:w<w>-<0..2>; every third time, a tag of this pusher goes. */
  async function push(w: number, i: number): Promise<void> {
    const k = rand(IMAGES);
    const key = `nginx/push:w${w}-${i % 3}`;
    try {
      await skopeo(
        'copy',
        '--quiet',
        '--dest-tls-verify=false',
        '--dest-creds',
        creds(),
        `oci:${layout}:img${k}`,
        `docker://${nginx.hostPort}/${key}`,
      );
    } catch (e) {
      inDoubt(key, digests[k]!);
      throw e;
    }
    committed(key, digests[k]!);
    counts.pushes++;
    if (i % 3 !== 2) return;
    const gone = `nginx/push:w${w}-${(i + 1) % 3}`;
    const r = await req('DELETE', `/v2/nginx/push/manifests/${gone.split(':')[1]}`).catch((e: unknown) => {
      inDoubt(gone, ABSENT);
      throw e;
    });
    if (r.status === 202) {
      committed(gone, ABSENT);
      counts.tagDeletes++;
    } else if (r.status === 404) {
      if (!(expected.get(gone)?.has(ABSENT) ?? true))
        throw new Error(`DELETE of ${gone}, committed, said 404`);
    } else {
      inDoubt(gone, ABSENT);
      expectStatus(r, 202, `DELETE ${gone}`);
    }
  }

  /** skopeo pull of a pinned image; its manifest must be the one pushed. */
  async function pullPinned(): Promise<void> {
    const k = rand(IMAGES);
    const dir = join(work, 'pulls', randomUUID());
    try {
      await skopeo(
        'copy',
        '--quiet',
        '--src-tls-verify=false',
        '--src-creds',
        creds(),
        `docker://${nginx.hostPort}/nginx/pinned:img${k}`,
        `dir:${dir}`,
      );
      const got = sha(readFileSync(join(dir, 'manifest.json')));
      if (got !== digests[k])
        throw new Error(`nginx/pinned:img${k} pulled as ${got}, pushed as ${digests[k]}`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    counts.pulls++;
  }

  /** A layer pushed in 4 chunks (POST, PATCH ×4, PUT), its config, and a manifest tagged nginx/chunked:c<0..2>. */
  async function chunked(i: number): Promise<void> {
    const key = `nginx/chunked:c${i % 3}`;
    const layer = randomBytes(96 * 1024);
    const start = await req('POST', '/v2/nginx/chunked/blobs/uploads/');
    expectStatus(start, 202, 'POST blobs/uploads/');
    let location = String(start.headers.location);
    sessions.push(location.split('/').pop()!.split('?')[0]!);
    for (let at = 0; at < layer.length; at += layer.length / 4) {
      const chunk = layer.subarray(at, at + layer.length / 4);
      const r = await req('PATCH', location, chunk, {
        'content-type': 'application/octet-stream',
        'content-range': `${at}-${at + chunk.length - 1}`,
      });
      expectStatus(r, 202, 'PATCH');
      location = String(r.headers.location);
    }
    const put = await req('PUT', `${location}${location.includes('?') ? '&' : '?'}digest=${sha(layer)}`);
    expectStatus(put, 201, 'PUT (finishing the chunked upload)');
    const config = Buffer.from(
      JSON.stringify({
        architecture: 'amd64',
        os: 'linux',
        rootfs: { type: 'layers', diff_ids: [sha(layer)] },
      }),
    );
    const cfg = await req('POST', `/v2/nginx/chunked/blobs/uploads/?digest=${sha(config)}`, config, {
      'content-type': 'application/octet-stream',
    });
    expectStatus(cfg, 201, 'POST config');
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        config: {
          mediaType: 'application/vnd.oci.image.config.v1+json',
          digest: sha(config),
          size: config.length,
        },
        layers: [
          { mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: sha(layer), size: layer.length },
        ],
      }),
    );
    try {
      const m = await req('PUT', `/v2/nginx/chunked/manifests/${key.split(':')[1]}`, manifest, {
        'content-type': OCI_MANIFEST,
      });
      expectStatus(m, 201, 'PUT manifest');
    } catch (e) {
      inDoubt(key, sha(manifest));
      throw e;
    }
    committed(key, sha(manifest));
    counts.chunkedUploads++;
  }

  /** An archive upload tagged nginx/archive:a<0..2>; every third one is deleted again, with its blobs. */
  async function archive(i: number): Promise<void> {
    const key = `nginx/archive:a${i % 3}`;
    const img = dirImage({ n: 2 });
    const tar = await tarOf(img.entries);
    try {
      const r = await req(
        'POST',
        `/api/v1/repositories/nginx/archive/-/archives?tag=${key.split(':')[1]}`,
        tar,
        {
          'content-type': 'application/x-tar',
        },
      );
      expectStatus(r, 201, 'archive upload');
      const made = r.json().manifests[0].digest;
      if (made !== img.digest) throw new Error(`archive upload made ${made}, not ${img.digest}`);
    } catch (e) {
      inDoubt(key, img.digest);
      throw e;
    }
    committed(key, img.digest);
    counts.archiveUploads++;
    if (i % 3 !== 2) return;
    // only this tag names this (random) image
    const del = await req('DELETE', `/v2/nginx/archive/manifests/${img.digest}`).catch((e: unknown) => {
      inDoubt(key, ABSENT);
      throw e;
    });
    if (del.status !== 202) inDoubt(key, ABSENT);
    expectStatus(del, 202, 'DELETE manifest by digest');
    committed(key, ABSENT);
    counts.manifestDeletes++;
    for (const d of [sha(img.config), ...img.layerDigests]) {
      const b = await req('DELETE', `/v2/nginx/archive/blobs/${d}`);
      if (b.status === 202) counts.blobDeletes++;
      else if (b.status !== 404) expectStatus(b, 202, 'DELETE blob');
    }
  }

  /** An archive with a 1 MiB layer, streamed slowly (64 KiB every 40 ms) to nginx/slow:TAG: long enough to cut off. */
  async function slowArchive(tag: string): Promise<void> {
    const key = `nginx/slow:${tag}`;
    const img = dirImage({ layers: [randomBytes(1024 * 1024)] });
    const tar = await tarOf(img.entries);
    const body = Readable.from(
      (async function* () {
        for (let at = 0; at < tar.length; at += 64 * 1024) {
          yield tar.subarray(at, at + 64 * 1024);
          await sleep(40);
        }
      })(),
    );
    try {
      const r = await req('POST', `/api/v1/repositories/nginx/slow/-/archives?tag=${tag}`, body, {
        'content-type': 'application/x-tar',
      });
      expectStatus(r, 201, 'slow archive upload');
    } catch (e) {
      inDoubt(key, img.digest);
      throw e;
    }
    committed(key, img.digest);
    counts.slowUploads++;
  }

  /** Watches a server's log: how many requests whose URL contains `url` it has begun and not yet answered. */
  function requestsInFlight(s: RealServer, url: string): () => number {
    let seen = s.output().length;
    const open = new Set<string>();
    return () => {
      const text = s.output();
      const lines = text.slice(seen, text.lastIndexOf('\n') + 1);
      seen += lines.length;
      for (const line of lines.split('\n')) {
        const id = /"reqId":"([^"]+)"/.exec(line)?.[1];
        if (!id) continue;
        if (line.includes('"msg":"incoming request"') && line.includes(url)) open.add(id);
        else if (line.includes('"msg":"request completed"')) open.delete(id);
      }
      return open.size;
    };
  }

  /** `berth cleanup` at protection 0, straight to the first process (not through nginx). */
  async function cleanup(): Promise<void> {
    const out = (await run(
      process.execPath,
      [BIN, 'cleanup', '--protection', '0', '--json', '--server', servers[0]!.url],
      { env: { ...process.env, BERTH_USERNAME: 'admin', BERTH_PASSWORD: password } },
    )) as string;
    counts.cleanups++;
    counts.cleanupRemoved += JSON.parse(out).removed.blobs;
    await sleep(300);
  }

  /** Runs every kind of operation at once for `seconds`; failed operations are retried up to `retries` times. */
  /** Operations that fail are retried up to `retries` times; what still fails is a failure of the test. */
  function runner(retries: number) {
    const failures: string[] = [];
    const attempt = async (op: () => Promise<void>) => {
      for (let a = 0; ; a++) {
        try {
          return await op();
        } catch (e) {
          if (a >= retries) throw e;
          counts.retries++;
          await sleep(200 * (a + 1));
        }
      }
    };
    const guard = (p: Promise<void>) =>
      p.catch((e: unknown) => void failures.push(String((e as Error).message).slice(0, 500)));
    return { failures, attempt, guard };
  }

  /** Runs every kind of operation at once for `seconds`, and `meanwhile` beside them. */
  async function load(
    seconds: number,
    r: ReturnType<typeof runner>,
    meanwhile?: Promise<void>,
  ): Promise<void> {
    const deadline = Date.now() + seconds * 1000;
    const loop = async (op: (i: number) => Promise<void>) => {
      for (let i = 0; Date.now() < deadline && r.failures.length < 20; i++)
        await r.guard(r.attempt(() => op(i)));
    };
    await Promise.all([
      loop((i) => push(0, i)),
      loop((i) => push(1, i)),
      loop(() => pullPinned()),
      loop((i) => chunked(i)),
      loop((i) => archive(i)),
      loop(() => cleanup()),
      meanwhile,
    ]);
  }

  /** Every tag of every repository pulls with skopeo through nginx, as expected; every blob verifies; fsck is clean. */
  async function verify(
    retries: number,
  ): Promise<{ tagsPulled: number; blobsVerified: number; problems: string[] }> {
    let tagsPulled = 0;
    let blobsVerified = 0;
    const problems: string[] = [];
    const pinned = new Map(digests.map((d, k) => [`nginx/pinned:img${k}`, new Set([d])]));
    for (const repo of ['nginx/pinned', 'nginx/push', 'nginx/chunked', 'nginx/archive', 'nginx/slow']) {
      const list = await req('GET', `/v2/${repo}/tags/list`);
      // (nginx/slow is made in the second part only)
      if (list.status !== 404) expectStatus(list, 200, `tags of ${repo}`);
      const tags: string[] = list.status === 404 ? [] : list.json().tags;
      for (const tag of tags) {
        const key = `${repo}:${tag}`;
        const allowed = pinned.get(key) ?? expected.get(key);
        const dir = join(work, 'verify', randomUUID());
        let pulled: Buffer | undefined;
        for (let a = 0; a <= retries && !pulled; a++) {
          try {
            await skopeo(
              'copy',
              '--quiet',
              '--src-tls-verify=false',
              '--src-creds',
              creds(),
              `docker://${nginx.hostPort}/${key}`,
              `dir:${dir}`,
            );
            pulled = readFileSync(join(dir, 'manifest.json'));
          } catch (e) {
            if (a === retries) problems.push(`${key} does not pull: ${(e as Error).message.slice(0, 300)}`);
            else counts.retries++;
          }
        }
        rmSync(dir, { recursive: true, force: true });
        if (!pulled) continue;
        tagsPulled++;
        if (!allowed) problems.push(`${key}: a tag no one pushed`);
        else if (!allowed.has(sha(pulled)))
          problems.push(`${key} is ${sha(pulled)}, not one of ${[...allowed]}`);
        const m = JSON.parse(pulled.toString());
        for (const d of [m.config, ...m.layers].map((x: { digest: string }) => x.digest)) {
          const b = await req('GET', `/v2/${repo}/blobs/${d}`);
          if (b.status !== 200 || sha(b.body) !== d) problems.push(`${key} blob ${d}: ${b.status}`);
          else blobsVerified++;
        }
      }
      for (const [key, allowed] of [...pinned, ...expected]) {
        if (key.startsWith(`${repo}:`) && !tags.includes(key.split(':')[1]!) && !allowed.has(ABSENT))
          problems.push(`${key} was committed and is gone`);
      }
    }
    const args = ['fsck', '--data', data, '--database', database, ...(await storeArgs(data))];
    const fsck = await run(process.execPath, [BIN, ...args]).then(
      () => '',
      (e: Error) => e.message,
    );
    if (fsck) problems.push(`fsck: ${fsck.slice(0, 1000)}`);
    return { tagsPulled, blobsVerified, problems };
  }

  /** The /metrics samples of every live process. */
  const scrapeAll = () =>
    Promise.all(
      alive().map(async (s) => parseMetrics((await http('GET', `${s.url}/metrics`)).body.toString())),
    );
  const sum = (all: ReturnType<typeof parseMetrics>[], name: string, labels: Record<string, string> = {}) =>
    all.reduce((n, m) => n + (valueOf(m, name, labels) ?? 0), 0);

  function report(
    part: string,
    started: number,
    v: { tagsPulled: number; blobsVerified: number },
    extra: string,
  ) {
    const c = counts;
    console.log(
      `nginx ${part}, ${PROCESSES} processes, ${SECONDS} s of load, ${((Date.now() - started) / 1000).toFixed(1)} s in all: ` +
        `${c.pushes} pushes, ${c.pulls} pulls, ${c.chunkedUploads} chunked uploads, ${c.archiveUploads} archive uploads, ` +
        `${c.tagDeletes + c.manifestDeletes + c.blobDeletes} deletes (${c.tagDeletes} tags, ${c.manifestDeletes} manifests, ` +
        `${c.blobDeletes} blobs), ${c.cleanups} cleanups (CLI, ${c.cleanupRemoved} blobs removed), ${c.retries} retries; ` +
        `then ${v.tagsPulled} tags pulled, ${v.blobsVerified} blobs verified; ${extra}`,
    );
  }

  const resetCounts = () => {
    for (const k of Object.keys(counts)) counts[k as keyof typeof counts] = 0;
  };

  /** What nginx's access log says since line `from`: requests it passed on to another process, and 502s. */
  function nginxView(from: number): string {
    const lines = nginx
      .accessLog()
      .split('\n')
      .slice(from - 1);
    const passedOn = lines.filter((l) => /upstream=\S+, /.test(l)).length;
    const badGateway = lines.filter((l) => /" 502 /.test(l)).length;
    return `nginx passed ${passedOn} requests on to another process and answered ${badGateway} with 502`;
  }

  it('takes pushes, pulls, chunked and archive uploads, deletes and cleanup at once on every process', async () => {
    resetCounts();
    sessions.length = 0;
    const started = Date.now();
    const nginxLines = nginx.accessLog().split('\n').length;
    const roundsBefore = sum(await scrapeAll(), 'berth_cleanup_scheduled_rounds_total', { outcome: 'ran' });
    const firstRound = Math.floor(Date.now() / (CLEANUP_INTERVAL * 1000));
    const r = runner(0);
    await load(SECONDS, r);
    const failures = r.failures;
    const v = await verify(0);
    // chunks of one session taken by different processes: their logs name the session in each PATCH they took
    const patched = servers.map((s) => {
      const ids = new Set<string>();
      for (const m of s.output().matchAll(/"method":"PATCH","url":"[^"]*\/blobs\/uploads\/([^"/?]+)/g))
        ids.add(m[1]!);
      return ids;
    });
    const spread = sessions.filter((id) => patched.filter((ids) => ids.has(id)).length >= 2).length;
    const lastRound = Math.floor(Date.now() / (CLEANUP_INTERVAL * 1000));
    const m = await scrapeAll();
    const perProcess = m.map((x) =>
      x.filter((s) => s.name === 'berth_http_requests_total').reduce((n, s) => n + s.value, 0),
    );
    const rounds = sum(m, 'berth_cleanup_scheduled_rounds_total', { outcome: 'ran' }) - roundsBefore;
    report(
      'part 1',
      started,
      v,
      `${spread} of ${sessions.length} chunked sessions had chunks on 2+ processes; requests per process ${perProcess.join(', ')}; ` +
        `${rounds} scheduled cleanup rounds ran in ${lastRound - firstRound + 1} rounds' time; ${nginxView(nginxLines)}; ${failures.length} failures`,
    );
    expect(failures).toEqual([]);
    expect(v.problems).toEqual([]);
    for (const [k, n] of Object.entries(counts))
      if (!['retries', 'cleanupRemoved', 'slowUploads'].includes(k)) expect(n, k).toBeGreaterThan(0);
    expect(spread).toBeGreaterThan(0);
    for (const n of perProcess) expect(n).toBeGreaterThan(10);
    expect(rounds).toBeGreaterThanOrEqual(1);
    // one run per round, on whichever process (plus one that may have been running when the part began)
    expect(rounds).toBeLessThanOrEqual(lastRound - firstRound + 2);
  }, 300_000);

  it('loses nothing committed when a process is SIGKILLed mid-run: clients retry through nginx', async () => {
    const started = Date.now();
    resetCounts();
    const nginxLines = nginx.accessLog().split('\n').length;
    const victim = servers.at(-1)!;
    const r = runner(6);
    let midRequest = false;
    const kill = (async () => {
      await sleep((SECONDS * 1000) / 3);
      // slow archive uploads through nginx, one after another per slot, until the victim is seen taking one
      let stop = false;
      const slots = Array.from({ length: PROCESSES }, async (_, j) => {
        while (!stop) await r.guard(r.attempt(() => slowArchive(`k${j}`)));
      });
      const watch = requestsInFlight(victim, '/api/v1/repositories/nginx/slow/-/archives');
      for (let t = 0; t < 100 && !midRequest; t++) {
        await sleep(50);
        midRequest = watch() > 0;
      }
      dead.add(victim);
      victim.child.kill('SIGKILL');
      stop = true;
      await Promise.all(slots);
    })();
    await load(SECONDS, r, kill);
    const failures = r.failures;
    expect(victim.child.signalCode).toBe('SIGKILL');
    const v = await verify(3);
    report(
      'part 2',
      started,
      v,
      `process ${servers.indexOf(victim) + 1} SIGKILLed ${midRequest ? 'in the middle of' : 'outside'} an archive upload, ` +
        `${counts.slowUploads} slow archive uploads; ${nginxView(nginxLines)}; ${failures.length} failures`,
    );
    expect(failures).toEqual([]);
    expect(v.problems).toEqual([]);
    expect(midRequest).toBe(true);
    expect(counts.retries).toBeGreaterThan(0); // the upload cut off at least
    expect(counts.pushes).toBeGreaterThan(0);
    expect(counts.chunkedUploads).toBeGreaterThan(0);
    expect(counts.archiveUploads).toBeGreaterThan(0);
    expect(counts.slowUploads).toBeGreaterThan(0);
  }, 300_000);
});
