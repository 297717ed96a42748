// `oras repo ls`, `regctl repo ls` and `crane catalog` against the real server (issue 11): clients that send
// credentials only after a 401 list what the signed-in user may pull, and an anonymous caller, while no
// repository is public, is refused rather than shown an empty list. Each client has its own config dir.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect } from 'vitest';
import { skipUnless } from '../helpers/backend.js';
import { http } from '../helpers/in-process.js';
import { ROOT, run, startRealServer, type RealServer } from '../helpers/real-server.js';
import { ociImage, Registry } from '../registry/oci.js';

const TOOLS = join(ROOT, '..', 'shared', 'tools', 'bin');
const tool = (name: string) => join(TOOLS, name);
const itWith = (name: string) =>
  skipUnless(existsSync(tool(name)), `${tool(name)} is missing (see ../shared/tools/README.md)`);

const USER = 'lister';
const PASSWORD = 'lister-password';
const MAY_PULL = ['team/a', 'team/b'];

let s: RealServer;
let work: string;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'repo-ls-'));
  s = await startRealServer('repo-ls');
  const reg = new Registry(s.url);
  for (const repo of ['other/secret', ...MAY_PULL]) await reg.pushImage(repo, ociImage({ n: 1 }), 'v1');
  const api = (method: string, path: string, body: unknown) =>
    http(method, `${s.url}/api/v1${path}`, JSON.stringify(body), { 'content-type': 'application/json' });
  expect((await api('POST', '/users', { name: USER, password: PASSWORD })).status).toBe(201);
  const grant = await api('PUT', `/users/${USER}/permissions`, { pattern: 'team/*', actions: ['pull'] });
  expect(grant.status, grant.body.toString()).toBeLessThan(300);
});
afterAll(async () => {
  await s?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

/** A client run with its own HOME (and config dirs under it), so credentials never leak between runs. */
async function client(name: string, home: string, args: string[]): Promise<string> {
  const env = { PATH: process.env.PATH, HOME: home, DOCKER_CONFIG: join(home, '.docker') };
  return (await run(tool(name), args, { env })) as string;
}
const lines = (out: string) => out.split('\n').filter((l) => l.trim() !== '');
const home = (label: string) => mkdtempSync(join(work, `${label}-`));

describe('listing repositories with a real client', () => {
  itWith('oras')('oras repo ls: what the signed-in user may pull; anonymous: refused', async () => {
    const h = home('oras');
    await client('oras', h, ['login', '--plain-http', s.hostPort, '-u', USER, '-p', PASSWORD]);
    expect(lines(await client('oras', h, ['repo', 'ls', '--plain-http', s.hostPort]))).toEqual(MAY_PULL);
    await expect(
      client('oras', home('oras-anon'), ['repo', 'ls', '--plain-http', s.hostPort]),
    ).rejects.toThrow(/401|unauthorized/i);
  });
  itWith('regctl')('regctl repo ls: what the signed-in user may pull; anonymous: refused', async () => {
    const h = home('regctl');
    await client('regctl', h, ['registry', 'set', '--skip-check', '--tls', 'disabled', s.hostPort]);
    await client('regctl', h, ['registry', 'login', s.hostPort, '-u', USER, '-p', PASSWORD]);
    expect(lines(await client('regctl', h, ['repo', 'ls', s.hostPort]))).toEqual(MAY_PULL);
    const anon = home('regctl-anon');
    await client('regctl', anon, ['registry', 'set', '--skip-check', '--tls', 'disabled', s.hostPort]);
    await expect(client('regctl', anon, ['repo', 'ls', s.hostPort])).rejects.toThrow(/401|unauthorized/i);
  });
  itWith('crane')('crane catalog: what the signed-in user may pull; anonymous: refused', async () => {
    const h = home('crane');
    await client('crane', h, ['auth', 'login', s.hostPort, '-u', USER, '-p', PASSWORD, '--insecure']);
    expect(lines(await client('crane', h, ['catalog', s.hostPort, '--insecure']))).toEqual(MAY_PULL);
    await expect(client('crane', home('crane-anon'), ['catalog', s.hostPort, '--insecure'])).rejects.toThrow(
      /401|unauthorized/i,
    );
  });
});
