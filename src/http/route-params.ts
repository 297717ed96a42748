// Path parameters of the route tables: the `{…}` segments a route path may name and the one parser of each.
import { parseDigest, type Digest } from '../core/digest.js';
import { BerthError } from '../core/errors.js';
import { isTag, parseReference, parseRepositoryName, type Reference } from '../core/references.js';

/** A manifest to read: a digest, a tag, or a string no tag can be (reading it answers "unknown", not "invalid"). */
export type TagOrDigest = Reference | { kind: 'impossible-tag'; tag: string };

/** What each path parameter is once parsed; a handler receives the ones its route's path names. */
export interface PathParams {
  /** a repository name (may contain slashes) */
  name: string;
  digest: Digest;
  /** a manifest reference to write or delete: a valid tag or digest */
  reference: Reference;
  /** a manifest reference to read */
  tagOrDigest: TagOrDigest;
  /** a tag (not a digest) */
  tag: string;
  /** an upload session's or an API token's id */
  id: string;
  /** a repository version number */
  number: number;
  /** a user name */
  user: string;
  /** a pull-through cache's name */
  cache: string;
  /** a remote's name (checked by the remotes service: an impossible one is simply unknown) */
  remote: string;
}

/** A version number in a path or query: at most 9 digits. */
export function versionNumber(s: string): number {
  if (!/^\d{1,9}$/.test(s)) throw new BerthError('PARAMETER_INVALID', `"${s}" is not a version number`);
  return Number(s);
}

const parsers: { [K in keyof PathParams]: (s: string) => PathParams[K] } = {
  name: parseRepositoryName,
  digest: (s) => parseDigest(s),
  reference: parseReference,
  tagOrDigest: (s) => (s.includes(':') || isTag(s) ? parseReference(s) : { kind: 'impossible-tag', tag: s }),
  tag: (s) => {
    if (!isTag(s))
      throw new BerthError(
        'TAG_INVALID',
        `"${s}" is not a tag (letters, digits, _ . -; at most 128 characters)`,
      );
    return s;
  },
  id: (s) => s,
  number: versionNumber,
  user: (s) => s,
  cache: (s) => s,
  remote: (s) => s,
};

const isParam = (k: string): k is keyof PathParams => Object.hasOwn(parsers, k);

/** The parameter names of a route path, e.g. "name" | "digest" for "/v2/{name}/blobs/{digest}". */
export type ParamNames<P extends string> = P extends `${string}{${infer K}}${infer Rest}`
  ? K | ParamNames<Rest>
  : never;

/**
 * The pattern of a route path: `{name}` takes a repository name (slashes included, as short as the rest allows),
 * any other `{param}` one segment; a path ending in "/?" may end with a slash or not.
 */
export function compilePath(path: string): RegExp {
  const optionalSlash = path.endsWith('/?');
  const parts = (optionalSlash ? path.slice(0, -2) : path).split(/(\{[A-Za-z]+\})/);
  const source = parts.map((part) => {
    const param = /^\{([A-Za-z]+)\}$/.exec(part)?.[1];
    if (param === undefined) return part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    if (!isParam(param)) throw new Error(`route path ${path}: no parser for {${param}}`);
    return param === 'name' ? '(?<name>.+?)' : `(?<${param}>[^/]+)`;
  });
  return new RegExp(`^${source.join('')}${optionalSlash ? '/?' : ''}$`);
}

/** Parses the (URL-decoded) path parameters in the order the path names them: the first bad one is refused. */
export function parsePathParams(raw: Record<string, string>): Partial<PathParams> {
  const parsed: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(raw)) if (isParam(k)) parsed[k] = parsers[k](v);
  return parsed as Partial<PathParams>;
}
