// Covers src/core/references.ts: repository-name and tag grammar, URL references, REPO[:TAG] and archive references.
import { describe, expect, it } from 'vitest';
import { sha256, sha512 } from './digest.js';
import {
  isRepositoryName,
  isTag,
  MAX_NAME_LENGTH,
  parseReference,
  parseRepoAndTag,
  parseRepositoryName,
  parseTag,
  tagOfArchiveReference,
} from './references.js';
import { errorOf } from '../../test/helpers/errors.js';

describe('repository names', () => {
  it('accepts single components and the separators of the spec', () => {
    for (const n of [
      'a',
      'app',
      'a1',
      '0',
      'my.app',
      'my_app',
      'my__app',
      'my-app',
      'my---app',
      'a.b_c__d-e',
    ]) {
      expect(isRepositoryName(n), n).toBe(true);
    }
  });

  it('accepts path components joined by slashes', () => {
    for (const n of ['a/b', 'library/ubuntu', 'org/team/project/image', 'a-b/c.d/e_f']) {
      expect(isRepositoryName(n), n).toBe(true);
    }
  });

  it('refuses uppercase, empty components, leading/trailing separators and other characters', () => {
    const bad = [
      '',
      'App',
      '/a',
      'a/',
      'a//b',
      '-a',
      'a-',
      '.a',
      'a.',
      '_a',
      'a_',
      'a___b',
      'a..b',
      'a._b',
      'a b',
      'a:b',
      'a@b',
      'localhost:5000/a',
      'a/-b',
      'a/b.',
      'ä',
    ];
    for (const n of bad) expect(isRepositoryName(n), JSON.stringify(n)).toBe(false);
  });

  it(`accepts ${MAX_NAME_LENGTH} characters and refuses one more`, () => {
    expect(MAX_NAME_LENGTH).toBe(255);
    // 25 components of 9 letters joined by "/" are 249 characters; "/abcde" makes 255
    const max = `${Array.from({ length: 25 }, () => 'a'.repeat(9)).join('/')}/abcde`;
    expect(max.length).toBe(MAX_NAME_LENGTH);
    expect(max).toContain('/');
    expect(isRepositoryName(max)).toBe(true);
    const over = `${max}b`;
    expect(over.length).toBe(MAX_NAME_LENGTH + 1);
    expect(isRepositoryName(over)).toBe(false);
    expect(isRepositoryName('a'.repeat(MAX_NAME_LENGTH))).toBe(true);
    expect(isRepositoryName('a'.repeat(MAX_NAME_LENGTH + 1))).toBe(false);
  });

  it('parseRepositoryName returns a valid name and says how to fix an invalid one', () => {
    expect(parseRepositoryName('org/app')).toBe('org/app');
    const e = errorOf(() => parseRepositoryName('org/App!'));
    expect(e.code).toBe('NAME_INVALID');
    expect(e.status).toBe(400);
    expect(e.message).toContain('"org/App!"');
    expect(e.message).toContain('lowercase');
    expect(e.message).toContain(String(MAX_NAME_LENGTH));
  });

  it('a name that differs from a valid one only by case says names are lowercase, and which to use', () => {
    const e = errorOf(() => parseRepositoryName('Team/App'));
    expect(e.code).toBe('NAME_INVALID');
    expect(e.message).toBe(
      'invalid repository name "Team/App": repository names are lowercase (as in every registry) — use "team/app"',
    );
  });
});

describe('tags', () => {
  it('accepts 1 to 128 letters, digits, "_", "." and "-", not starting with "." or "-"', () => {
    for (const t of ['latest', 'v1.0.0', '1', '_x', 'A-b_C.d', 'x'.repeat(128), '_'.repeat(128)]) {
      expect(isTag(t), t).toBe(true);
    }
  });

  it('refuses empty, too long, leading "." or "-", and other characters', () => {
    for (const t of ['', 'x'.repeat(129), '.x', '-x', 'a/b', 'a:b', 'a b', 'a+b', 'é']) {
      expect(isTag(t), JSON.stringify(t)).toBe(false);
    }
  });

  it('parseTag names the rule in its error', () => {
    expect(parseTag('v2')).toBe('v2');
    const e = errorOf(() => parseTag('-bad'));
    expect(e.code).toBe('TAG_INVALID');
    expect(e.message).toContain('"-bad"');
    expect(e.message).toContain('128');
  });
});

describe('parseReference', () => {
  it('reads a tag', () => {
    expect(parseReference('1.0')).toEqual({ kind: 'tag', tag: '1.0' });
  });

  it('reads a digest', () => {
    const d = sha256('manifest');
    expect(parseReference(d)).toEqual({ kind: 'digest', digest: d });
  });

  it('reads a sha512 digest and names an unsupported algorithm', () => {
    const d = sha512('manifest');
    expect(parseReference(d)).toEqual({ kind: 'digest', digest: d });
    const e = errorOf(() => parseReference(`sha384:${'a'.repeat(96)}`));
    expect(e.code).toBe('DIGEST_INVALID');
    expect(e.message).toContain('sha384');
  });

  it('refuses something with a colon that is not a valid digest', () => {
    expect(errorOf(() => parseReference('sha256:abc')).code).toBe('DIGEST_INVALID');
    expect(errorOf(() => parseReference('a:b')).code).toBe('DIGEST_INVALID');
  });

  it('refuses an invalid tag', () => {
    expect(errorOf(() => parseReference('.hidden')).code).toBe('TAG_INVALID');
  });
});

describe('parseRepoAndTag', () => {
  it('reads a name without a tag', () => {
    expect(parseRepoAndTag('app')).toEqual({ name: 'app' });
    expect(parseRepoAndTag('org/app')).toEqual({ name: 'org/app' });
  });

  it('reads a name with a tag', () => {
    expect(parseRepoAndTag('app:1.0')).toEqual({ name: 'app', tag: '1.0' });
    expect(parseRepoAndTag('org/team/app:latest')).toEqual({ name: 'org/team/app', tag: 'latest' });
  });

  it('does not take a registry port for a tag', () => {
    // the colon is before the last slash, so the whole string is a name, and a host:port is not a valid one
    const e = errorOf(() => parseRepoAndTag('localhost:5000/app'));
    expect(e.code).toBe('NAME_INVALID');
    expect(e.message).toContain('localhost:5000/app');
  });

  it('refuses an empty or invalid tag and an invalid name', () => {
    expect(errorOf(() => parseRepoAndTag('app:')).code).toBe('TAG_INVALID');
    expect(errorOf(() => parseRepoAndTag('app:-x')).code).toBe('TAG_INVALID');
    expect(errorOf(() => parseRepoAndTag('App:1')).code).toBe('NAME_INVALID');
    expect(errorOf(() => parseRepoAndTag(':1')).code).toBe('NAME_INVALID');
  });
});

describe('tagOfArchiveReference', () => {
  const digest = sha256('image');

  it('takes the tag of a fully qualified reference', () => {
    expect(tagOfArchiveReference('docker.io/example/app:1.0')).toBe('1.0');
  });

  it('takes a bare tag as skopeo writes it into an oci-archive', () => {
    expect(tagOfArchiveReference('1.0')).toBe('1.0');
  });

  it('is not confused by a registry port', () => {
    expect(tagOfArchiveReference('localhost:5000/a/b:t')).toBe('t');
    expect(tagOfArchiveReference('localhost:5000/a/b')).toBeUndefined();
  });

  it('finds no tag in a digest reference', () => {
    expect(tagOfArchiveReference(`a/b@${digest}`)).toBeUndefined();
    expect(tagOfArchiveReference(`localhost:5000/a/b@${digest}`)).toBeUndefined();
  });

  it('takes the tag of a reference with both a tag and a digest', () => {
    expect(tagOfArchiveReference(`a/b:2.0@${digest}`)).toBe('2.0');
  });

  it('finds no tag in a name with a path and no tag', () => {
    expect(tagOfArchiveReference('docker.io/example/app')).toBeUndefined();
  });
});
