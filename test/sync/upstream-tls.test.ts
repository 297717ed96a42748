// The Upstream client against a Distribution serving HTTPS with a self-signed certificate: refused by default, trusted through the remote's caPem, or with tlsVerify off.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { globalAgent } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect } from 'vitest';
import { BerthError } from '../../src/core/errors.js';
import { createUpstream } from '../../src/sync/upstream-http.js';
import { hasCommand, skipUnless } from '../helpers/backend.js';
import {
  connectionTo,
  hasDistribution,
  NO_DISTRIBUTION,
  pushImage,
  startDistribution,
  type PushedImage,
  type UpstreamRegistry,
} from '../helpers/upstreams.js';

const it = skipUnless(
  hasDistribution() && hasCommand('openssl'),
  `${NO_DISTRIBUTION}; openssl is needed too (apt-get install openssl)`,
);
const CREDS = { user: 'tls-syncer', password: 'tls-test-password' };

/** A self-signed certificate for 127.0.0.1 (its own issuer), made with openssl in `dir`. */
function selfSigned(dir: string, cn: string): { cert: string; key: string } {
  const cert = join(dir, `${cn}.crt`);
  const key = join(dir, `${cn}.key`);
  execFileSync('openssl', [
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-keyout',
    key,
    '-out',
    cert,
    '-days',
    '2',
    '-subj',
    `/CN=${cn}`,
    '-addext',
    'subjectAltName=IP:127.0.0.1,DNS:localhost',
  ]);
  return { cert, key };
}

let work: string;
let reg: UpstreamRegistry;
let img: PushedImage;
let caPem: string;
let otherPem: string;

beforeAll(async () => {
  if (!hasDistribution() || !hasCommand('openssl')) return;
  work = mkdtempSync(join(tmpdir(), 'upstream-tls-'));
  const tls = selfSigned(work, 'upstream');
  caPem = readFileSync(tls.cert, 'utf8');
  otherPem = readFileSync(selfSigned(work, 'other').cert, 'utf8');
  // the test's own requests (start-up check, pushes) trust the upstream; the client under test has its own agents
  globalAgent.options.ca = caPem;
  reg = await startDistribution({ creds: CREDS, tls });
  img = await pushImage(reg, 'team/app', 'v1', { layers: 2 });
}, 60_000);
afterAll(async () => {
  globalAgent.options.ca = undefined;
  await reg?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

async function failure(p: Promise<unknown>): Promise<BerthError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(BerthError);
  return e as BerthError;
}

describe('the Upstream client over TLS', () => {
  it('serves HTTPS', () => {
    expect(reg.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
  });

  it('refuses a self-signed upstream by default with an UPSTREAM_ERROR that says what to do', async () => {
    const u = createUpstream(connectionTo(reg, 'selfsigned'));
    const e = await failure(u.headManifest('team/app', 'v1'));
    expect(e.code).toBe('UPSTREAM_ERROR');
    expect(e.message).toMatch(/^remote selfsigned: /);
    expect(e.message).toMatch(/self[- ]signed certificate/);
    expect(e.message).toMatch(/caPem/);
    expect(e.message).toMatch(/tlsVerify/);
    expect(e.detail).toMatchObject({ remote: 'selfsigned', kind: 'untrusted-certificate' });
  });

  it('refuses it with another CA as caPem too', async () => {
    const u = createUpstream({ ...connectionTo(reg, 'otherca'), caPem: otherPem });
    const e = await failure(u.headManifest('team/app', 'v1'));
    expect(e.code).toBe('UPSTREAM_ERROR');
    expect(e.detail).toMatchObject({ kind: 'untrusted-certificate' });
  });

  it("trusts it through the remote's caPem: tags, manifests and verified blobs with Basic auth", async () => {
    const u = createUpstream({ ...connectionTo(reg, 'withca'), caPem });
    const tags: string[] = [];
    for await (const page of u.tags('team/app')) tags.push(...page);
    expect(tags).toEqual(['v1']);
    const m = await u.getManifest('team/app', 'v1');
    expect(m?.digest).toBe(img.digest);
    expect(m?.bytes.equals(img.manifest)).toBe(true);
    const layer = img.layers[0]!;
    const chunks: Buffer[] = [];
    for await (const c of await u.getBlob('team/app', layer.digest, layer.size)) chunks.push(c as Buffer);
    expect(Buffer.concat(chunks).equals(layer.bytes)).toBe(true);
  });

  it('accepts it with tlsVerify false', async () => {
    const u = createUpstream({ ...connectionTo(reg, 'noverify'), tlsVerify: false });
    const head = await u.headManifest('team/app', 'v1');
    expect(head).toEqual({ digest: img.digest, mediaType: img.mediaType, size: img.manifest.length });
  });
});
