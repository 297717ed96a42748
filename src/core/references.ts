// Repository names, tags and references: the grammar of the OCI distribution spec.
import { BerthError } from './errors.js';
import { invalidDigest, isDigest, type Digest } from './digest.js';

const COMPONENT = '[a-z0-9]+(?:(?:\\.|_|__|-+)[a-z0-9]+)*';
const NAME = new RegExp(`^${COMPONENT}(?:/${COMPONENT})*$`);
const TAG = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/;
export const MAX_NAME_LENGTH = 255;

/** True when `s` holds a control character (U+0000–U+001F, U+007F–U+009F): never part of a name, tag or parameter. */
// eslint-disable-next-line no-control-regex
export const hasControl = (s: string): boolean => /[\u0000-\u001f\u007f-\u009f]/.test(s);

export function isRepositoryName(s: string): boolean {
  return s.length <= MAX_NAME_LENGTH && NAME.test(s);
}

export function parseRepositoryName(s: string): string {
  if (!isRepositoryName(s)) {
    const lower = s.toLowerCase();
    if (lower !== s && isRepositoryName(lower)) {
      throw new BerthError(
        'NAME_INVALID',
        `invalid repository name "${s}": repository names are lowercase (as in every registry) — use "${lower}"`,
      );
    }
    throw new BerthError(
      'NAME_INVALID',
      `invalid repository name "${s}": use lowercase letters, digits and separators (. _ __ -), ` +
        `path components joined by "/", at most ${MAX_NAME_LENGTH} characters`,
    );
  }
  return s;
}

export const isTag = (s: string): boolean => TAG.test(s);

export function parseTag(s: string): string {
  if (!isTag(s)) {
    throw new BerthError(
      'TAG_INVALID',
      `invalid tag "${s}": a tag is 1 to 128 characters of letters, digits, "_", "." and "-", not starting with "." or "-"`,
    );
  }
  return s;
}

export type Reference = { kind: 'tag'; tag: string } | { kind: 'digest'; digest: Digest };

/** A manifest reference in a URL: a tag or a digest. */
export function parseReference(s: string): Reference {
  if (s.includes(':')) {
    if (!isDigest(s)) throw invalidDigest(s, 'reference');
    return { kind: 'digest', digest: s };
  }
  return { kind: 'tag', tag: parseTag(s) };
}

/** The most `tag` parameters one manifest push takes (the spec asks for at least 10). */
export const MAX_TAGS_PER_PUSH = 100;

/**
 * The `tag` query parameters of a manifest push (`?tag=a&tag=b`), each checked against the tag grammar, in their
 * order, without repeats. One invalid tag, or more than MAX_TAGS_PER_PUSH, refuses them all.
 */
export function parseTagParameters(values: string[]): string[] {
  const tags = [...new Set(values)];
  if (tags.length > MAX_TAGS_PER_PUSH) {
    throw new BerthError(
      'TOO_MANY_TAGS',
      `the request names ${tags.length} tags; one manifest push takes at most ${MAX_TAGS_PER_PUSH}: push it again with the others`,
      { tags: tags.length, max: MAX_TAGS_PER_PUSH },
    );
  }
  return tags.map(parseTag);
}

/** Parses REPO[:TAG] as the CLI and the archive endpoint take it. */
export function parseRepoAndTag(s: string): { name: string; tag?: string } {
  const colon = s.lastIndexOf(':');
  if (colon > s.lastIndexOf('/')) {
    return { name: parseRepositoryName(s.slice(0, colon)), tag: parseTag(s.slice(colon + 1)) };
  }
  return { name: parseRepositoryName(s) };
}

/**
 * The tag part of a reference found inside an archive (`RepoTags` of docker-archive,
 * `org.opencontainers.image.ref.name` of an OCI layout): "docker.io/example/app:1.0" → "1.0", "1.0" → "1.0".
 * Returns undefined where the reference names no tag (a bare name or a digest).
 */
export function tagOfArchiveReference(ref: string): string | undefined {
  const at = ref.indexOf('@');
  const withoutDigest = at >= 0 ? ref.slice(0, at) : ref;
  const colon = withoutDigest.lastIndexOf(':');
  const slash = withoutDigest.lastIndexOf('/');
  if (colon > slash) return withoutDigest.slice(colon + 1);
  if (slash < 0 && at < 0) return withoutDigest; // a bare "1.0" as skopeo's oci-archive writes it
  return undefined;
}
