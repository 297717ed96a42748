// A remote's settings checked and normalised: name, URL, credentials, TLS, tag filters, platforms, referrers, limits.
import { X509Certificate } from 'node:crypto';
import { BerthError } from '../core/errors.js';
import { isDigest } from '../core/digest.js';
import { hasControl } from '../core/references.js';
import { parseTagPattern } from '../core/patterns.js';
import type { DownloadPolicy, ReferrersPolicy } from './remote.js';

/** Everything a remote is set up with; the password in clear (it is encrypted before it is stored). */
export interface RemoteSettings {
  url: string;
  username: string | null;
  password: string | null;
  /** PEM of CAs to trust for an https remote (null: the system's) */
  caPem: string | null;
  tlsVerify: boolean;
  include: string[];
  exclude: string[];
  platforms: string[];
  referrers: ReferrersPolicy;
  policy: DownloadPolicy;
  concurrency: number;
  /** token-bucket rate (null: unlimited) */
  requestsPerSecond: number | null;
}

export const CONCURRENCY = { min: 1, max: 64, default: 4 } as const;
export const RATE = { min: 1, max: 10_000 } as const;
const MAX_PATTERNS = 1000;
const MAX_USERNAME = 256;
const MAX_PASSWORD = 8192;

export const DEFAULT_SETTINGS: Omit<RemoteSettings, 'url'> = {
  username: null,
  password: null,
  caPem: null,
  tlsVerify: true,
  include: [],
  exclude: [],
  platforms: [],
  referrers: 'none',
  policy: 'immediate',
  concurrency: CONCURRENCY.default,
  requestsPerSecond: null,
};

const invalid = (message: string, field: string): never => {
  throw new BerthError('PARAMETER_INVALID', message, { field });
};

/** A remote's name: 1 to 64 of a-z 0-9 . _ -, starting with a letter or digit. */
export function parseRemoteName(s: string): string {
  if (/^[a-z0-9][a-z0-9._-]{0,63}$/.test(s)) return s;
  return invalid(
    `"${s}" is not a remote name: use 1 to 64 of a-z, 0-9, ".", "_" and "-", starting with a letter or digit (e.g. hub, quay-io)`,
    'name',
  );
}

/** The registry's base URL (http or https, no path, query or credentials), as scheme://host[:port]. */
export function parseRemoteUrl(s: string): string {
  let u: URL | undefined;
  try {
    u = new URL(s);
  } catch {
    u = undefined;
  }
  const example = 'e.g. https://registry-1.docker.io or http://127.0.0.1:5001';
  if (!u || (u.protocol !== 'http:' && u.protocol !== 'https:')) {
    return invalid(`"${s}" is not a registry URL: give http:// or https:// and the host (${example})`, 'url');
  }
  if (u.username || u.password) {
    return invalid(
      `the URL of a remote carries no credentials: give them as username and password (berth remote add … --username U --password-stdin)`,
      'url',
    );
  }
  if ((u.pathname !== '/' && u.pathname !== '') || u.search || u.hash) {
    return invalid(
      `"${s}" has a path, query or fragment: a remote's URL is the registry's base, where /v2/ is served (${example}); the repository is named at sync time`,
      'url',
    );
  }
  return `${u.protocol}//${u.host}`;
}

/** Include and exclude entries: tag globs ("v*", "1.?"), literal tags, or digests; duplicates dropped. */
export function parsePatterns(values: string[], field: 'include' | 'exclude'): string[] {
  if (values.length > MAX_PATTERNS) invalid(`${field}: at most ${MAX_PATTERNS} entries`, field);
  const out: string[] = [];
  for (const v of values) {
    if (v.includes(':')) {
      if (!isDigest(v)) {
        invalid(
          `${field}: "${v}" is neither a tag pattern nor a digest (sha256: and 64 lowercase hex digits)`,
          field,
        );
      }
    } else {
      try {
        parseTagPattern(v);
      } catch (e) {
        invalid(`${field}: ${(e as Error).message}`, field);
      }
    }
    if (!out.includes(v)) out.push(v);
  }
  return out;
}

/** Platforms: os/arch or os/arch/variant in lowercase (linux/amd64, linux/arm/v7); duplicates dropped. */
export function parsePlatforms(values: string[]): string[] {
  const out: string[] = [];
  for (const v of values) {
    if (!/^[a-z0-9]+\/[a-z0-9_]+(?:\/[a-z0-9]+)?$/.test(v)) {
      invalid(
        `"${v}" is not a platform: give os/arch or os/arch/variant in lowercase (linux/amd64, linux/arm64, linux/arm/v7)`,
        'platforms',
      );
    }
    if (!out.includes(v)) out.push(v);
  }
  return out;
}

const MEDIA_TYPE = /^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}\/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}$/;

/** Referrers: none, all, or artifact types (media types, e.g. application/vnd.dev.cosign.artifact.sig.v1+json). */
export function parseReferrers(value: string | string[]): ReferrersPolicy {
  if (value === 'none' || value === 'all') return value;
  const types = typeof value === 'string' ? value.split(',').map((t) => t.trim()) : value;
  if (types.length === 0 || types.some((t) => !MEDIA_TYPE.test(t))) {
    return invalid(
      `referrers: give none, all, or artifact types (media types such as application/vnd.dev.cosign.artifact.sig.v1+json), not ${JSON.stringify(value)}`,
      'referrers',
    );
  }
  return [...new Set(types)];
}

export function parsePolicy(value: string): DownloadPolicy {
  if (value === 'immediate' || value === 'on_demand') return value;
  return invalid(
    `policy: give immediate (a sync downloads every blob) or on_demand (blobs come on first pull), not "${value}"`,
    'policy',
  );
}

function wholeNumberIn(value: number, range: { min: number; max: number }, field: string, what: string) {
  if (!Number.isInteger(value) || value < range.min || value > range.max) {
    invalid(
      `${field}: give a whole number of ${what} from ${range.min} to ${range.max}, not ${value}`,
      field,
    );
  }
  return value;
}

/** PEM text of one or more CA certificates; each must parse. */
export function parseCaPem(pem: string): string {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length === 0) {
    return invalid('caPem: give PEM certificates (-----BEGIN CERTIFICATE----- …)', 'caPem');
  }
  blocks.forEach((b, i) => {
    try {
      new X509Certificate(b);
    } catch (e) {
      invalid(`caPem: certificate ${i + 1} does not parse: ${(e as Error).message}`, 'caPem');
    }
  });
  return pem;
}

function credential(value: string | null, field: 'username' | 'password', max: number): string | null {
  if (value === null) return null;
  if (value === '' || value.length > max || hasControl(value)) {
    invalid(`${field}: give 1 to ${max} characters with no control characters (or null for none)`, field);
  }
  if (field === 'username' && value.includes(':')) {
    invalid('username: a Basic-auth user name cannot hold ":"', field);
  }
  return value;
}

/** Checks a remote's whole settings (as added, or as an edit leaves them); answers them normalised. */
export function checkSettings(s: RemoteSettings): RemoteSettings {
  const url = parseRemoteUrl(s.url);
  const username = credential(s.username, 'username', MAX_USERNAME);
  const password = credential(s.password, 'password', MAX_PASSWORD);
  if ((username === null) !== (password === null)) {
    invalid(
      username === null
        ? 'a password needs a username (upstream registries take both, as Basic auth or for their token flow)'
        : 'a username needs a password (or token): give both, or neither for anonymous access',
      username === null ? 'username' : 'password',
    );
  }
  if (url.startsWith('http:') && (s.caPem !== null || !s.tlsVerify)) {
    invalid(
      `the TLS options (a CA, or not verifying) apply to https remotes; ${url} is plain http: drop them`,
      s.caPem !== null ? 'caPem' : 'tlsVerify',
    );
  }
  const caPem = s.caPem === null ? null : parseCaPem(s.caPem);
  return {
    url,
    username,
    password,
    caPem,
    tlsVerify: s.tlsVerify,
    include: parsePatterns(s.include, 'include'),
    exclude: parsePatterns(s.exclude, 'exclude'),
    platforms: parsePlatforms(s.platforms),
    referrers: parseReferrers(s.referrers),
    policy: parsePolicy(s.policy),
    concurrency: wholeNumberIn(s.concurrency, CONCURRENCY, 'concurrency', 'requests at once'),
    requestsPerSecond:
      s.requestsPerSecond === null
        ? null
        : wholeNumberIn(s.requestsPerSecond, RATE, 'requestsPerSecond', 'requests per second'),
  };
}
