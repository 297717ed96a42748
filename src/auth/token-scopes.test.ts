// The scope policy of API tokens: which scopes lie within which, and what a scoped token may create.
import { describe, expect, it } from 'vitest';
import { parseScope } from './permissions.js';
import { requireWithinScopes, within } from './token-scopes.js';

const g = (s: string) => parseScope(s);

describe('within', () => {
  it('a pattern lies within itself, a wider "/*" pattern, and "*"', () => {
    expect(within(g('repository:team/app:pull'), [g('repository:team/app:pull')])).toBe(true);
    expect(within(g('repository:team/app:pull'), [g('repository:team/*:pull')])).toBe(true);
    expect(within(g('repository:team/sub/app:pull'), [g('repository:team/*:pull')])).toBe(true);
    expect(within(g('repository:team/*:pull'), [g('repository:*:pull')])).toBe(true);
    expect(within(g('repository:*:pull'), [g('repository:*:pull')])).toBe(true);
  });

  it('a wider or another pattern does not', () => {
    expect(within(g('repository:team/*:pull'), [g('repository:team/app:pull')])).toBe(false);
    expect(within(g('repository:*:pull'), [g('repository:team/*:pull')])).toBe(false);
    expect(within(g('repository:teams/app:pull'), [g('repository:team/*:pull')])).toBe(false);
    expect(within(g('repository:team/app:pull'), [])).toBe(false);
  });

  it('actions count with what they imply: push implies pull, admin everything', () => {
    expect(within(g('repository:team/app:pull'), [g('repository:team/*:push')])).toBe(true);
    expect(within(g('repository:team/app:push'), [g('repository:team/*:pull')])).toBe(false);
    expect(within(g('repository:team/app:delete'), [g('repository:team/*:push')])).toBe(false);
    expect(within(g('repository:team/app:pull,push,delete'), [g('repository:*:admin')])).toBe(true);
    expect(within(g('repository:team/app:admin'), [g('repository:*:pull,push,delete')])).toBe(false);
  });

  it('each action may come from another scope', () => {
    const scopes = [g('repository:team/*:pull'), g('repository:team/app:delete')];
    expect(within(g('repository:team/app:pull,delete'), scopes)).toBe(true);
    expect(within(g('repository:team/other:pull,delete'), scopes)).toBe(false);
  });
});

describe('requireWithinScopes', () => {
  it('lets anything through for a token without scopes', () => {
    expect(() => requireWithinScopes(null, null)).not.toThrow();
    expect(() => requireWithinScopes([g('repository:*:admin')], null)).not.toThrow();
  });

  it('refuses no scopes, and names the scopes outside, for a token with scopes', () => {
    const own = [g('repository:team/*:push')];
    expect(() => requireWithinScopes([g('repository:team/app:pull')], own)).not.toThrow();
    expect(() => requireWithinScopes(null, own)).toThrow(/can only create tokens with scopes/);
    expect(() =>
      requireWithinScopes([g('repository:team/app:pull'), g('repository:other/*:pull')], own),
    ).toThrow(/within them: repository:other\/\*:pull is not$/);
  });
});
