// Actions and what they imply, repository patterns, grants, and token scopes as written on the command line.
import { describe, expect, it } from 'vitest';
import { BerthError } from '../core/errors.js';
import {
  allowedBy,
  expand,
  formatScope,
  isAction,
  matches,
  parseActions,
  parsePattern,
  parseScope,
} from './permissions.js';

const invalid = (f: () => unknown): string => {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(BerthError);
    expect((e as BerthError).code).toBe('PARAMETER_INVALID');
    return (e as BerthError).message;
  }
  throw new Error('expected PARAMETER_INVALID');
};

describe('actions', () => {
  it('knows pull, push, delete and admin, and nothing else', () => {
    for (const a of ['pull', 'push', 'delete', 'admin']) expect(isAction(a)).toBe(true);
    for (const a of ['', 'PULL', 'read', '*', 'pull,push', 'constructor', 'toString'])
      expect(isAction(a)).toBe(false);
  });

  it('push and delete imply pull; admin implies everything; pull implies only itself', () => {
    expect(expand(['pull'])).toEqual(new Set(['pull']));
    expect(expand(['push'])).toEqual(new Set(['pull', 'push']));
    expect(expand(['delete'])).toEqual(new Set(['pull', 'delete']));
    expect(expand(['admin'])).toEqual(new Set(['pull', 'push', 'delete', 'admin']));
    expect(expand(['push', 'delete'])).toEqual(new Set(['pull', 'push', 'delete']));
    expect(expand([])).toEqual(new Set());
  });

  it('parses comma lists and arrays, trimming, dropping repeats, in canonical order', () => {
    expect(parseActions('pull')).toEqual(['pull']);
    expect(parseActions('push, pull')).toEqual(['pull', 'push']);
    expect(parseActions('admin,delete,push,pull,push')).toEqual(['pull', 'push', 'delete', 'admin']);
    expect(parseActions(['delete', 'pull'])).toEqual(['pull', 'delete']);
  });

  it('refuses unknown names, empty entries and empty lists, saying what is allowed', () => {
    for (const bad of ['', 'read', 'pull,', ',pull', 'pull,,push', 'Pull', '*']) {
      expect(invalid(() => parseActions(bad))).toMatch(/pull, push, delete and admin/);
    }
    invalid(() => parseActions([]));
    invalid(() => parseActions(['pull', 'write']));
  });
});

describe('repository patterns', () => {
  it('accepts a repository name, a prefix ending in /*, and *', () => {
    for (const p of ['app', 'team/app', 'team/x/y', 'team/*', 'team/x/*', '*', 'a.b-c_d/e']) {
      expect(parsePattern(p)).toBe(p);
    }
  });

  it('refuses what is neither', () => {
    for (const bad of [
      '',
      '/',
      'team/',
      '/app',
      'Team/app',
      'team*',
      'team/a*',
      '*/*',
      '**',
      'team/**',
      'a//b',
      '*/app',
    ]) {
      expect(invalid(() => parsePattern(bad))).toMatch(/not a repository pattern/);
    }
  });

  it('a name matches itself only; a prefix matches below it, not itself nor a longer sibling; * matches all', () => {
    expect(matches('team/app', 'team/app')).toBe(true);
    expect(matches('team/app', 'team/app/sub')).toBe(false);
    expect(matches('team/app', 'team/ap')).toBe(false);
    expect(matches('team/*', 'team/app')).toBe(true);
    expect(matches('team/*', 'team/x/y')).toBe(true);
    expect(matches('team/*', 'team')).toBe(false);
    expect(matches('team/*', 'teammate/app')).toBe(false);
    expect(matches('team/*', 'other/team/app')).toBe(false);
    expect(matches('*', 'anything/at/all')).toBe(true);
    expect(matches('*', 'x')).toBe(true);
  });
});

describe('grants', () => {
  const grants = [
    { pattern: 'team/*', actions: ['pull'] as const },
    { pattern: 'team/app', actions: ['push'] as const },
    { pattern: 'ops/db', actions: ['delete'] as const },
  ];

  it('allow the union of the matching grants, with implications', () => {
    expect(allowedBy(grants, 'team/app')).toEqual(new Set(['pull', 'push']));
    expect(allowedBy(grants, 'team/other')).toEqual(new Set(['pull']));
    expect(allowedBy(grants, 'ops/db')).toEqual(new Set(['pull', 'delete']));
    expect(allowedBy(grants, 'ops/other')).toEqual(new Set());
    expect(allowedBy(grants, 'team')).toEqual(new Set());
    expect(allowedBy([], 'team/app')).toEqual(new Set());
    expect(allowedBy([{ pattern: '*', actions: ['admin'] }], 'x/y')).toEqual(
      new Set(['pull', 'push', 'delete', 'admin']),
    );
  });
});

describe('token scopes', () => {
  it('parse repository:PATTERN:ACTIONS and format back', () => {
    expect(parseScope('repository:team/*:pull,push')).toEqual({
      pattern: 'team/*',
      actions: ['pull', 'push'],
    });
    expect(parseScope(' repository:app:push,pull ')).toEqual({ pattern: 'app', actions: ['pull', 'push'] });
    expect(parseScope('repository:*:admin')).toEqual({ pattern: '*', actions: ['admin'] });
    for (const s of ['repository:team/*:pull,push', 'repository:a/b/c:delete', 'repository:*:pull']) {
      expect(formatScope(parseScope(s))).toBe(s);
    }
  });

  it('refuse other shapes, bad patterns and bad actions', () => {
    for (const bad of [
      '',
      'team/app:pull',
      'repository:team/app',
      'repository:team/app:',
      'repository::pull',
      'registry:catalog:*',
      'repository:team/app:pull push',
      'repository:team/app:*',
      'REPOSITORY:team/app:pull',
    ]) {
      invalid(() => parseScope(bad));
    }
    expect(invalid(() => parseScope('repository:team/:pull'))).toMatch(/not a repository pattern/);
    expect(invalid(() => parseScope('repository:team/app:pull,write'))).toMatch(/not a list of actions/);
    expect(invalid(() => parseScope('repository:team/app:pull,'))).toMatch(/not a list of actions/);
  });
});
