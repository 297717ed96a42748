// The URLs of the web pages, one function each: every page links by these (repository names keep their slashes).
import { escapeHtml } from './html.js';

/** A repository name in a path: each segment percent-encoded, the slashes kept. */
export const namePath = (name: string): string => name.split('/').map(encodeURIComponent).join('/');

const withQuery = (path: string, q: Record<string, string | number | undefined>): string => {
  const s = new URLSearchParams();
  for (const [k, v] of Object.entries(q)) if (v !== undefined && v !== '') s.set(k, String(v));
  const t = s.toString();
  return t ? `${path}?${t}` : path;
};

export const urls = {
  home: () => '/',
  repositories: (q: { q?: string; page?: number } = {}) => withQuery('/repositories', q),
  repository: (name: string) => `/repositories/${namePath(name)}`,
  versions: (name: string) => `/repositories/${namePath(name)}/-/versions`,
  diff: (name: string, from: number, to: number) =>
    withQuery(`/repositories/${namePath(name)}/-/versions/diff`, { from, to }),
  restore: (name: string, n: number) => `/repositories/${namePath(name)}/-/versions/${n}/restore`,
  manifest: (name: string, digest: string) => `/repositories/${namePath(name)}/-/manifests/${digest}`,
  tagDelete: (name: string, tag: string) =>
    `/repositories/${namePath(name)}/-/tags/${encodeURIComponent(tag)}/delete`,
  upload: (name: string) => `/repositories/${namePath(name)}/-/upload`,
  signIn: (next?: string) => withQuery('/sign-in', { next }),
  signOut: () => '/sign-out',
  access: () => '/access',
  users: () => '/access/users',
  permissions: () => '/access/permissions',
  publicPatterns: () => '/access/public',
  audit: (q: Record<string, string | number | undefined> = {}) => withQuery('/access/audit', q),
  operations: () => '/operations',
  static: (file: string) => `/static/${file}`,
};

/** A local path to go back to after sign-in: a path of this site, never another site ("//host", "https:"). */
export function localPath(next: string | null | undefined): string {
  if (!next || !next.startsWith('/') || next.startsWith('//') || next.startsWith('/\\')) return '/';
  return next;
}

/** An attribute-safe URL (the same escaping as html`` gives). */
export const attr = (s: string): string => escapeHtml(s);
