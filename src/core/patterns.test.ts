// Repository and tag patterns of policies: what they accept and what they match.
import { describe, expect, it } from 'vitest';
import {
  parseRepositoryPattern,
  parseTagPattern,
  repositoryPatternMatches,
  tagPatternMatches,
} from './patterns.js';

describe('tag patterns', () => {
  it('* is any run of characters, ? one, the rest literal (a dot is a dot)', () => {
    expect(tagPatternMatches('v*', 'v1.2.3')).toBe(true);
    expect(tagPatternMatches('v*', 'latest')).toBe(false);
    expect(tagPatternMatches('*', 'anything')).toBe(true);
    expect(tagPatternMatches('1.?', '1.2')).toBe(true);
    expect(tagPatternMatches('1.?', '1x2')).toBe(false);
    expect(tagPatternMatches('1.?', '1.23')).toBe(false);
    expect(tagPatternMatches('release', 'release-2')).toBe(false);
  });
  it('refuses what no tag could match, naming it', () => {
    for (const bad of ['', 'v 1', 'a/b', 'x'.repeat(129)]) {
      expect(() => parseTagPattern(bad)).toThrow(/is not a tag pattern/);
    }
    expect(parseTagPattern('v*')).toBe('v*');
  });
});

describe('repository patterns', () => {
  it('a name, a prefix/* (not the prefix itself), or *', () => {
    expect(repositoryPatternMatches('team/*', 'team/app')).toBe(true);
    expect(repositoryPatternMatches('team/*', 'team/x/y')).toBe(true);
    expect(repositoryPatternMatches('team/*', 'team')).toBe(false);
    expect(repositoryPatternMatches('team/*', 'teams/app')).toBe(false);
    expect(repositoryPatternMatches('team/app', 'team/app')).toBe(true);
    expect(repositoryPatternMatches('*', 'x')).toBe(true);
    expect(() => parseRepositoryPattern('Team/*')).toThrow(/is not a repository pattern/);
  });
});
