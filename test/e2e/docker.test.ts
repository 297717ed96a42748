// Real Docker (Debian's docker.io) against the real server with authentication: login, push, pull, save -> upload, logout.
//
// The test starts a private engine (test/helpers/docker.ts: vfs storage, no networking, everything in a temp dir)
// and `berth serve`; the images come from a docker-archive fixture (`docker load`) and a `FROM scratch` build, so
// no network is needed. Also: a push to a second repository mounts the layers, pulls by tag and by digest; and
// space coming back: a SIZE_MIB image (BERTH_CLEANUP_E2E_MIB, default 256) pushed, deleted and cleaned up. Slow
// (a Docker engine), so it runs only when BERTH_TEST_SLOW_E2E is set: .ci/run sets it for the SQLite run alone.
// Without docker, dockerd or root it skips with the reason, and fails under CI=true.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeUnless } from '../helpers/backend.js';
import { bigDockerArchive } from '../helpers/big-archive.js';
import { runBerth } from '../helpers/cli.js';
import { dockerUnavailable, startDockerEngine, type DockerEngine } from '../helpers/docker.js';
import { ADMIN, ANONYMOUS, fixture, http } from '../helpers/in-process.js';
import { BIN, run, startRealServer, type RealServer } from '../helpers/real-server.js';
import { bytesUnder } from '../helpers/state.js';
import { MIB, sha, versionsOf } from './support.js';

const slow = !['', '0', 'false'].includes(process.env.BERTH_TEST_SLOW_E2E ?? '');
const missing = dockerUnavailable();
const suite = !slow
  ? (describe.skip as typeof describe)
  : describeUnless(missing === undefined, missing ?? '');
const title = slow
  ? 'docker login, push, pull, save -> berth upload, logout'
  : 'docker [skipped: a slow end-to-end test, run when BERTH_TEST_SLOW_E2E=1 (CI: the SQLite run)]';

const SIZE_MIB = Number(process.env.BERTH_CLEANUP_E2E_MIB ?? 256);

interface Blob {
  digest: string;
  size: number;
}

let s: RealServer | undefined;
let engine: DockerEngine | undefined;

suite(title, () => {
  beforeAll(async () => {
    s = await startRealServer('docker');
    engine = await startDockerEngine('dk');
  }, 120_000);
  afterAll(async () => {
    // each step runs even if one before it throws
    await engine?.stop().catch((e: unknown) => console.error('stopping dockerd:', e));
    await s?.stop();
  }, 120_000);

  const host = () => s!.hostPort;
  const docker = (...args: string[]) => engine!.ok(...args);
  /** The image's ID (its config's digest), or undefined when the engine does not hold it. */
  const imageId = async (ref: string) => {
    const r = await engine!.docker(['image', 'inspect', '--format', '{{.Id}}', ref]);
    return r.code === 0 ? r.out.trim() : undefined;
  };
  const inspect = async (ref: string) =>
    JSON.parse(await docker('image', 'inspect', ref))[0] as {
      Id: string;
      RepoDigests: string[];
      RootFS: { Layers: string[] };
    };
  /** The manifest berth (`url`: another server) serves for REPO:REF to the administrator, its digest and size. */
  const served = async (repo: string, ref: string, url = s!.url) => {
    const r = await http('GET', `${url}/v2/${repo}/manifests/${ref}`, undefined, {
      accept: [
        'application/vnd.docker.distribution.manifest.v2+json',
        'application/vnd.oci.image.manifest.v1+json',
      ].join(', '),
    });
    expect(r.status, r.body.toString()).toBe(200);
    return {
      digest: sha(r.body),
      size: r.body.length,
      manifest: r.json<{ config: Blob; layers: Blob[] }>(),
    };
  };
  const auths = () =>
    Object.keys(JSON.parse(readFileSync(join(engine!.config, 'config.json'), 'utf8')).auths ?? {});

  /** The config of the fixture's one image, read from the archive (its name is the image's ID). */
  const fixtureConfig = async () => {
    const tar = fixture('app.docker.tar');
    const [entry] = JSON.parse((await run('tar', ['-xOf', tar, 'manifest.json'])) as string);
    const config = JSON.parse((await run('tar', ['-xOf', tar, entry.Config])) as string);
    return { id: `sha256:${String(entry.Config).replace(/\.json$/, '')}`, diffIds: config.rootfs.diff_ids };
  };

  let id: string; // the image's ID: the sha256 of its config
  let layers: string[];
  let pushed: string; // the manifest digest `docker push` reported

  it('logs in with its own DOCKER_CONFIG and pushes an image loaded from a docker-archive', async () => {
    const loaded = await docker('load', '--input', fixture('app.docker.tar'));
    expect(loaded).toContain('example/app:1.0');
    const img = await inspect('example/app:1.0');
    id = img.Id;
    layers = img.RootFS.Layers;
    expect({ id, diffIds: layers }).toEqual(await fixtureConfig());
    expect(layers).toHaveLength(3);

    // a push before login is refused, and makes no repository
    await docker('tag', id, `${host()}/dock/app:1.0`);
    const refused = await engine!.docker(['push', `${host()}/dock/app:1.0`]);
    expect(refused.code).not.toBe(0);
    expect(refused.err).toMatch(/no basic auth credentials|unauthorized|authentication required/i);
    expect(await versionsOf(s!.url, 'dock/app')).toEqual([]);

    const login = await engine!.docker(
      ['login', host(), '--username', ADMIN.user, '--password-stdin'],
      `${ADMIN.password}\n`,
    );
    expect(login.code, login.err).toBe(0);
    expect(login.out).toContain('Login Succeeded');
    expect(auths()).toEqual([host()]);

    const out = await docker('push', `${host()}/dock/app:1.0`);
    const m = /1\.0: digest: (sha256:[0-9a-f]{64}) size: (\d+)/.exec(out);
    expect(m, out).not.toBeNull();
    pushed = m![1]!;
    const { digest, manifest } = await served('dock/app', '1.0');
    expect(digest).toBe(pushed);
    expect(manifest.config.digest).toBe(id);
    expect((await versionsOf(s!.url, 'dock/app')).at(-1)?.number).toBe(1);
  });

  it('removes the image locally and pulls it back: same manifest digest, same image', async () => {
    await docker('rmi', `${host()}/dock/app:1.0`, 'example/app:1.0');
    expect(await imageId(id)).toBeUndefined();

    const out = await docker('pull', `${host()}/dock/app:1.0`);
    expect(out).toContain(`Digest: ${pushed}`);
    const img = await inspect(`${host()}/dock/app:1.0`);
    expect(img.Id).toBe(id);
    expect(img.RootFS.Layers).toEqual(layers);
    expect(img.RepoDigests).toEqual([`${host()}/dock/app@${pushed}`]);
    // a pull by digest names the same image
    await docker('pull', `${host()}/dock/app@${pushed}`);
    expect(await imageId(`${host()}/dock/app@${pushed}`)).toBe(id);
  });

  it('pushes it to a second repository: docker mounts every layer from the first, same digest', async () => {
    await docker('tag', id, `${host()}/dock/copy:1.0`);
    const out = await docker('push', `${host()}/dock/copy:1.0`);
    // the layers are not sent again: each is mounted (POST …/blobs/uploads/?mount=…&from=dock/app answered 201)
    // (docker names each layer by the start of its diff ID)
    for (const diffId of layers) expect(out).toContain(`${diffId.slice(7, 19)}: Mounted from dock/app`);
    expect(out).not.toContain('Pushed');
    expect(out).toContain(`1.0: digest: ${pushed} `);
    expect((await versionsOf(s!.url, 'dock/copy')).at(-1)?.number).toBe(1);
  });

  it('builds an image FROM scratch (no network), pushes it, and pulls back the same file', async () => {
    const ctx = join(engine!.dir, 'build');
    mkdirSync(ctx);
    writeFileSync(join(ctx, 'hello.txt'), 'hello from docker build\n');
    writeFileSync(
      join(ctx, 'Dockerfile'),
      'FROM scratch\nCOPY hello.txt /hello.txt\nLABEL org.example.by=berth\n',
    );
    const ref = `${host()}/dock/built:1`;
    await docker('build', '--tag', ref, ctx);
    const built = (await imageId(ref))!;
    expect(built).toMatch(/^sha256:/);

    const out = await docker('push', ref);
    const digest = /1: digest: (sha256:[0-9a-f]{64}) /.exec(out)?.[1];
    const { digest: servedDigest, manifest } = await served('dock/built', '1');
    expect(servedDigest).toBe(digest);
    expect(manifest.config.digest).toBe(built);
    expect(manifest.layers).toHaveLength(1);

    await docker('rmi', ref);
    expect(await imageId(built)).toBeUndefined();
    expect(await docker('pull', ref)).toContain(`Digest: ${digest}`);
    expect(await imageId(ref)).toBe(built);
    // the file itself, read back from a container made (not run) from the pulled image
    const container = (await docker('create', '--network', 'none', ref, '/none')).trim();
    try {
      expect(await docker('cp', `${container}:/hello.txt`, '-')).toContain('hello from docker build\n');
    } finally {
      await docker('rm', container);
    }
  });

  it('docker save -> berth upload into another repository, and docker pulls that too', async () => {
    const archive = join(engine!.dir, 'saved.tar');
    await docker('save', '--output', archive, `${host()}/dock/app:1.0`);
    const out = (await run(process.execPath, [
      BIN,
      'upload',
      archive,
      'dock/saved:2.0',
      '--json',
      '--server',
      s!.url,
      '--username',
      ADMIN.user,
      '--password',
      ADMIN.password,
    ])) as string;
    const result = JSON.parse(out) as {
      version: number;
      manifests: { digest: string; tags: string[] }[];
    };
    expect(result.version).toBe(1);
    expect(result.manifests).toHaveLength(1);
    // the tag asked for, and the one the archive's RepoTags names
    expect(result.manifests[0]!.tags.sort()).toEqual(['1.0', '2.0']);
    const uploaded = result.manifests[0]!.digest;

    await docker('rmi', '--force', id);
    expect(await imageId(id)).toBeUndefined();
    const pulled = await docker('pull', `${host()}/dock/saved:2.0`);
    expect(pulled).toContain(`Digest: ${uploaded}`);
    const img = await inspect(`${host()}/dock/saved:2.0`);
    // the same config, so the same image: its ID and its layers' diff IDs are those docker pushed
    expect(img.Id).toBe(id);
    expect(img.RootFS.Layers).toEqual(layers);
    expect(img.RepoDigests).toEqual([`${host()}/dock/saved@${uploaded}`]);
    expect((await served('dock/saved', '2.0')).digest).toBe(uploaded);
  });

  it('logs out: the login is gone and a pull of the private repository is refused', async () => {
    await docker('logout', host());
    expect(auths()).toEqual([]);
    // the repository is private: berth refuses an anonymous pull itself
    const anon = await http('GET', `${s!.url}/v2/dock/app/manifests/1.0`, undefined, ANONYMOUS);
    expect(anon.status).toBe(401);

    await docker('rmi', '--force', id);
    expect(await imageId(id)).toBeUndefined();
    for (const ref of [`${host()}/dock/app:1.0`, `${host()}/dock/saved:2.0`]) {
      const r = await engine!.docker(['pull', ref]);
      expect(r.code, r.out).not.toBe(0);
      expect(r.err).toMatch(/unauthorized|authentication required|no basic auth credentials/i);
    }
    expect(await imageId(id)).toBeUndefined();
  });

  // Issue 14, the docker half of test/e2e/cleanup-space.test.ts, on a server of its own (no scheduled cleanup, a
  // store holding only this): `big` (a shared base layer and SIZE_MIB of its own) and `other` (the base and 8 KiB)
  // are made by `docker load` of an archive generated as it is piped in, pushed with `docker push`.
  it(`${SIZE_MIB} MiB image pushed with docker, deleted, cleanup --protection 0: the store shrinks by its unique bytes; the other tag still pulls`, async () => {
    const data = mkdtempSync(join(tmpdir(), 'docker-space-'));
    const server = await startRealServer('docker-space', { data, args: ['--cleanup-interval', '0'] });
    try {
      const repo = 'e2e/space';
      const ref = (tag: string) => `${server.hostPort}/${repo}:${tag}`;
      const archive = bigDockerArchive(
        [
          { file: 'base.bin', bytes: 64 * 1024 },
          { file: 'big.bin', bytes: SIZE_MIB * MIB },
          { file: 'other.bin', bytes: 8 * 1024 },
        ],
        [
          { tag: ref('big'), layers: [0, 1] },
          { tag: ref('other'), layers: [0, 2] },
        ],
      );
      const loaded = await engine!.docker(['load'], archive.stream);
      expect(loaded.code, loaded.err).toBe(0);
      const [bigId, otherId] = (await archive.done).ids;
      expect(await imageId(ref('big'))).toBe(bigId);
      const login = await engine!.docker(
        ['login', server.hostPort, '--username', ADMIN.user, '--password-stdin'],
        `${ADMIN.password}\n`,
      );
      expect(login.code, login.err).toBe(0);
      const pushed: Record<string, string> = {};
      for (const tag of ['other', 'big']) {
        const out = await docker('push', ref(tag));
        pushed[tag] = new RegExp(`${tag}: digest: (sha256:[0-9a-f]{64}) `).exec(out)?.[1] ?? out;
      }
      // what only `big` has in the store: its manifest, its config, its own layer (not the base `other` shares)
      const big = await served(repo, 'big', server.url);
      const other = await served(repo, 'other', server.url);
      expect([big.digest, other.digest]).toEqual([pushed.big, pushed.other]);
      const shared = new Set(other.manifest.layers.map((l) => l.digest));
      expect(big.manifest.layers.filter((l) => shared.has(l.digest))).toHaveLength(1);
      const unique = [
        { digest: big.digest, size: big.size },
        big.manifest.config,
        ...big.manifest.layers.filter((l) => !shared.has(l.digest)),
      ];
      const uniqueBytes = unique.reduce((n, b) => n + b.size, 0);
      expect(uniqueBytes).toBeGreaterThan(SIZE_MIB * MIB); // random bytes: gzip cannot shrink them

      const retain = await runBerth(server.url, 'repo', 'retain', repo, '1');
      expect(retain.code, retain.err).toBe(0);
      const store = join(data, 'store');
      const before = bytesUnder(store);
      const deleted = await runBerth(server.url, 'image', 'delete', repo, 'big');
      expect(deleted.code, deleted.err).toBe(0);
      const started = Date.now();
      const cleanup = await runBerth(server.url, 'cleanup', '--protection', '0', '--json');
      const cleanupMs = Date.now() - started;
      expect(cleanup.code, cleanup.err).toBe(0);
      const report = JSON.parse(cleanup.out);
      const after = bytesUnder(store);
      console.log(
        `docker cleanup-space: store ${before} bytes before, ${after} after (dropped ${before - after}; the image's ` +
          `unique bytes: ${uniqueBytes}); cleanup took ${cleanupMs} ms, removed ${report.removed.blobs} blobs ` +
          `(${report.removed.bytes} bytes)`,
      );
      expect(report.repositories).toEqual([
        expect.objectContaining({ repository: repo, blobs: unique.length - 1, manifests: 0 }),
      ]);
      for (const b of unique) expect(report.digests).toContain(b.digest);
      expect(before - after).toBe(uniqueBytes);

      // the other tag still pulls, into an engine that no longer holds either image; the deleted one does not
      await docker('rmi', ref('big'), ref('other'));
      expect(await imageId(otherId!)).toBeUndefined();
      expect(await docker('pull', ref('other'))).toContain(`Digest: ${pushed.other}`);
      expect(await imageId(ref('other'))).toBe(otherId);
      const gone = await engine!.docker(['pull', ref('big')]);
      expect(gone.code).not.toBe(0);
      expect(gone.err).toMatch(/manifest unknown|not found/i);
      await docker('logout', server.hostPort);
    } finally {
      await server.stop();
      rmSync(data, { recursive: true, force: true });
    }
  }, 600_000);
});
