// Real Docker and podman pulling through the cache of a real `berth serve` from a real Distribution (Basic auth): by tag, by digest, while upstream is down.
//
// The upstream gets an image from the docker-archive fixture (skopeo copy, so its layers are real tars); docker
// (a private engine, test/helpers/docker.ts) and podman (vfs, its own storage) pull it as
// `<berth>/cache/hub/library/app:1.0`: berth resolves the tag at the remote on first use and streams the blobs
// through. Slow (a Docker engine), so it runs only when BERTH_TEST_SLOW_E2E is set (CI: the SQLite run); without
// docker, dockerd, podman or root the parts skip with the reason, and fail under CI=true.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect } from 'vitest';
import { hasCommand, skipUnless } from '../helpers/backend.js';
import { dockerUnavailable, startDockerEngine, type DockerEngine } from '../helpers/docker.js';
import { ADMIN, fixture, http } from '../helpers/in-process.js';
import { run, skopeo, startRealServer, type RealServer } from '../helpers/real-server.js';
import {
  hasDistribution,
  NO_DISTRIBUTION,
  startDistribution,
  type UpstreamRegistry,
} from '../helpers/upstreams.js';
import { versionsOf } from './support.js';

const slow = !['', '0', 'false'].includes(process.env.BERTH_TEST_SLOW_E2E ?? '');
const missingDocker = dockerUnavailable() ?? (hasDistribution() ? undefined : NO_DISTRIBUTION);
const missingPodman =
  process.getuid?.() !== 0
    ? 'podman is tested as root only (podman --storage-driver vfs as root): run the tests as root'
    : !hasCommand('podman')
      ? 'podman is not installed (apt-get install podman)'
      : !hasDistribution()
        ? NO_DISTRIBUTION
        : undefined;
const itDocker = skipUnless(missingDocker === undefined, missingDocker ?? '');
const itPodman = skipUnless(missingPodman === undefined, missingPodman ?? '');
const suite = slow ? describe : (describe.skip as typeof describe);
const title = slow
  ? 'docker and podman pull through the cache'
  : 'docker and podman pull through the cache [skipped: a slow end-to-end test, run when BERTH_TEST_SLOW_E2E=1 (CI: the SQLite run)]';

const CREDS = { user: 'hub', password: 'hub-e2e-password' };
const UPSTREAM = 'library/app';
const LOCAL = `cache/hub/${UPSTREAM}`;

suite(title, () => {
  let reg: UpstreamRegistry | undefined;
  let s: RealServer | undefined;
  let engine: DockerEngine | undefined;
  let work: string;
  /** the image's ID (its config's digest) and the manifest digest upstream serves */
  let id: string;
  let digest: string;

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'pull-through-docker-'));
    if (!hasDistribution()) return;
    reg = await startDistribution({ creds: CREDS });
    await skopeo(
      'copy',
      '--quiet',
      '--dest-tls-verify=false',
      '--dest-creds',
      `${CREDS.user}:${CREDS.password}`,
      `docker-archive:${fixture('app.docker.tar')}`,
      `docker://${reg.hostPort}/${UPSTREAM}:1.0`,
    );
    const inspected = JSON.parse(
      await skopeo(
        'inspect',
        '--tls-verify=false',
        '--creds',
        `${CREDS.user}:${CREDS.password}`,
        `docker://${reg.hostPort}/${UPSTREAM}:1.0`,
      ),
    ) as { Digest: string };
    digest = inspected.Digest;
    const config = JSON.parse(
      await skopeo(
        'inspect',
        '--raw',
        '--tls-verify=false',
        '--creds',
        `${CREDS.user}:${CREDS.password}`,
        `docker://${reg.hostPort}/${UPSTREAM}:1.0`,
      ),
    ) as { config: { digest: string } };
    id = config.config.digest;
    s = await startRealServer('pull-through-docker');
    const json = { 'content-type': 'application/json' };
    const remote = { name: 'hub', url: reg.url, username: CREDS.user, password: CREDS.password };
    expect((await http('POST', `${s.url}/api/v1/remotes`, JSON.stringify(remote), json)).status).toBe(201);
    const cache = { name: 'hub', remote: 'hub', prefix: 'cache/hub', checkSeconds: 0, staleSeconds: 3600 };
    expect((await http('POST', `${s.url}/api/v1/caches`, JSON.stringify(cache), json)).status).toBe(201);
  }, 120_000);
  afterAll(async () => {
    await engine?.stop().catch((e: unknown) => console.error('stopping dockerd:', e));
    await s?.stop();
    await reg?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  }, 120_000);

  const host = () => s!.hostPort;

  itDocker(
    'docker pulls by tag (the cache makes one version), by digest, and again with upstream stopped (the blobs kept)',
    async () => {
      engine = await startDockerEngine('dkc');
      const docker = (...args: string[]) => engine!.ok(...args);
      const imageId = async (ref: string) => {
        const r = await engine!.docker(['image', 'inspect', '--format', '{{.Id}}', ref]);
        return r.code === 0 ? r.out.trim() : undefined;
      };
      const login = await engine.docker(
        ['login', host(), '--username', ADMIN.user, '--password-stdin'],
        `${ADMIN.password}\n`,
      );
      expect(login.code, login.err).toBe(0);

      const out = await docker('pull', `${host()}/${LOCAL}:1.0`);
      expect(out).toContain(`Digest: ${digest}`);
      expect(await imageId(`${host()}/${LOCAL}:1.0`)).toBe(id);
      // made by the cache on first use (version 0, empty), then one version holding the image
      const versions = await versionsOf(s!.url, LOCAL);
      expect(versions.map((v) => v.number)).toEqual([0, 1]);
      const onDemand = await http('GET', `${s!.url}/v2/${LOCAL}/manifests/1.0`, undefined, {
        accept: 'application/vnd.docker.distribution.manifest.v2+json',
      });
      expect(onDemand.headers['docker-content-digest']).toBe(digest);

      await docker('rmi', `${host()}/${LOCAL}:1.0`);
      expect(await imageId(id)).toBeUndefined();
      await docker('pull', `${host()}/${LOCAL}@${digest}`);
      expect(await imageId(`${host()}/${LOCAL}@${digest}`)).toBe(id);

      // upstream down: the tag, checked within the stale window, is still served, and the blobs are berth's now
      await docker('rmi', `${host()}/${LOCAL}@${digest}`);
      await reg!.stop();
      reg = undefined;
      expect(await docker('pull', `${host()}/${LOCAL}:1.0`)).toContain(`Digest: ${digest}`);
      expect(await imageId(`${host()}/${LOCAL}:1.0`)).toBe(id);
      expect((await versionsOf(s!.url, LOCAL)).map((v) => v.number)).toEqual([0, 1]);
    },
    300_000,
  );

  itPodman(
    'podman pulls by tag and by digest through the cache',
    async () => {
      const podman = async (...args: string[]): Promise<string> =>
        (await run('podman', [
          '--root',
          join(work, 'root'),
          '--runroot',
          join(work, 'run'),
          '--tmpdir',
          join(work, 'tmp'),
          '--storage-driver',
          'vfs',
          '--events-backend',
          'file',
          ...args,
        ])) as string;
      const creds = `--creds=${ADMIN.user}:${ADMIN.password}`;
      try {
        // the docker test may have stopped upstream already: the cache serves what it holds either way
        const pulled = (
          await podman('pull', '--quiet', '--tls-verify=false', creds, `${host()}/${LOCAL}:1.0`)
        ).trim();
        expect(`sha256:${pulled}`).toBe(id);
        const byDigest = (
          await podman('pull', '--quiet', '--tls-verify=false', creds, `${host()}/${LOCAL}@${digest}`)
        ).trim();
        expect(`sha256:${byDigest}`).toBe(id);
      } finally {
        await podman('rmi', '--all', '--force').catch(() => {});
      }
    },
    300_000,
  );
});
