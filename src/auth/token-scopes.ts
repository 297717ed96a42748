// The scope policy of API tokens: a token with scopes may only create tokens within those scopes.
import { BerthError } from '../core/errors.js';
import { expand, formatScope, type Grant } from './permissions.js';

/** Whether every repository and action `g` allows is allowed by one of `scopes` (patterns as narrow or narrower). */
export function within(g: Grant, scopes: readonly Grant[]): boolean {
  const inside = (pattern: string, outer: string) =>
    outer === '*' ||
    pattern === outer ||
    (outer.endsWith('/*') && pattern !== '*' && pattern.startsWith(outer.slice(0, -1)));
  return [...expand(g.actions)].every((a) =>
    scopes.some((s) => inside(g.pattern, s.pattern) && expand(s.actions).has(a)),
  );
}

/**
 * Refuses (DENIED) scopes `requested` for a new token when the token creating it has scopes `own` that do not
 * cover them; null scopes are everything the user may do: a token without scopes may create any token.
 */
export function requireWithinScopes(requested: readonly Grant[] | null, own: readonly Grant[] | null): void {
  if (own === null) return;
  if (requested === null)
    throw new BerthError('DENIED', 'a token with scopes can only create tokens with scopes');
  const outside = requested.filter((g) => !within(g, own));
  if (outside.length > 0) {
    throw new BerthError(
      'DENIED',
      `a token with scopes can only create tokens within them: ${outside.map(formatScope).join(' ')} is not`,
    );
  }
}
