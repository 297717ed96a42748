// Who may do what: anonymous callers, users by password, API tokens (scoped or not), registry tokens.
import { describe, expect, it } from 'vitest';
import type { Action, Grant } from './permissions.js';
import { anonymous, can, registryTokenPrincipal, userPrincipal, type Principal } from './principal.js';

const ALL = ['pull', 'push', 'delete', 'admin'];
const sorted = (p: Principal, repo: string): string[] => [...p.actions(repo)].sort();
const none: () => readonly string[] = () => [];
const grants: Grant[] = [
  { pattern: 'team/*', actions: ['push'] },
  { pattern: 'ops/db', actions: ['delete'] },
];

describe('anonymous', () => {
  it('pulls from public repositories only, and is nobody', () => {
    const p = anonymous(() => ['pub/*', 'docs']);
    expect(p).toMatchObject({ user: null, by: 'anonymous', admin: false });
    expect(sorted(p, 'pub/app')).toEqual(['pull']);
    expect(sorted(p, 'docs')).toEqual(['pull']);
    expect(sorted(p, 'docs/sub')).toEqual([]);
    expect(sorted(p, 'team/app')).toEqual([]);
    expect(can(p, 'pub/app', 'push')).toBe(false);
  });

  it('follows the public patterns as they change (they are read on every check)', () => {
    let pub: string[] = [];
    const p = anonymous(() => pub);
    expect(can(p, 'x/y', 'pull')).toBe(false);
    pub = ['x/*'];
    expect(can(p, 'x/y', 'pull')).toBe(true);
    pub = [];
    expect(can(p, 'x/y', 'pull')).toBe(false);
  });
});

describe('a user by password', () => {
  it('has what the grants allow, implications included, plus public pull', () => {
    const p = userPrincipal({ user: 'bob', admin: false, grants, publicPatterns: () => ['pub/*'] });
    expect(p).toMatchObject({ user: 'bob', by: 'password', admin: false });
    expect(p.tokenId).toBeUndefined();
    expect(sorted(p, 'team/app')).toEqual(['pull', 'push']);
    expect(sorted(p, 'ops/db')).toEqual(['delete', 'pull']);
    expect(sorted(p, 'ops/other')).toEqual([]);
    expect(sorted(p, 'pub/x')).toEqual(['pull']);
  });

  it('an administrator may do everything everywhere and is an instance administrator', () => {
    const p = userPrincipal({ user: 'root', admin: true, grants: [], publicPatterns: none });
    expect(p.admin).toBe(true);
    expect(sorted(p, 'any/repo')).toEqual([...ALL].sort());
  });
});

describe('a user by API token', () => {
  it('an unscoped token is its user (an administrator’s stays an administrator)', () => {
    const p = userPrincipal({
      user: 'bob',
      admin: false,
      grants,
      publicPatterns: none,
      tokenId: 't1',
      scopes: null,
    });
    expect(p).toMatchObject({ user: 'bob', by: 'api-token', tokenId: 't1', admin: false });
    expect(sorted(p, 'team/app')).toEqual(['pull', 'push']);
    const a = userPrincipal({
      user: 'root',
      admin: true,
      grants: [],
      publicPatterns: none,
      tokenId: 't2',
      scopes: null,
    });
    expect(a.admin).toBe(true);
    expect(sorted(a, 'x')).toEqual([...ALL].sort());
  });

  it('a scoped token gets what both its scopes and its user allow, never beyond its user', () => {
    const p = userPrincipal({
      user: 'bob',
      admin: false,
      grants,
      publicPatterns: none,
      tokenId: 't1',
      scopes: [
        { pattern: '*', actions: ['admin'] }, // asks for everything: still only what bob has
      ],
    });
    expect(sorted(p, 'team/app')).toEqual(['pull', 'push']);
    expect(sorted(p, 'ops/db')).toEqual(['delete', 'pull']);
    expect(sorted(p, 'elsewhere/x')).toEqual([]);
    expect(p.admin).toBe(false);

    const narrow = userPrincipal({
      user: 'bob',
      admin: false,
      grants,
      publicPatterns: none,
      tokenId: 't2',
      scopes: [{ pattern: 'team/app', actions: ['pull'] }],
    });
    expect(sorted(narrow, 'team/app')).toEqual(['pull']);
    expect(sorted(narrow, 'team/other')).toEqual([]); // bob may push there, the token may not even pull
    expect(sorted(narrow, 'ops/db')).toEqual([]);
  });

  it('a scoped token of an administrator is limited to its scopes and is not an instance administrator', () => {
    const p = userPrincipal({
      user: 'root',
      admin: true,
      grants: [],
      publicPatterns: none,
      tokenId: 't3',
      scopes: [{ pattern: 'ci/*', actions: ['push'] }],
    });
    expect(p.admin).toBe(false);
    expect(sorted(p, 'ci/app')).toEqual(['pull', 'push']);
    expect(sorted(p, 'prod/app')).toEqual([]);
    expect(can(p, 'ci/app', 'admin')).toBe(false);
    expect(can(p, 'ci/app', 'delete')).toBe(false);
  });

  it('an empty scope list allows nothing but public pull (it is not "unscoped")', () => {
    const p = userPrincipal({
      user: 'root',
      admin: true,
      grants: [],
      publicPatterns: () => ['pub/*'],
      tokenId: 't4',
      scopes: [],
    });
    expect(p.admin).toBe(false);
    expect(sorted(p, 'x')).toEqual([]);
    expect(sorted(p, 'pub/x')).toEqual(['pull']);
  });

  it('public pull applies to a scoped token even outside its scopes (anyone may pull there)', () => {
    const p = userPrincipal({
      user: 'bob',
      admin: false,
      grants,
      publicPatterns: () => ['pub/*'],
      tokenId: 't5',
      scopes: [{ pattern: 'team/*', actions: ['pull'] }],
    });
    expect(sorted(p, 'pub/x')).toEqual(['pull']);
  });
});

describe('a registry token', () => {
  const access = new Map<string, Set<Action>>([
    ['team/app', new Set<Action>(['pull', 'push'])],
    ['ops/db', new Set<Action>(['delete'])],
  ]);

  it('allows exactly the actions it names on the repositories it names (no implications), plus public pull', () => {
    const p = registryTokenPrincipal({ user: 'bob', tokenId: 't1', access, publicPatterns: () => ['pub/*'] });
    expect(p).toMatchObject({ user: 'bob', by: 'registry-token', tokenId: 't1', admin: false });
    expect(sorted(p, 'team/app')).toEqual(['pull', 'push']);
    expect(sorted(p, 'ops/db')).toEqual(['delete']);
    expect(sorted(p, 'team/other')).toEqual([]); // names, never patterns
    expect(sorted(p, 'pub/x')).toEqual(['pull']);
  });

  it('is never an instance administrator, and may be anonymous', () => {
    const p = registryTokenPrincipal({ user: null, access: new Map(), publicPatterns: none });
    expect(p).toMatchObject({ user: null, by: 'registry-token', admin: false });
    expect(p.tokenId).toBeUndefined();
    expect(sorted(p, 'x')).toEqual([]);
  });

  it('does not hand out the set it was built from (a caller cannot widen it by mutation)', () => {
    const p = registryTokenPrincipal({ user: 'bob', access, publicPatterns: none });
    (p.actions('team/app') as Set<Action>).add('admin');
    expect(sorted(p, 'team/app')).toEqual(['pull', 'push']);
    const u = userPrincipal({ user: 'root', admin: true, grants: [], publicPatterns: none });
    (u.actions('x') as Set<Action>).delete('admin');
    expect(can(u, 'x', 'admin')).toBe(true);
  });
});
