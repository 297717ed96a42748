// Remote passwords at rest: AES-256-GCM round trip, bound to the remote's name; the key file made once, mode 0600.
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BerthError } from '../core/errors.js';
import { keyId, loadOrCreateKey, parseKey, Secrets } from './secrets.js';

const dir = mkdtempSync(join(tmpdir(), 'secrets-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const fixed = (hex: string) =>
  new Secrets('/nowhere/secret.key', async () => Buffer.from(hex.repeat(64), 'hex'));

async function refusal(p: Promise<unknown>): Promise<BerthError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(BerthError);
  return e as BerthError;
}

describe('Secrets', () => {
  it('decrypts what it encrypted; the stored text holds neither the password nor anything equal twice', async () => {
    const s = fixed('a');
    const one = await s.encrypt('hub', 'hunter2-password');
    const two = await s.encrypt('hub', 'hunter2-password');
    expect(one).not.toContain('hunter2');
    expect(one).not.toBe(two); // a fresh IV each time
    expect(one).toMatch(/^v1:[0-9a-f]{8}:/);
    expect(await s.decrypt('hub', one)).toBe('hunter2-password');
    expect(await s.decrypt('hub', two)).toBe('hunter2-password');
  });

  it('refuses, naming the remote and both keys, a secret another key encrypted', async () => {
    const stored = await fixed('a').encrypt('hub', 'pw');
    const e = await refusal(fixed('b').decrypt('hub', stored));
    expect(e.code).toBe('REMOTE_SECRET_UNREADABLE');
    expect(e.status).toBe(500);
    expect(e.message).toContain('the password of remote hub cannot be decrypted');
    expect(e.message).toContain(`another key (id ${keyId(Buffer.from('a'.repeat(64), 'hex'))})`);
    expect(e.message).toContain('--secret-key-file');
    expect(e.message).not.toContain('pw');
  });

  it("refuses a secret moved to another remote's row, and one altered", async () => {
    const s = fixed('a');
    const stored = await s.encrypt('hub', 'pw');
    expect((await refusal(s.decrypt('quay', stored))).message).toContain('remote quay');
    const [v, id, body] = stored.split(':') as [string, string, string];
    const raw = Buffer.from(body, 'base64');
    raw.writeUInt8(raw.readUInt8(raw.length - 1) ^ 1, raw.length - 1);
    expect((await refusal(s.decrypt('hub', `${v}:${id}:${raw.toString('base64')}`))).message).toContain(
      'does not authenticate',
    );
    expect((await refusal(s.decrypt('hub', 'plain text'))).message).toContain('not in a format');
  });
});

describe('the key file', () => {
  it('is made on first need with mode 0600 and 64 hex digits, then read back the same', async () => {
    const file = join(dir, 'a', 'secret.key');
    const key = await loadOrCreateKey(file);
    expect(key.length).toBe(32);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readFileSync(file, 'utf8')).toMatch(/^[0-9a-f]{64}\n$/);
    expect((await loadOrCreateKey(file)).equals(key)).toBe(true);
    // a Secrets on it encrypts for another Secrets on the same file (another process)
    const stored = await new Secrets(file).encrypt('hub', 'pw');
    expect(await new Secrets(file).decrypt('hub', stored)).toBe('pw');
  });

  it('is not made to decrypt: a server with no key file says so, naming the remote and the file', async () => {
    const file = join(dir, 'absent', 'secret.key');
    const stored = await fixed('a').encrypt('hub', 'pw');
    const e = await refusal(new Secrets(file).decrypt('hub', stored));
    expect(e.code).toBe('REMOTE_SECRET_UNREADABLE');
    expect(e.message).toContain(
      `the password of remote hub cannot be decrypted: this server has no secret key: ${file} does not exist`,
    );
    expect(existsSync(file)).toBe(false);
  });

  it('made by many at once, is one key that all of them use', async () => {
    const file = join(dir, 'race', 'secret.key');
    const keys = await Promise.all(Array.from({ length: 16 }, () => loadOrCreateKey(file)));
    for (const k of keys) expect(k.equals(keys[0]!)).toBe(true);
    expect(readFileSync(file, 'utf8').trim()).toBe(keys[0]!.toString('hex'));
  });

  it('takes hex or base64; anything else is refused naming the file and how to make one', async () => {
    const bytes = Buffer.alloc(32, 7);
    expect(parseKey(`${bytes.toString('hex')}\n`, 'f').equals(bytes)).toBe(true);
    expect(parseKey(bytes.toString('base64'), 'f').equals(bytes)).toBe(true);
    const file = join(dir, 'bad.key');
    writeFileSync(file, 'too short\n');
    await expect(loadOrCreateKey(file)).rejects.toThrow(
      `the secret key file ${file} does not hold a key: it must hold 32 bytes as 64 hex digits (make one with \`openssl rand -hex 32\`)`,
    );
  });
});
