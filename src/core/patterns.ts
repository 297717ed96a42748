// Name patterns of policies: repository patterns (name, prefix/*, *) and tag patterns ("v*", "*", "1.?").
import { BerthError } from './errors.js';
import { isRepositoryName } from './references.js';

/**
 * A repository pattern: a repository name ("team/app"), every repository under a prefix ("team/*", which matches
 * team/app and team/x/y but not team itself), or every repository ("*"). The grammar of permission patterns.
 */
export function parseRepositoryPattern(s: string): string {
  const prefix = s.endsWith('/*') ? s.slice(0, -2) : undefined;
  if (s === '*' || (prefix !== undefined ? isRepositoryName(prefix) : isRepositoryName(s))) return s;
  throw new BerthError(
    'PARAMETER_INVALID',
    `"${s}" is not a repository pattern: use a repository name (team/app), a prefix ending in /* (team/*), or *`,
  );
}

export function repositoryPatternMatches(pattern: string, repository: string): boolean {
  if (pattern === '*') return true;
  if (pattern.endsWith('/*')) return repository.startsWith(pattern.slice(0, -1));
  return pattern === repository;
}

/** A tag pattern: 1 to 128 of the tag's characters, where "*" stands for any run of characters and "?" for one. */
export function parseTagPattern(s: string): string {
  if (/^[A-Za-z0-9_.*?-]{1,128}$/.test(s)) return s;
  throw new BerthError(
    'PARAMETER_INVALID',
    `"${s}" is not a tag pattern: use a tag (1.0), or letters, digits, "_", "." and "-" with "*" for any characters and "?" for one (v*, release-?, *)`,
  );
}

export function tagPatternMatches(pattern: string, tag: string): boolean {
  const re = pattern.replace(/[.*?]/g, (c) => (c === '*' ? '.*' : c === '?' ? '.' : '\\.'));
  return new RegExp(`^${re}$`).test(tag);
}
