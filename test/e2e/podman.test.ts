// Real podman against the real server: push from podman's storage, pull back, pull one platform of an index.
// podman runs as root on the vfs driver with its own root, runroot and tmpdir (nothing shared with the
// machine's podman, no systemd needed). Debian package: podman.
import { afterAll, beforeAll, describe, expect, it as vitestIt } from 'vitest';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hasCommand, skipUnless } from '../helpers/backend.js';
import { ADMIN, fixture } from '../helpers/in-process.js';
import { run, skopeo, startRealServer, type RealServer } from '../helpers/real-server.js';
import { sha, versionsOf } from './support.js';

const isRoot = process.getuid?.() === 0;
const rootReason =
  'podman is tested as root only (podman --storage-driver vfs as root): run the tests as root';
const it: typeof vitestIt = isRoot
  ? skipUnless(hasCommand('podman'), 'podman is not installed (apt-get install podman)')
  : (new Proxy(vitestIt.skip, {
      apply: (target, self, [name, ...rest]: unknown[]) =>
        Reflect.apply(target, self, [`${String(name)} [skipped: ${rootReason}]`, ...rest]),
    }) as typeof vitestIt);

let s: RealServer;
let work: string;
beforeAll(async () => {
  s = await startRealServer('podman');
  work = mkdtempSync(join(tmpdir(), 'podman-'));
});
afterAll(async () => {
  if (work && hasCommand('podman') && isRoot) {
    // vfs layers are plain folders, but let podman unmount and forget them first
    await podman('rmi', '--all', '--force').catch(() => {});
  }
  await s?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

const CREDS = `${ADMIN.user}:${ADMIN.password}`;

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
const latest = async (repo: string) => (await versionsOf(s.url, repo)).at(-1)?.number ?? 0;
const inspect = async (image: string) =>
  JSON.parse(await podman('image', 'inspect', image))[0] as {
    Id: string;
    Digest: string;
    RepoDigests: string[];
    RootFS: { Layers: string[] };
  };

describe('podman push and pull', () => {
  let diffIds: string[];
  let pushed: string;

  it('pushes an image from its storage: one new version, the digest it reports is served', async () => {
    diffIds = JSON.parse(await skopeo('inspect', '--config', `oci-archive:${fixture('app.oci.tar')}`)).rootfs
      .diff_ids;
    const id = (await podman('pull', '--quiet', `oci-archive:${fixture('app.oci.tar')}`)).trim();
    const digestFile = join(work, 'digest');
    await podman(
      'push',
      '--quiet',
      '--tls-verify=false',
      '--creds',
      CREDS,
      '--digestfile',
      digestFile,
      id,
      `${s.hostPort}/pod/app:1.0`,
    );
    pushed = readFileSync(digestFile, 'utf8').trim();
    expect(pushed).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(await latest('pod/app')).toBe(1);
    const raw = await skopeo('inspect', '--raw', '--tls-verify=false', `docker://${s.hostPort}/pod/app:1.0`);
    expect(sha(raw)).toBe(pushed);
    const config = JSON.parse(
      await skopeo('inspect', '--config', '--tls-verify=false', `docker://${s.hostPort}/pod/app:1.0`),
    );
    expect(config.rootfs.diff_ids).toEqual(diffIds);

    // the same image under a second tag: its blobs are there already, one more version
    await podman(
      'push',
      '--quiet',
      '--tls-verify=false',
      '--creds',
      CREDS,
      id,
      `${s.hostPort}/pod/app:latest`,
    );
    expect(await latest('pod/app')).toBe(2);
  });

  it('pulls it back into an empty storage: same manifest digest, same layers', async () => {
    await podman('rmi', '--all', '--force');
    await podman('pull', '--quiet', '--tls-verify=false', '--creds', CREDS, `${s.hostPort}/pod/app:1.0`);
    const img = await inspect(`${s.hostPort}/pod/app:1.0`);
    expect(img.Digest).toBe(pushed);
    expect(img.RootFS.Layers).toEqual(diffIds);
    expect(await latest('pod/app')).toBe(2);
  });

  it('pulls one platform of an index that skopeo pushed with --all', async () => {
    const src = `oci-archive:${fixture('multi.oci.tar')}`;
    const indexBytes = await skopeo('inspect', '--raw', src);
    const index = JSON.parse(indexBytes);
    await skopeo(
      'copy',
      '--quiet',
      '--all',
      '--dest-tls-verify=false',
      src,
      `docker://${s.hostPort}/pod/multi:1.0`,
    );
    expect(await latest('pod/multi')).toBe(3);
    for (const arch of ['amd64', 'arm64']) {
      const child = index.manifests.find(
        (m: { platform: { architecture: string } }) => m.platform.architecture === arch,
      );
      await podman(
        'pull',
        '--quiet',
        '--tls-verify=false',
        '--creds',
        CREDS,
        '--arch',
        arch,
        `${s.hostPort}/pod/multi:1.0`,
      );
      const img = await inspect(`${s.hostPort}/pod/multi:1.0`);
      expect(img.RootFS.Layers).toHaveLength(1);
      const config = JSON.parse(
        await skopeo(
          'inspect',
          '--config',
          '--tls-verify=false',
          `docker://${s.hostPort}/pod/multi@${child.digest}`,
        ),
      );
      expect(img.RootFS.Layers).toEqual(config.rootfs.diff_ids);
      // podman names the image by the index it pulled, and records the platform's manifest beside it
      expect(img.Digest).toBe(sha(indexBytes));
      expect(img.RepoDigests).toContain(`${s.hostPort}/pod/multi@${child.digest}`);
    }
  });
});
