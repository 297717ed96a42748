// Repository permissions: actions and what they imply, name patterns, and the actions a set of grants allows.
import { BerthError } from '../core/errors.js';
import { parseRepositoryPattern, repositoryPatternMatches } from '../core/patterns.js';

export const ACTIONS = ['pull', 'push', 'delete', 'admin'] as const;
export type Action = (typeof ACTIONS)[number];

/** What each action includes: push and delete need pull; a repository admin may do everything. */
const IMPLIES: Record<Action, readonly Action[]> = {
  pull: ['pull'],
  push: ['pull', 'push'],
  delete: ['pull', 'delete'],
  admin: ['pull', 'push', 'delete', 'admin'],
};

export const ALL_ACTIONS: ReadonlySet<Action> = new Set(ACTIONS);

export const isAction = (s: string): s is Action => (ACTIONS as readonly string[]).includes(s);

/** The actions with everything they imply. */
export function expand(actions: Iterable<Action>): Set<Action> {
  const out = new Set<Action>();
  for (const a of actions) for (const i of IMPLIES[a]) out.add(i);
  return out;
}

/** Parses "pull,push" (or an array of names); refuses unknown names and an empty list. */
export function parseActions(input: string | readonly string[]): Action[] {
  const names = typeof input === 'string' ? input.split(',').map((s) => s.trim()) : [...input];
  const bad = names.filter((n) => !isAction(n));
  if (bad.length > 0 || names.length === 0) {
    throw new BerthError(
      'PARAMETER_INVALID',
      `"${names.join(',')}" is not a list of actions: use pull, push, delete and admin, separated by commas`,
    );
  }
  return [...new Set(names as Action[])].sort((a, b) => ACTIONS.indexOf(a) - ACTIONS.indexOf(b));
}

// Permission patterns are the repository patterns of every policy (core/patterns.ts): one grammar, one matcher.
export { parseRepositoryPattern as parsePattern, repositoryPatternMatches as matches };

export interface Grant {
  pattern: string;
  actions: readonly Action[];
}

/** The actions the grants whose pattern matches `repository` allow, with what they imply. */
export function allowedBy(grants: readonly Grant[], repository: string): Set<Action> {
  const out = new Set<Action>();
  for (const g of grants)
    if (repositoryPatternMatches(g.pattern, repository)) for (const a of expand(g.actions)) out.add(a);
  return out;
}

/** Token scopes as written on the command line: "repository:team/*:pull,push". */
export function parseScope(s: string): Grant {
  const m = /^repository:(.+):([a-z,]+)$/.exec(s.trim());
  if (!m) {
    throw new BerthError(
      'PARAMETER_INVALID',
      `"${s}" is not a token scope: write repository:PATTERN:ACTIONS, e.g. repository:team/*:pull,push`,
    );
  }
  return { pattern: parseRepositoryPattern(m[1]!), actions: parseActions(m[2]!) };
}

export const formatScope = (g: Grant): string => `repository:${g.pattern}:${g.actions.join(',')}`;
