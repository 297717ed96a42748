// Real regctl (../shared/tools/bin/regctl) against the real server, authentication on, with a HOME of its own: image import/copy (an index, referrers), tag ls/delete, manifest get/head/delete, artifact put/list/tree, repo ls.
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect } from 'vitest';
import { fixture } from '../helpers/in-process.js';
import { startRealServer, type RealServer } from '../helpers/real-server.js';
import { ADMIN, clientHome, itWithTools, runTool } from '../helpers/tools.js';

const it = itWithTools('bin/regctl');

let s: RealServer;
let home: { dir: string; env: NodeJS.ProcessEnv };
let work: string;
beforeAll(async () => {
  s = await startRealServer('regctl');
  home = clientHome('regctl');
  work = join(home.dir, 'work');
  mkdirSync(work);
});
afterAll(async () => {
  await s?.stop();
  if (home) rmSync(home.dir, { recursive: true, force: true });
});

const regctl = (...args: string[]) => runTool('regctl', home.env, args);
const ref = (r: string) => `${s.hostPort}/${r}`;
const lines = (out: string) => out.split('\n').filter(Boolean);
const head = async (r: string) => (await regctl('manifest', 'head', ref(r))).trim();
const tags = async (repo: string) => lines(await regctl('tag', 'ls', ref(repo))).sort();
const artifactTypes = async (r: string, ...flags: string[]) =>
  lines(
    await regctl(
      'artifact',
      'list',
      ref(r),
      ...flags,
      '--format',
      '{{range .Descriptors}}{{println .ArtifactType}}{{end}}',
    ),
  ).sort();

const SIG = 'application/vnd.example.signature';
const SBOM = 'application/vnd.example.sbom';

describe('regctl against berth', () => {
  it('is refused before logging in, and logs in with its own config', async () => {
    // (registry set checks the registry too, and exits 1 on its 401 after saving the setting: skip the check)
    await regctl('registry', 'set', '--tls', 'disabled', '--skip-check', s.hostPort);
    await expect(regctl('tag', 'ls', ref('regctl/none'))).rejects.toThrow(/unauthorized/i);
    await regctl('registry', 'login', s.hostPort, '-u', ADMIN.user, '-p', ADMIN.password);
    const config = JSON.parse(readFileSync(join(home.dir, '.regctl', 'config.json'), 'utf8'));
    expect(config.hosts[s.hostPort].user).toBe(ADMIN.user);
  });

  it('imports an index and copies it whole to another repository', async () => {
    await regctl('image', 'import', ref('regctl/multi:1.0'), fixture('multi.oci.tar'));
    const index = JSON.parse(
      await regctl('manifest', 'get', ref('regctl/multi:1.0'), '--format', 'raw-body'),
    );
    expect(index.mediaType).toBe('application/vnd.oci.image.index.v1+json');
    expect(index.manifests.length).toBeGreaterThan(1);
    await regctl('image', 'copy', ref('regctl/multi:1.0'), ref('regctl/multi-copy:1.0'));
    expect(await head('regctl/multi-copy:1.0')).toBe(await head('regctl/multi:1.0'));
    // every child manifest came along
    for (const child of index.manifests as { digest: string }[]) {
      expect(await head(`regctl/multi-copy@${child.digest}`)).toBe(child.digest);
    }
  });

  it('puts artifacts on a subject, lists them (with and without a type filter), shows the tree', async () => {
    for (const [name, type] of [
      ['sig.txt', SIG],
      ['sbom.json', SBOM],
    ] as const) {
      writeFileSync(join(work, name), `${type}\n`);
      await regctl(
        'artifact',
        'put',
        '--subject',
        ref('regctl/multi:1.0'),
        '--artifact-type',
        type,
        '-f',
        join(work, name),
      );
    }
    expect(await artifactTypes('regctl/multi:1.0')).toEqual([SBOM, SIG]);
    expect(await artifactTypes('regctl/multi:1.0', '--filter-artifact-type', SIG)).toEqual([SIG]);
    const tree = await regctl('artifact', 'tree', ref('regctl/multi:1.0'));
    expect(tree).toContain(SIG);
    expect(tree).toContain(SBOM);
  });

  it('copies an image with its referrers', async () => {
    await regctl('image', 'copy', '--referrers', ref('regctl/multi:1.0'), ref('regctl/with-refs:1.0'));
    expect(await artifactTypes('regctl/with-refs:1.0')).toEqual([SBOM, SIG]);
  });

  it('gets and heads manifests; lists and deletes tags', async () => {
    const digest = await head('regctl/multi:1.0');
    expect(digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    const body = await regctl('manifest', 'get', `${ref('regctl/multi')}@${digest}`, '--format', 'raw-body');
    expect(JSON.parse(body).mediaType).toBe('application/vnd.oci.image.index.v1+json');
    await regctl('image', 'copy', ref('regctl/multi:1.0'), ref('regctl/multi:2.0'));
    expect(await tags('regctl/multi')).toEqual(['1.0', '2.0']);
    await regctl('tag', 'delete', ref('regctl/multi:2.0'));
    expect(await tags('regctl/multi')).toEqual(['1.0']);
    expect(await head('regctl/multi:1.0')).toBe(digest);
  });

  it('deletes a manifest by digest', async () => {
    const digest = await head('regctl/multi-copy:1.0');
    await regctl('manifest', 'delete', `${ref('regctl/multi-copy')}@${digest}`);
    await expect(regctl('manifest', 'head', `${ref('regctl/multi-copy')}@${digest}`)).rejects.toThrow(
      /not found|unknown/i,
    );
    expect(await tags('regctl/multi-copy')).toEqual([]);
  });

  // issue 11 item 1: regctl sends credentials only after a 401, so the anonymous catalog must be challenged
  // (it answered 200 with no repositories, and regctl listed nothing)
  it('lists the repositories (repo ls) once logged in', async () => {
    expect(lines(await regctl('repo', 'ls', s.hostPort))).toEqual(
      expect.arrayContaining(['regctl/multi', 'regctl/with-refs']),
    );
  });
});
