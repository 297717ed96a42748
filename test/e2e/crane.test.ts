// Real crane (../shared/tools/bin/crane) against the real server, authentication on, with a HOME of its own: auth login, push, copy, append, mutate, tag, ls, catalog, pull, export, delete.
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect } from 'vitest';
import { fixture } from '../helpers/in-process.js';
import { run, startRealServer, type RealServer } from '../helpers/real-server.js';
import { ADMIN, clientHome, itWithTools, runTool } from '../helpers/tools.js';
import { versionsOf } from './support.js';

const it = itWithTools('bin/crane');

let s: RealServer;
let home: { dir: string; env: NodeJS.ProcessEnv };
let work: string;
beforeAll(async () => {
  s = await startRealServer('crane');
  home = clientHome('crane');
  work = join(home.dir, 'work');
  mkdirSync(work);
});
afterAll(async () => {
  await s?.stop();
  if (home) rmSync(home.dir, { recursive: true, force: true });
});

const crane = (...args: string[]) => runTool('crane', home.env, [...args, '--insecure']);
const ref = (r: string) => `${s.hostPort}/${r}`;
const sha = (b: Buffer | string) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const digestOf = async (r: string) => (await crane('digest', ref(r))).trim();
const tags = async (repo: string) => (await crane('ls', ref(repo))).split('\n').filter(Boolean).sort();

/** A one-file layer tarball made with tar. */
async function layer(name: string, content: string): Promise<string> {
  const dir = join(work, `${name}.d`);
  mkdirSync(dir);
  writeFileSync(join(dir, name), content);
  const file = join(work, `${name}.tar`);
  await run('tar', ['-C', dir, '-cf', file, name]);
  return file;
}

describe('crane against berth', () => {
  it('is refused before logging in, and logs in with its own config', async () => {
    await expect(crane('ls', ref('crane/none'))).rejects.toThrow(/UNAUTHORIZED|401/);
    await crane('auth', 'login', s.hostPort, '-u', ADMIN.user, '-p', ADMIN.password);
    const config = JSON.parse(readFileSync(join(home.dir, '.docker', 'config.json'), 'utf8'));
    expect(Object.keys(config.auths)).toContain(s.hostPort);
  });

  it('pushes a docker-archive, copies it, and pulls it back with the same digest', async () => {
    await crane('push', fixture('app.docker.tar'), ref('crane/app:1.0'));
    const digest = await digestOf('crane/app:1.0');
    await crane('copy', ref('crane/app:1.0'), ref('crane/copy:1.0'));
    expect(await digestOf('crane/copy:1.0')).toBe(digest);
    // one push, one version (version 0 is the empty repository)
    expect((await versionsOf(s.url, 'crane/copy')).at(-1)?.number).toBe(1);
    const out = join(work, 'pulled');
    await crane('pull', '--format', 'oci', ref('crane/copy:1.0'), out);
    const index = JSON.parse(readFileSync(join(out, 'index.json'), 'utf8'));
    const manifest = readFileSync(join(out, 'blobs', 'sha256', index.manifests[0].digest.slice(7)));
    expect(sha(manifest)).toBe(digest);
    // and as a tarball (docker save format)
    await crane('pull', ref('crane/app:1.0'), join(work, 'app.tar'));
    const entries = ((await run('tar', ['-tf', join(work, 'app.tar')])) as string).split('\n');
    expect(entries).toContain('manifest.json');
  });

  it('appends layers, exports the flattened filesystem', async () => {
    await crane('append', '-f', await layer('one.txt', 'one\n'), '-t', ref('crane/built:v1'));
    await crane(
      'append',
      '-b',
      ref('crane/built:v1'),
      '-f',
      await layer('two.txt', 'two\n'),
      '-t',
      ref('crane/built:v2'),
    );
    const manifest = JSON.parse(await crane('manifest', ref('crane/built:v2')));
    expect(manifest.layers).toHaveLength(2);
    const fs = join(work, 'fs.tar');
    await crane('export', ref('crane/built:v2'), fs);
    const files = ((await run('tar', ['-tf', fs])) as string).split('\n').filter(Boolean).sort();
    expect(files).toEqual(['one.txt', 'two.txt']);
  });

  it('mutates an image (label) into a new tag, and tags', async () => {
    await crane(
      'mutate',
      ref('crane/built:v1'),
      '--label',
      'org.example.k=v',
      '-t',
      ref('crane/built:labelled'),
    );
    const config = JSON.parse(await crane('config', ref('crane/built:labelled')));
    expect(config.config.Labels).toEqual({ 'org.example.k': 'v' });
    await crane('tag', ref('crane/built:v1'), 'latest');
    expect(await digestOf('crane/built:latest')).toBe(await digestOf('crane/built:v1'));
    expect(await tags('crane/built')).toEqual(['labelled', 'latest', 'v1', 'v2']);
  });

  it('lists the catalog', async () => {
    const repos = (await crane('catalog', s.hostPort)).split('\n').filter(Boolean);
    expect(repos).toEqual(expect.arrayContaining(['crane/app', 'crane/built', 'crane/copy']));
  });

  it('deletes a manifest by digest: its tags go, the others stay', async () => {
    const digest = await digestOf('crane/built:labelled');
    await crane('delete', `${ref('crane/built')}@${digest}`);
    expect(await tags('crane/built')).toEqual(['latest', 'v1', 'v2']);
    await expect(crane('manifest', `${ref('crane/built')}@${digest}`)).rejects.toThrow(
      /MANIFEST_UNKNOWN|404/,
    );
  });
});
