// X-Forwarded-For behind a proxy: only the configured proxies are trusted and the client is the rightmost address
// they did not add, so what a client writes into the header moves neither the per-address login limit nor the audit.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseTrustedProxies } from '../../src/server.js';
import { basic, http, startTestServer, type TestServer } from '../helpers/in-process.js';
import { BIN, run, startRealServer, type RealServer } from '../helpers/real-server.js';

const POLICY = { free: 5, baseDelayMs: 1000, maxDelayMs: 60_000, windowMs: 900_000 };
/** The login limits' time: it moves only when a test says so (here never: every attempt is at once). */
const AUTH = { loginPolicy: POLICY, now: () => 1_800_000_000_000 };
const JSON_TYPE = { 'content-type': 'application/json' };

/** `count` wrong logins with a new user name each, every one with a forged X-Forwarded-For from `header(i)`. */
async function guesses(url: string, count: number, header: (i: number) => string): Promise<number[]> {
  const statuses: number[] = [];
  for (let i = 0; i < count; i++) {
    const r = await http('GET', `${url}/v2/`, undefined, {
      authorization: basic(`nobody${i}`, `guess-${i}`),
      'x-forwarded-for': header(i),
    });
    statuses.push(r.status);
  }
  return statuses;
}

/** Creates a user as the administrator with `xff` as X-Forwarded-For; answers the audit entry's address. */
async function auditedAddress(url: string, name: string, xff: string): Promise<string | null> {
  const made = await http(
    'POST',
    `${url}/api/v1/users`,
    JSON.stringify({ name, password: `${name}-password` }),
    { ...JSON_TYPE, 'x-forwarded-for': xff },
  );
  expect(made.status, made.body.toString()).toBe(201);
  const audit = await http('GET', `${url}/api/v1/audit?action=user.create`);
  expect(audit.status).toBe(200);
  const entry = (audit.json().entries as { address: string | null; detail: { user?: string } }[]).find(
    (e) => e.detail.user === name,
  );
  expect(entry, `an audit entry for ${name}`).toBeDefined();
  return entry!.address;
}

const FIVE_THEN_429 = (n: number) => [...Array(5).fill(401), ...Array(n - 5).fill(429)];

describe('X-Forwarded-For from a trusted proxy (127.0.0.1: the test is the proxy)', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer('forwarded', { auth: AUTH, trustProxy: ['127.0.0.1'] });
  });
  afterAll(async () => s?.close());

  it('a client rotating the left of the header it sends is still one address: 5 × 401, then 429', async () => {
    // nginx's $proxy_add_x_forwarded_for: what the client sent, then the address nginx saw (203.0.113.7)
    const statuses = await guesses(s.url, 12, (i) => `198.51.100.${i}, 203.0.113.7`);
    expect(statuses).toEqual(FIVE_THEN_429(12));
    const r = await http('GET', `${s.url}/v2/`, undefined, {
      authorization: basic('someone', 'wrong'),
      'x-forwarded-for': '203.0.113.7',
    });
    expect(r.status).toBe(429);
    expect(r.json().errors[0].message).toMatch(/from 203\.0\.113\.7:/);
  });

  it('the audit log records the address the proxy appended, not the forged ones', async () => {
    expect(await auditedAddress(s.url, 'audited', '192.0.2.66, 10.9.9.9, 203.0.113.9')).toBe('203.0.113.9');
  });
});

describe('X-Forwarded-For through two proxies (127.0.0.1 and 10.0.0.0/8)', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer('forwarded-chain', { trustProxy: ['127.0.0.1', '10.0.0.0/8'] });
  });
  afterAll(async () => s?.close());

  it('the client is the rightmost address no trusted proxy is', async () => {
    expect(await auditedAddress(s.url, 'chained', '6.6.6.6, 192.0.2.5, 10.1.2.3')).toBe('192.0.2.5');
  });
});

describe('X-Forwarded-For without --trust-proxy', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer('forwarded-off', { auth: AUTH });
  });
  afterAll(async () => s?.close());

  it('is ignored: the address is the peer', async () => {
    expect(await auditedAddress(s.url, 'peer', '203.0.113.50')).toBe('127.0.0.1');
    expect(await guesses(s.url, 7, (i) => `198.51.100.${i}`)).toEqual(FIVE_THEN_429(7));
  });
});

describe('berth serve --trust-proxy', () => {
  let real: RealServer;
  beforeAll(async () => {
    real = await startRealServer('forwarded-cli', { args: ['--trust-proxy', '127.0.0.1'] });
  });
  afterAll(async () => real?.stop());

  it('takes the proxies: forged addresses move neither the login limit nor the audit', async () => {
    // the default policy on the real clock: the sixth attempt comes well within the first wait (1 s)
    expect(await guesses(real.url, 7, (i) => `198.51.100.${i}, 203.0.113.77`)).toEqual(FIVE_THEN_429(7));
    expect(await auditedAddress(real.url, 'cli', '192.0.2.66, 203.0.113.78')).toBe('203.0.113.78');
  });

  it('refuses a value that is not addresses or CIDRs, naming it', async () => {
    const data = mkdtempSync(join(tmpdir(), 'forwarded-bad-'));
    try {
      for (const bad of ['true', '1']) {
        const started = run(process.execPath, [
          BIN,
          'serve',
          '--listen',
          '127.0.0.1:0',
          '--data',
          data,
          '--trust-proxy',
          bad,
        ]);
        await expect(started).rejects.toThrow(
          new RegExp(`--trust-proxy takes the addresses or CIDRs of the proxies in front.*not "${bad}"`),
        );
      }
    } finally {
      rmSync(data, { recursive: true, force: true });
    }
  });
});

describe('parseTrustedProxies', () => {
  it('reads addresses, CIDRs and the range names of proxy-addr', () => {
    expect(parseTrustedProxies('127.0.0.1')).toEqual(['127.0.0.1']);
    expect(parseTrustedProxies('10.0.0.5, 10.1.0.0/16,fd00::/8, ::1, loopback')).toEqual([
      '10.0.0.5',
      '10.1.0.0/16',
      'fd00::/8',
      '::1',
      'loopback',
    ]);
  });

  it('refuses anything else', () => {
    for (const bad of ['', 'yes', '10.0.0.0/33', '10.0.0', '::1/129', '10.0.0.0/8/1', '10.0.0.0/x', '*'])
      expect(() => parseTrustedProxies(bad), bad).toThrow(/--trust-proxy takes the addresses or CIDRs/);
  });
});
