// Stored logins: where the file is, its modes, atomic replacement, and the credential resolution order.
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { credentialsFor } from './credentials.js';
import { configDir, credentialsFile, forgetLogin, serverKey, storedLogin, storeLogin } from './logins.js';

let root: string;
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'berth-logins-'));
  vi.stubEnv('BERTH_CONFIG_DIR', join(root, 'config', 'berth'));
});
afterEach(() => {
  vi.unstubAllEnvs();
  rmSync(root, { recursive: true, force: true });
});

const ALICE = { username: 'alice', token: 'berth_aaaaaaaaaaaa_secret', tokenId: 'aaaaaaaaaaaa' };
const mode = (path: string): number => statSync(path).mode & 0o777;

describe('configDir', () => {
  it('is BERTH_CONFIG_DIR, else $XDG_CONFIG_HOME/berth when absolute, else ~/.config/berth', () => {
    expect(configDir({ BERTH_CONFIG_DIR: '/c', XDG_CONFIG_HOME: '/x' })).toBe('/c');
    expect(configDir({ XDG_CONFIG_HOME: '/x' })).toBe('/x/berth');
    expect(configDir({ XDG_CONFIG_HOME: 'relative', HOME: '/home/u' })).toMatch(/\.config\/berth$/);
    expect(configDir({})).toMatch(/\.config\/berth$/);
  });
});

describe('stored logins', () => {
  it('are keyed by the server URL as parsed', () => {
    expect(serverKey('http://LOCALHOST:80')).toBe('http://localhost/');
    expect(serverKey('http://127.0.0.1:5000/berth')).toBe('http://127.0.0.1:5000/berth/');
    storeLogin('http://127.0.0.1:5000', ALICE);
    expect(storedLogin('http://127.0.0.1:5000/')).toEqual(ALICE);
    expect(storedLogin('http://127.0.0.1:5001')).toBeUndefined();
  });

  it('live in a 0600 file in a 0700 directory it creates, replaced atomically', () => {
    expect(storeLogin('http://a:1', ALICE)).toBeUndefined();
    const bob = { username: 'bob', token: 'berth_bbbbbbbbbbbb_x', tokenId: 'bbbbbbbbbbbb' };
    expect(storeLogin('http://a:1', bob)).toEqual(ALICE);
    storeLogin('http://b:2', ALICE);
    const file = credentialsFile();
    expect(mode(file)).toBe(0o600);
    expect(mode(join(root, 'config', 'berth'))).toBe(0o700);
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual({
      servers: { 'http://a:1/': bob, 'http://b:2/': ALICE },
    });
    expect(readdirSync(join(root, 'config', 'berth'))).toEqual(['credentials.json']); // no temp files left
  });

  it('are forgotten one server at a time', () => {
    storeLogin('http://a:1', ALICE);
    storeLogin('http://b:2', ALICE);
    expect(forgetLogin('http://a:1')).toEqual(ALICE);
    expect(forgetLogin('http://a:1')).toBeUndefined();
    expect(storedLogin('http://b:2')).toEqual(ALICE);
  });

  it('refuse a file that is not theirs, saying what to do', () => {
    storeLogin('http://a:1', ALICE);
    writeFileSync(credentialsFile(), '{"servers": 3}');
    expect(() => storedLogin('http://a:1')).toThrow('is not a berth credentials file: delete it');
    writeFileSync(credentialsFile(), 'nope');
    expect(() => storedLogin('http://a:1')).toThrow('is not JSON');
  });
});

describe('credentialsFor', () => {
  const basic = (u: string, p: string) => `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}`;

  it('takes a password (options or environment) first, then the stored login, else none', () => {
    storeLogin('http://a:1', ALICE);
    expect(credentialsFor({ server: 'http://a:1', username: 'admin', password: 'pw' })).toMatchObject({
      authorization: basic('admin', 'pw'),
      source: 'options',
    });
    expect(credentialsFor({ server: 'http://a:1', password: 'berth_x_y' })).toMatchObject({
      authorization: 'Bearer berth_x_y',
      source: 'options',
    });
    expect(credentialsFor({ server: 'http://a:1/' })).toMatchObject({
      authorization: basic('alice', ALICE.token),
      source: 'login',
    });
    expect(credentialsFor({ server: 'http://a:1', username: 'alice' }).source).toBe('login');
    expect(credentialsFor({ server: 'http://a:1', username: 'bob' })).toMatchObject({
      authorization: undefined,
      source: 'none',
    });
    expect(credentialsFor({ server: 'http://b:2' }).source).toBe('none');
  });
});
