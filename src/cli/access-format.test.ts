// The text of the access commands: token status, audit details, permission lines and whoami.
import { describe, expect, it } from 'vitest';
import {
  auditDetails,
  auditTable,
  permissionLines,
  tokenStatus,
  tokenTable,
  whoamiLines,
} from './access-format.js';

const token = {
  id: 'abcdefabcdef',
  user: 'ci',
  name: 'deploy',
  scopes: ['repository:team/*:pull'],
  createdAt: '2026-11-01T10:00:00.000Z',
  expiresAt: '2026-12-01T10:00:00.000Z',
  revokedAt: null,
  lastUsedAt: null,
};

describe('tokens', () => {
  it('are active, expired or revoked', () => {
    const before = Date.parse('2026-11-20T00:00:00Z');
    const after = Date.parse('2026-12-02T00:00:00Z');
    expect(tokenStatus(token, before)).toBe('active');
    expect(tokenStatus(token, after)).toBe('expired');
    expect(tokenStatus({ ...token, revokedAt: '2026-11-02T00:00:00Z' }, before)).toBe('revoked');
    expect(tokenStatus({ ...token, expiresAt: null }, after)).toBe('active');
  });

  it('list as a table; no scopes means all of the user’s rights', () => {
    expect(tokenTable([token, { ...token, id: 'x', scopes: null, expiresAt: null }], 0)).toBe(
      [
        'ID            USER  NAME    SCOPES                  EXPIRES               LAST USED  STATUS',
        'abcdefabcdef  ci    deploy  repository:team/*:pull  2026-12-01 10:00:00Z  never      active',
        'x             ci    deploy  all                     never                 never      active',
      ].join('\n'),
    );
    expect(tokenTable([])).toBe('no API tokens');
  });
});

describe('audit', () => {
  it('details are key=value, quoting what needs it', () => {
    expect(auditDetails({ status: 201, user: 'ci', admin: false, name: 'a b', scopes: ['x'], e: '' })).toBe(
      'status=201 user=ci admin=false name="a b" scopes=["x"] e=""',
    );
    expect(auditDetails(null)).toBe('');
  });

  it('entries of anonymous callers and without repository say so', () => {
    const entry = {
      id: 1,
      at: '2026-11-22T18:03:00.123Z',
      actor: null,
      address: null,
      action: 'manifest.push',
      repository: null,
      detail: null,
    };
    expect(auditTable([entry]).split('\n')[1]).toBe(
      '2026-11-22 18:03:00Z  (anonymous)  -        manifest.push  -           -',
    );
  });
});

it('permission lines say what an administrator and a user without grants may do', () => {
  expect(permissionLines('ann', false, [])).toBe('ann has no permissions (only public repositories: pull)');
  expect(permissionLines('root', true, [{ pattern: 'a/*', actions: ['pull'] }])).toBe(
    'root is an administrator: every action on every repository\nPATTERN  ACTIONS\na/*      pull',
  );
});

it('whoami names the user, how they authenticated and where the credentials came from', () => {
  const w = { user: 'ci', admin: false, authenticatedBy: 'api-token', tokenId: 'abc' };
  expect(whoamiLines(w, 'http://h:1/', 'login')).toContain(
    'authenticated by  API token abc\ncredentials       stored login',
  );
});
