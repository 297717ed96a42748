// `berth user add|list|show|remove|passwd`: manage accounts through /api/v1/users (administrators, or yourself).
import { User, UserDetails, UserList } from '../api/schemas.js';
import { userDetails, userTable } from './access-format.js';
import { expect } from './api-types.js';
import { clientFor, type ClientOptions } from './credentials.js';
import { printJson } from './format.js';
import { canPrompt, generatePassword, passwordFromStdin, promptNewPassword } from './secrets.js';

export type CommandOptions = ClientOptions & { json?: boolean };
type PasswordOptions = CommandOptions & { passwordStdin?: boolean };

export const userPath = (name: string, rest = ''): string =>
  `api/v1/users/${encodeURIComponent(name)}${rest}`;

const SHOWN_ONCE = 'it is shown only this once: pass it on safely';

/** Creates a user with the password from stdin, or a generated one printed once. */
export async function userAdd(name: string, opts: PasswordOptions & { admin?: boolean }): Promise<void> {
  const generated = !opts.passwordStdin;
  const password = generated ? generatePassword() : await passwordFromStdin();
  const answer = await clientFor(opts).postJson('api/v1/users', {
    name,
    password,
    admin: opts.admin ?? false,
  });
  const user = expect(User, answer, 'POST /api/v1/users');
  if (opts.json) return printJson(generated ? { ...(answer as object), password } : answer);
  console.log(`created ${user.admin ? 'administrator' : 'user'} ${user.name}`);
  if (generated) console.log(`password: ${password}\n(${SHOWN_ONCE})`);
}

export async function userList(opts: CommandOptions): Promise<void> {
  const answer = await clientFor(opts).getJson('api/v1/users');
  if (opts.json) return printJson(answer);
  console.log(userTable(expect(UserList, answer, 'GET /api/v1/users').users));
}

export async function userShow(name: string, opts: CommandOptions): Promise<void> {
  const answer = await clientFor(opts).getJson(userPath(name));
  if (opts.json) return printJson(answer);
  console.log(userDetails(expect(UserDetails, answer, `GET /${userPath(name)}`)));
}

export async function userRemove(name: string, opts: CommandOptions): Promise<void> {
  await clientFor(opts).call('DELETE', userPath(name));
  if (opts.json) return printJson({ user: name, removed: true });
  console.log(`removed user ${name} with their permissions and API tokens`);
}

/**
 * Sets a password: from stdin, else asked twice on a terminal, else generated and printed once. Changing your
 * own takes your password (not a token); an administrator may change anyone's.
 */
export async function userPasswd(name: string, opts: PasswordOptions): Promise<void> {
  let password: string;
  let generated = false;
  if (opts.passwordStdin) password = await passwordFromStdin();
  else if (canPrompt()) password = await promptNewPassword(name);
  else {
    password = generatePassword();
    generated = true;
  }
  await clientFor(opts).putJson(userPath(name, '/password'), { password });
  if (opts.json) return printJson({ user: name, passwordChanged: true, ...(generated ? { password } : {}) });
  console.log(`changed the password of ${name}`);
  if (generated) {
    console.log(`generated (no --password-stdin, no terminal to ask on): ${password}\n(${SHOWN_ONCE})`);
  }
}
