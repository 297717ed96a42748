// `berth admin reset-password`: sets a user's password on the instance's database directly, for a lost one.
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Option, type Command } from 'commander';
import { instanceOptions } from './options.js';
import { UsageError } from './report.js';
import { generatePassword, passwordFromStdin } from './secrets.js';

export interface ResetPasswordOptions {
  data?: string;
  database?: string;
  passwordStdin?: boolean;
  revokeTokens?: boolean;
}

/** The environment variable reset-password takes the new password from (when not --password-stdin). */
export const NEW_PASSWORD_ENV = 'BERTH_NEW_PASSWORD';

export function addAdminCommands(program: Command): void {
  const admin = program
    .command('admin')
    .description('work on the instance directly, without the server (on the server’s machine, like fsck)');
  instanceOptions(
    admin
      .command('reset-password')
      .description(
        `set a new password for USER (a lost administrator's): from stdin, else ${NEW_PASSWORD_ENV}, else generated and printed`,
      )
      .argument('<user>', 'the user whose password is set')
      .option('--password-stdin', 'read the new password from standard input (its first line)')
      .addOption(
        new Option(
          '--revoke-tokens',
          'also revoke every API token of USER (when the account may be compromised)',
        ),
      ),
  ).action((user: string, opts: ResetPasswordOptions) => resetPassword(user, opts));
}

/** The SQLite file the instance would open, or undefined for PostgreSQL. */
function sqliteFile(opts: ResetPasswordOptions): string | undefined {
  if (opts.database !== undefined && /^postgres(ql)?:\/\//.test(opts.database)) return undefined;
  const file = opts.database?.replace(/^sqlite:(\/\/)?/, '') ?? join(opts.data ?? './berth-data', 'berth.db');
  return resolve(file);
}

export async function resetPassword(user: string, opts: ResetPasswordOptions): Promise<void> {
  // an instance that is not there is not made empty here: that would only say "user admin does not exist"
  const file = sqliteFile(opts);
  if (file !== undefined && !existsSync(file)) {
    throw new UsageError(
      `there is no berth database at ${file}: give the --data DIR (or --database) that berth serve uses`,
    );
  }
  const fromEnv = process.env[NEW_PASSWORD_ENV];
  const password = opts.passwordStdin
    ? await passwordFromStdin()
    : fromEnv !== undefined && fromEnv !== ''
      ? fromEnv
      : undefined;
  const chosen = password ?? generatePassword();
  // loaded here, as in serve: client commands never load database drivers
  const { openBerth } = await import('../app.js');
  // only the database is written: no data folder is made or probed (with PostgreSQL there may be none here)
  const berth = await openBerth({
    data: opts.data ?? './berth-data',
    database: opts.database,
    checkWritable: false,
  });
  let revoked = 0;
  try {
    await berth.auth.users.setPassword(user, chosen);
    // a lockout by wrong guesses ends with the reset (the address's count stays)
    await berth.auth.limits.succeeded([`user:${user}`]);
    if (opts.revokeTokens) {
      for (const t of await berth.auth.tokens.list(user)) {
        if (t.revokedAt !== null) continue;
        await berth.auth.tokens.revoke(t.id);
        revoked++;
      }
    }
  } finally {
    await berth.close();
  }
  console.log(`set a new password for ${user}`);
  if (password === undefined)
    console.log(`password: ${chosen}\n(it is shown only this once: log in with it)`);
  if (opts.revokeTokens) console.log(`revoked ${revoked} API token${revoked === 1 ? '' : 's'} of ${user}`);
  console.log(
    'servers running on this database may accept the old password for up to 10 s more (logins they remember)',
  );
}
