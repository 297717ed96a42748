// The access commands of `berth`: login, logout, whoami, user, permission, public, token and audit.
import type { Command } from 'commander';
import { audit, type AuditOptions } from './audit.js';
import { login, logout, whoami } from './login.js';
import { argument, clientOptions } from './options.js';
import {
  permissionGrant,
  permissionList,
  permissionRevoke,
  publicAdd,
  publicList,
  publicRemove,
} from './permissions.js';
import { tokenCreate, tokenList, tokenRevoke, type TokenCreateOptions } from './tokens.js';
import { userAdd, userList, userPasswd, userRemove, userShow, type CommandOptions } from './users.js';

type Opts = CommandOptions & { passwordStdin?: boolean; admin?: boolean; user?: string };

const positive = argument((s) => {
  if (!/^\d{1,9}$/.test(s) || Number(s) < 1) throw new Error(`"${s}" is not a positive whole number`);
  return Number(s);
});

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

export function addAccessCommands(program: Command): void {
  clientOptions(
    program
      .command('login')
      .description('create an API token with your password and store it for the server (never the password)')
      .option('--password-stdin', 'read the password from standard input'),
  ).action((opts: Opts) => login(opts));
  clientOptions(
    program.command('logout').description('revoke the stored API token for the server and forget it'),
  ).action((opts: Opts) => logout(opts));
  clientOptions(
    program.command('whoami').description('show who the server takes you for, and by which credentials'),
  ).action((opts: Opts) => whoami(opts));

  const user = program.command('user').description('manage users (administrators; yourself: show, passwd)');
  clientOptions(user.command('add').description('create a user; prints a generated password once'))
    .argument('<name>', 'user name')
    .option('--admin', 'an administrator of the whole instance')
    .option('--password-stdin', 'read the password from standard input instead of generating one')
    .action((n: string, opts: Opts) => userAdd(n, opts));
  clientOptions(user.command('list').description('list users')).action((opts: Opts) => userList(opts));
  clientOptions(user.command('show').description('show a user and their permissions'))
    .argument('<name>', 'user name')
    .action((n: string, opts: Opts) => userShow(n, opts));
  clientOptions(user.command('remove').description('remove a user with their permissions and API tokens'))
    .argument('<name>', 'user name')
    .action((n: string, opts: Opts) => userRemove(n, opts));
  clientOptions(
    user
      .command('passwd')
      .description('set a password: from stdin, else asked on a terminal, else generated and printed once'),
  )
    .argument('<name>', 'user name')
    .option('--password-stdin', 'read the new password from standard input')
    .action((n: string, opts: Opts) => userPasswd(n, opts));

  const permission = program.command('permission').description('what users may do in which repositories');
  clientOptions(
    permission.command('grant').description('let USER do ACTIONS in repositories matching PATTERN'),
  )
    .argument('<user>', 'user name')
    .argument('<pattern>', 'a repository (team/app), a prefix (team/*), or * for all')
    .argument('<actions>', 'pull, push, delete, admin, separated by commas (push and delete include pull)')
    .action((u: string, p: string, a: string, opts: Opts) => permissionGrant(u, p, a, opts));
  clientOptions(permission.command('revoke').description('remove what USER was granted on PATTERN'))
    .argument('<user>', 'user name')
    .argument('<pattern>', 'the pattern as granted')
    .action((u: string, p: string, opts: Opts) => permissionRevoke(u, p, opts));
  clientOptions(permission.command('list').description("list a user's permissions"))
    .argument('<user>', 'user name')
    .action((u: string, opts: Opts) => permissionList(u, opts));

  const pub = program.command('public').description('repositories anyone may pull from without credentials');
  clientOptions(pub.command('add').description('make repositories matching PATTERN public'))
    .argument('<pattern>', 'a repository (team/app), a prefix (team/*), or *')
    .action((p: string, opts: Opts) => publicAdd(p, opts));
  clientOptions(pub.command('remove').description('make PATTERN private again'))
    .argument('<pattern>', 'the pattern as added')
    .action((p: string, opts: Opts) => publicRemove(p, opts));
  clientOptions(pub.command('list').description('list the public patterns')).action((opts: Opts) =>
    publicList(opts),
  );

  const token = program.command('token').description('API tokens for robots and CI');
  clientOptions(token.command('create').description('create a token; prints its secret once'))
    .option('--user <user>', "whose token (default: yours; someone else's takes an administrator)")
    .option('--name <name>', 'what it is for')
    .option('--scope <scope>', 'limit it: repository:PATTERN:ACTIONS (repeatable)', collect)
    .option('--expires <duration>', 'lifetime: 30d, 12h, 15m… or never (default: 90d)')
    .action((opts: TokenCreateOptions) => tokenCreate(opts));
  clientOptions(token.command('list').description("list your tokens (an administrator's: everyone's)"))
    .option('--user <user>', "only this user's")
    .action((opts: Opts) => tokenList(opts));
  clientOptions(token.command('revoke').description('revoke a token for good'))
    .argument('<id>', 'the token id (the first column of token list)')
    .action((id: string, opts: Opts) => tokenRevoke(id, opts));

  clientOptions(program.command('audit').description('the audit log, newest first (administrators)'))
    .option('--actor <user>', 'only what this user did')
    .option('--repository <name>', 'only what concerned this repository')
    .option('--action <action>', 'only this action (archive.upload, manifest.push, user.create…)')
    .option('--before <id>', 'only entries older than this id (paging)', positive)
    .option('--limit <n>', 'at most this many entries (default 100, at most 1000)', positive)
    .action((opts: AuditOptions) => audit(opts));
}
