// Text output of the access commands: tables of users, permissions, public patterns, tokens and the audit log.
import type { AuditEntry, Grant, Token, User, UserDetails, Whoami } from '../api/schemas.js';
import { formatTime, table } from './format.js';

const yesNo = (b: boolean): string => (b ? 'yes' : 'no');

export function userTable(users: User[]): string {
  if (users.length === 0) return 'no users';
  return table([
    ['NAME', 'ADMINISTRATOR', 'CREATED'],
    ...users.map((u) => [u.name, yesNo(u.admin), formatTime(u.createdAt)]),
  ]);
}

const grantRows = (grants: Grant[]): string[][] => grants.map((g) => [g.pattern, g.actions.join(',')]);

/** A user's permissions; an administrator's grants do not matter (they may do everything), so it says so. */
export function permissionLines(user: string, admin: boolean, grants: Grant[]): string {
  const lines: string[] = [];
  if (admin) lines.push(`${user} is an administrator: every action on every repository`);
  if (grants.length > 0) lines.push(table([['PATTERN', 'ACTIONS'], ...grantRows(grants)]));
  else if (!admin) lines.push(`${user} has no permissions (only public repositories: pull)`);
  return lines.join('\n');
}

export function userDetails(u: UserDetails): string {
  const head = table([
    ['name', u.name],
    ['administrator', yesNo(u.admin)],
    ['created', formatTime(u.createdAt)],
    ['permissions', u.permissions.length === 0 ? (u.admin ? 'all (administrator)' : 'none') : ''],
  ]).trimEnd();
  if (u.permissions.length === 0) return head;
  const grants = table(grantRows(u.permissions).map(([p, a]) => [`  ${p}`, a!]));
  return `${head}\n${grants}`;
}

export function publicTable(patterns: string[]): string {
  if (patterns.length === 0) return 'no public patterns: anonymous callers may pull nothing';
  return table([['PATTERN'], ...patterns.map((p) => [p])]);
}

export function tokenStatus(t: Token, now = Date.now()): string {
  if (t.revokedAt !== null) return 'revoked';
  if (t.expiresAt !== null && Date.parse(t.expiresAt) <= now) return 'expired';
  return 'active';
}

export function tokenTable(tokens: Token[], now = Date.now()): string {
  if (tokens.length === 0) return 'no API tokens';
  const rows = tokens.map((t) => [
    t.id,
    t.user,
    t.name,
    t.scopes === null ? 'all' : t.scopes.join(' '),
    t.expiresAt === null ? 'never' : formatTime(t.expiresAt),
    t.lastUsedAt === null ? 'never' : formatTime(t.lastUsedAt),
    tokenStatus(t, now),
  ]);
  return table([['ID', 'USER', 'NAME', 'SCOPES', 'EXPIRES', 'LAST USED', 'STATUS'], ...rows]);
}

/** `key=value` pairs; values with spaces, and objects, as JSON. */
export function auditDetails(detail: Record<string, unknown> | null): string {
  if (detail === null) return '';
  return Object.entries(detail)
    .map(([k, v]) => {
      const s = typeof v === 'string' && !/[\s"]/.test(v) && v !== '' ? v : JSON.stringify(v);
      return `${k}=${s}`;
    })
    .join(' ');
}

export function auditTable(entries: AuditEntry[]): string {
  if (entries.length === 0) return 'no audit entries';
  const rows = entries.map((e) => [
    formatTime(e.at),
    e.actor ?? '(anonymous)',
    e.address ?? '-',
    e.action,
    e.repository ?? '-',
    auditDetails(e.detail) || '-',
  ]);
  return table([['TIME', 'ACTOR', 'ADDRESS', 'ACTION', 'REPOSITORY', 'DETAILS'], ...rows]);
}

const BY: Record<string, string> = {
  password: 'password',
  'api-token': 'API token',
  'registry-token': 'registry token',
  anonymous: 'nothing (anonymous)',
};

/** `berth whoami`: who the server takes you for, how, and where the credentials came from. */
export function whoamiLines(w: Whoami, server: string, source: 'options' | 'login' | 'none'): string {
  const by = `${BY[w.authenticatedBy] ?? w.authenticatedBy}${w.tokenId === undefined ? '' : ` ${w.tokenId}`}`;
  const from = { options: 'options or environment', login: 'stored login', none: 'none' }[source];
  return table([
    ['user', w.user ?? '(anonymous)'],
    ['administrator', yesNo(w.admin)],
    ['authenticated by', by],
    ['credentials', from],
    ['server', server],
  ]);
}
