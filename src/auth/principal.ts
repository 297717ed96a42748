// Who is asking, and what they may do: anonymous callers, users (by password or API token), registry tokens.
import { ALL_ACTIONS, allowedBy, matches, type Action, type Grant } from './permissions.js';

export type AuthenticatedBy = 'anonymous' | 'password' | 'api-token' | 'registry-token';

export interface Principal {
  /** the user's name; null for an anonymous caller */
  readonly user: string | null;
  /**
   * the user's id, which is never reused (a name is: a removed user's name may be given to a new user); set
   * for every principal of a user made by Auth
   */
  readonly userId?: number;
  readonly by: AuthenticatedBy;
  /** the API token used (directly, or to obtain the registry token) */
  readonly tokenId?: string;
  /** administrator of the whole instance: users, permissions, cleanup, audit */
  readonly admin: boolean;
  /** the actions allowed on a repository, implications included */
  actions(repository: string): ReadonlySet<Action>;
}

export const can = (p: Principal, repository: string, action: Action): boolean =>
  p.actions(repository).has(action);

/** The public patterns as they are now (the caller keeps them fresh). */
export type PublicPatterns = () => readonly string[];

const withPublic = (actions: Set<Action>, publicPatterns: PublicPatterns, repository: string) => {
  if (publicPatterns().some((p) => matches(p, repository))) actions.add('pull');
  return actions;
};

/** Anyone: pull from public repositories, nothing else. */
export function anonymous(publicPatterns: PublicPatterns): Principal {
  return {
    user: null,
    by: 'anonymous',
    admin: false,
    actions: (repository) => withPublic(new Set(), publicPatterns, repository),
  };
}

/**
 * A user, by password or API token. An administrator may do everything. A token with scopes is limited to
 * what both its scopes and its user's grants allow (never beyond its user); it is never an administrator.
 */
export function userPrincipal(opts: {
  user: string;
  userId?: number;
  admin: boolean;
  grants: readonly Grant[];
  publicPatterns: PublicPatterns;
  tokenId?: string;
  scopes?: readonly Grant[] | null;
}): Principal {
  const scoped = opts.scopes != null;
  return {
    user: opts.user,
    ...(opts.userId === undefined ? {} : { userId: opts.userId }),
    by: opts.tokenId === undefined ? 'password' : 'api-token',
    ...(opts.tokenId === undefined ? {} : { tokenId: opts.tokenId }),
    admin: opts.admin && !scoped,
    actions(repository) {
      let out = opts.admin ? new Set(ALL_ACTIONS) : allowedBy(opts.grants, repository);
      if (scoped) {
        const limit = allowedBy(opts.scopes!, repository);
        out = new Set([...out].filter((a) => limit.has(a)));
      }
      return withPublic(out, opts.publicPatterns, repository);
    },
  };
}

/** A registry token: exactly the access it was issued with (for named repositories), plus public pull. */
export function registryTokenPrincipal(opts: {
  user: string | null;
  userId?: number;
  tokenId?: string;
  access: ReadonlyMap<string, ReadonlySet<Action>>;
  publicPatterns: PublicPatterns;
}): Principal {
  return {
    user: opts.user,
    ...(opts.userId === undefined ? {} : { userId: opts.userId }),
    by: 'registry-token',
    ...(opts.tokenId === undefined ? {} : { tokenId: opts.tokenId }),
    admin: false,
    actions: (repository) =>
      withPublic(new Set(opts.access.get(repository) ?? []), opts.publicPatterns, repository),
  };
}
