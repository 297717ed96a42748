// `berth serve --tls-cert --tls-key` with a certificate from a throwaway CA: skopeo with verification on pushes and
// pulls through the token flow (its realm https://…/token), refuses the server without the CA; the berth CLI
// trusts it through NODE_EXTRA_CA_CERTS; half a TLS configuration is refused at start; plain HTTP gets nowhere.
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { globalAgent } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect } from 'vitest';
import { hasCommand, skipUnless } from '../helpers/backend.js';
import { ADMIN, ANONYMOUS, basic, fixture, http } from '../helpers/in-process.js';
import { BIN, run, skopeo, startRealServer, type RealServer } from '../helpers/real-server.js';
import { readLayout } from './support.js';

const it = skipUnless(
  hasCommand('skopeo') && hasCommand('openssl'),
  'skopeo and openssl are needed (apt-get install skopeo openssl)',
);

let work: string;
let certs: string; // a cert dir as containers/image reads it: the CA as ca.crt
let otherCerts: string; // the same, with an unrelated CA
let s: RealServer;

/** A CA and a certificate it signed for 127.0.0.1 and localhost, made with openssl in `dir`. */
async function makeCa(dir: string, withServerCert: boolean): Promise<void> {
  mkdirSync(dir, { recursive: true });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  await run('openssl', [
    'req',
    '-x509',
    ...ec,
    '-keyout',
    join(dir, 'ca.key'),
    '-out',
    join(dir, 'ca.crt'),
    '-days',
    '2',
    '-subj',
    '/CN=berth test CA',
  ]);
  if (!withServerCert) return;
  await run('openssl', [
    'req',
    ...ec,
    '-keyout',
    join(dir, 'server.key'),
    '-out',
    join(dir, 'server.csr'),
    '-subj',
    '/CN=127.0.0.1',
  ]);
  writeFileSync(
    join(dir, 'ext.cnf'),
    [
      'subjectAltName=IP:127.0.0.1,DNS:localhost',
      'basicConstraints=critical,CA:FALSE',
      'keyUsage=critical,digitalSignature',
      'extendedKeyUsage=serverAuth',
      '',
    ].join('\n'),
  );
  await run('openssl', [
    'x509',
    '-req',
    '-in',
    join(dir, 'server.csr'),
    '-CA',
    join(dir, 'ca.crt'),
    '-CAkey',
    join(dir, 'ca.key'),
    '-CAcreateserial',
    '-out',
    join(dir, 'server.crt'),
    '-days',
    '2',
    '-extfile',
    join(dir, 'ext.cnf'),
  ]);
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'https-'));
  if (!hasCommand('openssl')) return;
  const pki = join(work, 'pki');
  await makeCa(pki, true);
  await makeCa(join(work, 'other-pki'), false);
  certs = join(work, 'certs');
  otherCerts = join(work, 'other-certs');
  mkdirSync(certs);
  mkdirSync(otherCerts);
  writeFileSync(join(certs, 'ca.crt'), readFileSync(join(pki, 'ca.crt')));
  writeFileSync(join(otherCerts, 'ca.crt'), readFileSync(join(work, 'other-pki', 'ca.crt')));
  // this process's own requests (the http helper) trust the test CA
  globalAgent.options.ca = readFileSync(join(pki, 'ca.crt'));
  s = await startRealServer('https', {
    args: ['--tls-cert', join(pki, 'server.crt'), '--tls-key', join(pki, 'server.key')],
    env: { BERTH_LOG_LEVEL: 'info' }, // request lines, to see the token endpoint used
  });
});
afterAll(async () => {
  await s?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

const remote = (ref: string) => `docker://${s.hostPort}/${ref}`;
const APP = `oci-archive:${fixture('app.oci.tar')}:1.0`;

/** Runs the built `berth` with `env` added; never rejects. */
function berth(
  env: NodeJS.ProcessEnv,
  ...args: string[]
): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [BIN, ...args],
      { env: { ...process.env, ...env }, timeout: 20_000 },
      (e, out, err) => resolve({ code: e ? (typeof e.code === 'number' ? e.code : -1) : 0, out, err }),
    );
  });
}

describe('berth serve over HTTPS', () => {
  it('answers on https:// and challenges for a token at https://…/token', async () => {
    expect(s.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const r = await http('GET', `${s.url}/v2/`, undefined, ANONYMOUS);
    expect(r.status).toBe(401);
    const challenge = String(r.headers['www-authenticate']);
    expect(challenge).toBe(`Bearer realm="https://${s.hostPort}/token",service="berth"`);
    const realm = /realm="([^"]+)"/.exec(challenge)![1]!;
    const t = await http('GET', `${realm}?service=berth&scope=repository:tls/app:pull`, undefined, {
      authorization: basic(ADMIN.user, ADMIN.password),
    });
    expect(t.status, t.body.toString()).toBe(200);
    const ok = await http('GET', `${s.url}/v2/`, undefined, { authorization: `Bearer ${t.json().token}` });
    expect(ok.status).toBe(200);
  });

  it('skopeo verifying the certificate pushes with credentials, logs in, and pulls with the stored login', async () => {
    await skopeo('copy', '--quiet', '--dest-cert-dir', certs, APP, remote('tls/app:1.0'));
    const authfile = join(work, 'auth.json');
    await run('skopeo', [
      'login',
      '--cert-dir',
      certs,
      '--authfile',
      authfile,
      '--username',
      ADMIN.user,
      '--password',
      ADMIN.password,
      s.hostPort,
    ]);
    expect(Object.keys(JSON.parse(readFileSync(authfile, 'utf8')).auths)).toEqual([s.hostPort]);
    const out = join(work, 'pulled');
    await skopeo(
      'copy',
      '--quiet',
      '--src-cert-dir',
      certs,
      '--authfile',
      authfile,
      remote('tls/app:1.0'),
      `oci:${out}:1.0`,
    );
    const original = join(work, 'original');
    await skopeo('copy', '--quiet', APP, `oci:${original}:1.0`);
    expect(readLayout(out).digest).toBe(readLayout(original).digest);
    const tags = JSON.parse(await skopeo('list-tags', '--cert-dir', certs, remote('tls/app')));
    expect(tags.Tags).toEqual(['1.0']);
    // the way in was the token flow: skopeo fetched registry tokens from /token
    expect(s.output()).toMatch(/"url":"\/token\?/);
  });

  it('skopeo without the CA (or with another CA) refuses the server with a certificate error', async () => {
    const certError = /x509|certificate/i;
    await expect(skopeo('copy', '--quiet', APP, remote('tls/untrusted:1.0'))).rejects.toThrow(certError);
    await expect(
      skopeo('copy', '--quiet', '--dest-cert-dir', otherCerts, APP, remote('tls/untrusted:1.0')),
    ).rejects.toThrow(certError);
    await expect(skopeo('inspect', '--raw', remote('tls/app:1.0'))).rejects.toThrow(certError);
    await expect(
      run('skopeo', [
        'login',
        '--authfile',
        join(work, 'none.json'),
        '-u',
        ADMIN.user,
        '-p',
        ADMIN.password,
        s.hostPort,
      ]),
    ).rejects.toThrow(certError);
    expect((await http('GET', `${s.url}/v2/tls/untrusted/tags/list`)).status).toBe(404);
  });

  it('the berth CLI trusts the server through NODE_EXTRA_CA_CERTS, and says what to do without it', async () => {
    const creds = ['--username', ADMIN.user, '--password', ADMIN.password];
    const ok = await berth(
      { NODE_EXTRA_CA_CERTS: join(certs, 'ca.crt') },
      'repo',
      'list',
      '--server',
      s.url,
      ...creds,
    );
    expect(ok.err).toBe('');
    expect(ok.code).toBe(0);
    expect(ok.out).toMatch(/^tls\/app\s+1\s/m);
    const byName = await berth(
      { NODE_EXTRA_CA_CERTS: join(certs, 'ca.crt') },
      'repo',
      'list',
      '--server',
      s.url.replace('127.0.0.1', 'localhost'),
      ...creds,
    );
    expect(byName.code, byName.err).toBe(0);

    const refused = await berth({ NODE_EXTRA_CA_CERTS: '' }, 'repo', 'list', '--server', s.url, ...creds);
    expect(refused.code).toBe(1);
    expect(refused.err).toMatch(/has a certificate this machine does not trust/);
    expect(refused.err).toMatch(/NODE_EXTRA_CA_CERTS/);
    const other = await berth(
      { NODE_EXTRA_CA_CERTS: join(otherCerts, 'ca.crt') },
      'repo',
      'list',
      '--server',
      s.url,
      ...creds,
    );
    expect(other.code).toBe(1);
    expect(other.err).toMatch(/does not trust/);
  });

  it('plain HTTP to the HTTPS port gets no answer', async () => {
    const plain = s.url.replace(/^https:/, 'http:');
    await expect(http('GET', `${plain}/v2/`)).rejects.toThrow(/socket hang up|ECONNRESET/);
    await expect(
      skopeo('inspect', '--raw', '--tls-verify=false', remote('tls/app:1.0')),
    ).resolves.toBeTruthy(); // https without verification still answers
  });

  it('berth serve with only one of --tls-cert and --tls-key exits with a clear message', async () => {
    const data = join(work, 'half-data');
    for (const half of [
      ['--tls-cert', join(work, 'pki', 'server.crt')],
      ['--tls-key', join(work, 'pki', 'server.key')],
    ]) {
      const r = await berth({}, 'serve', '--listen', '127.0.0.1:0', '--data', data, ...half);
      expect(r.code, r.out + r.err).toBe(1);
      expect(r.err).toMatch(/--tls-cert and --tls-key go together: give both, or neither for plain HTTP/);
      expect(r.out).not.toMatch(/listening/);
    }
    const env = await berth(
      { BERTH_TLS_CERT: join(work, 'pki', 'server.crt') },
      'serve',
      '--listen',
      '127.0.0.1:0',
      '--data',
      data,
    );
    expect(env.code).toBe(1);
    expect(env.err).toMatch(/go together/);
  });

  it('berth serve names the file at fault: one it cannot read, a key that is not the certificate’s', async () => {
    const data = join(work, 'bad-data');
    const pki = join(work, 'pki');
    const missing = await berth(
      {},
      'serve',
      '--listen',
      '127.0.0.1:0',
      '--data',
      data,
      '--tls-cert',
      join(work, 'nope.crt'),
      '--tls-key',
      join(pki, 'server.key'),
    );
    expect(missing.code).toBe(1);
    expect(missing.err).toMatch(/cannot read --tls-cert .*nope\.crt: ENOENT/);
    const mismatch = await berth(
      {},
      'serve',
      '--listen',
      '127.0.0.1:0',
      '--data',
      data,
      '--tls-cert',
      join(pki, 'server.crt'),
      '--tls-key',
      join(pki, 'ca.key'),
    );
    expect(mismatch.code).toBe(1);
    expect(mismatch.err).toMatch(
      /--tls-cert .*server\.crt and --tls-key .*ca\.key are not a PEM certificate \(chain\) and its private key: .*key values mismatch/,
    );
    const swapped = await berth(
      {},
      'serve',
      '--listen',
      '127.0.0.1:0',
      '--data',
      data,
      '--tls-cert',
      join(pki, 'server.key'),
      '--tls-key',
      join(pki, 'server.crt'),
    );
    expect(swapped.code).toBe(1);
    expect(swapped.err).toMatch(/are not a PEM certificate/);
    expect(missing.out + mismatch.out + swapped.out).not.toMatch(/listening/);
  });
});
