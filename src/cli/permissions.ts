// `berth permission grant|revoke|list` and `berth public add|remove|list`: who may do what in which repositories.
import { Grant, Permissions, PublicList } from '../api/schemas.js';
import { permissionLines, publicTable } from './access-format.js';
import { expect } from './api-types.js';
import { clientFor } from './credentials.js';
import { printJson } from './format.js';
import { userPath, type CommandOptions } from './users.js';

/** Sets what USER may do in repositories matching PATTERN; ACTIONS is "pull", "pull,push"… (the server checks). */
export async function permissionGrant(
  user: string,
  pattern: string,
  actions: string,
  opts: CommandOptions,
): Promise<void> {
  const path = userPath(user, '/permissions');
  const answer = await clientFor(opts).putJson(path, {
    pattern,
    actions: actions.split(',').map((a) => a.trim()),
  });
  if (opts.json) return printJson(answer);
  const g = expect(Grant, answer, `PUT /${path}`);
  console.log(`${user} may ${g.actions.join(',')} in ${g.pattern}`);
}

export async function permissionRevoke(user: string, pattern: string, opts: CommandOptions): Promise<void> {
  await clientFor(opts).call('DELETE', userPath(user, `/permissions?pattern=${encodeURIComponent(pattern)}`));
  if (opts.json) return printJson({ user, pattern, revoked: true });
  console.log(`revoked what ${user} was granted in ${pattern}`);
}

export async function permissionList(user: string, opts: CommandOptions): Promise<void> {
  const path = userPath(user, '/permissions');
  const answer = await clientFor(opts).getJson(path);
  if (opts.json) return printJson(answer);
  const p = expect(Permissions, answer, `GET /${path}`);
  console.log(permissionLines(p.user, p.admin, p.permissions));
}

export async function publicAdd(pattern: string, opts: CommandOptions): Promise<void> {
  await clientFor(opts).putJson('api/v1/public', { pattern });
  if (opts.json) return printJson({ pattern, public: true });
  console.log(`anyone may now pull from ${pattern}, without credentials`);
}

export async function publicRemove(pattern: string, opts: CommandOptions): Promise<void> {
  await clientFor(opts).call('DELETE', `api/v1/public?pattern=${encodeURIComponent(pattern)}`);
  if (opts.json) return printJson({ pattern, public: false });
  console.log(`${pattern} is no longer public`);
}

export async function publicList(opts: CommandOptions): Promise<void> {
  const answer = await clientFor(opts).getJson('api/v1/public');
  if (opts.json) return printJson(answer);
  console.log(publicTable(expect(PublicList, answer, 'GET /api/v1/public').patterns));
}
