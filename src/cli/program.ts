// The `berth` program: its commands and options, and its exit codes (failure 1, usage error 2).
import { Command, CommanderError, Option } from 'commander';
import { parseRepositoryName } from '../core/references.js';
import type { ClientOptions } from './credentials.js';
import { errorLines, UsageError } from './report.js';
import { repoDiff, repoList, repoShow, repoVersions } from './repo.js';
import {
  archiveLimitOptions,
  cleanupScheduleOptions,
  retentionOptions,
  serve,
  storeOptions,
  uiOptions,
  sendfileOptions,
  timeoutOptions,
  uploadLimitOptions,
  type ServeOptions,
} from './serve.js';
import { repoRetain, versionDelete, versionRestore } from './version.js';
import { cleanup, type CleanupCommandOptions } from './cleanup.js';
import { fsck, type FsckCommandOptions } from './fsck.js';
import { parseUploadTarget, upload } from './upload.js';
import { argument, clientOptions, instanceOptions } from './options.js';
import { addAccessCommands } from './access-commands.js';
import { addUntaggedCommand } from './untagged-policy.js';
import { addAdminCommands } from './admin.js';
import { addMigrateStoreCommand } from './migrate-store.js';
import { addDeleteCommands } from './deletes.js';
import { berthVersion } from './package-version.js';
import { addQuotaCommands } from './quotas.js';
import { addImmutableCommands } from './immutable.js';
import { addCacheCommands } from './caches.js';
import { redirectOptions } from './redirect-options.js';
import { addSyncCommands } from './sync.js';
import { addRemoteCommands } from './remotes.js';

const retention = argument((s): number | null => {
  if (s === 'none') return null;
  if (!/^\d+$/.test(s) || Number(s) < 1)
    throw new Error(`"${s}" is not a number of versions (1, 2, …) or none`);
  return Number(s);
});

const days = argument((s): number | null => {
  if (s === 'none') return null;
  if (!/^\d+$/.test(s) || Number(s) < 1) throw new Error(`"${s}" is not a number of days (1, 2, …) or none`);
  return Number(s);
});

/** `repo retain NAME N` (N versions, no age rule) or `--versions N` and/or `--days D`; what is left out: no limit. */
function retentionRule(
  keep: number | null | undefined,
  o: { versions?: number | null; days?: number | null },
): { versions: number | null; days: number | null } {
  if (keep !== undefined && (o.versions !== undefined || o.days !== undefined)) {
    throw new UsageError('give either N, or --versions and/or --days, not both');
  }
  if (keep !== undefined) return { versions: keep, days: null };
  if (o.versions === undefined && o.days === undefined) {
    throw new UsageError('say what to keep: --versions N and/or --days D (none: no limit), or N');
  }
  return { versions: o.versions ?? null, days: o.days ?? null };
}

const seconds = argument((s) => {
  if (!/^\d+$/.test(s)) throw new Error(`"${s}" is not a number of seconds (0, 60, 3600, …)`);
  return Number(s);
});

/** The lifetime of registry tokens: at least a minute (clients assume that much), at most an hour. */
const TOKEN_TTL_RANGE = { min: 60, max: 3600 } as const;
const tokenTtl = argument((s) => {
  const n = /^\d+$/.test(s) ? Number(s) : NaN;
  if (!(n >= TOKEN_TTL_RANGE.min && n <= TOKEN_TTL_RANGE.max))
    throw new Error(
      `"${s}" is not a token lifetime: give whole seconds from ${TOKEN_TTL_RANGE.min} to ${TOKEN_TTL_RANGE.max}`,
    );
  return n;
});

const versionNumber = argument((s) => {
  if (!/^\d+$/.test(s)) throw new Error(`"${s}" is not a version number (1, 2, …)`);
  return Number(s);
});

export function buildProgram(): Command {
  const program = new Command('berth')
    .description('a container image registry with versioned repositories and archive uploads')
    .version(berthVersion(), '-V, --version', 'print the version of berth')
    .exitOverride()
    .configureOutput({ outputError: (text, write) => write(text.replace(/^error: /, 'berth: ')) })
    .showHelpAfterError('(run with --help for usage)');

  archiveLimitOptions(
    uploadLimitOptions(
      timeoutOptions(
        cleanupScheduleOptions(
          instanceOptions(
            storeOptions(program.command('serve'))
              .description('run the server (registry at /v2/, management API at /api/v1/, web pages at /)')
              .addOption(
                new Option('--listen <host:port>', 'address to listen on (default: 127.0.0.1:5000)').env(
                  'BERTH_LISTEN',
                ),
              )
              .addOption(
                new Option('--tls-cert <file>', 'serve HTTPS with this PEM certificate (chain)').env(
                  'BERTH_TLS_CERT',
                ),
              )
              .addOption(
                new Option('--tls-key <file>', 'the PEM private key of --tls-cert').env('BERTH_TLS_KEY'),
              )
              .addOption(
                new Option(
                  '--secret-key-file <file>',
                  'the key remote passwords are encrypted with: 64 hex digits (openssl rand -hex 32); made with mode 0600 if absent; every process of an instance must use the same (default: <data>/secret.key)',
                ).env('BERTH_SECRET_KEY_FILE'),
              )
              .addOption(
                new Option('--token-ttl <seconds>', 'lifetime of registry tokens, 60 to 3600 (default: 300)')
                  .env('BERTH_TOKEN_TTL')
                  .argParser(tokenTtl),
              )
              .addOption(
                new Option(
                  '--trust-proxy <addresses>',
                  'the proxies in front, comma-separated addresses or CIDRs (e.g. 127.0.0.1 or 10.0.0.0/24): ' +
                    'X-Forwarded-For/-Proto/-Host are trusted from them only; the client is the rightmost address they did not add',
                ).env('BERTH_TRUST_PROXY'),
              ),
          ),
        ),
      ),
    ),
  ).action((opts: ServeOptions) => serve(opts));
  retentionOptions(program.commands.find((c) => c.name() === 'serve')!);
  uiOptions(program.commands.find((c) => c.name() === 'serve')!);
  sendfileOptions(program.commands.find((c) => c.name() === 'serve')!);
  redirectOptions(program.commands.find((c) => c.name() === 'serve')!);

  instanceOptions(storeOptions(program.command('fsck')))
    .description('check the database against the blob store (run on the server’s machine, like serve)')
    .option(
      '--repair',
      'remove stray and leftover files, mark blobs whose file is missing or wrong as missing',
    )
    .option('--verify', 'also hash every blob file and compare it with its digest (reads every byte)')
    .option(
      '--protection <seconds>',
      'leave files younger than this alone: operations in flight (default: 3600)',
      seconds,
    )
    .option('--json', 'print the report as JSON')
    .action((opts: FsckCommandOptions) => fsck(opts));

  clientOptions(
    program
      .command('upload')
      .description('upload an image archive (tar or skopeo dir) as a new version of a repository')
      .argument(
        '<archive>',
        'a tar from skopeo dir:/docker-archive:/oci-archive: or docker save, or a skopeo dir',
      )
      .argument('<repo[:tag]>', 'the destination repository, and a tag to apply', argument(parseUploadTarget))
      .option('--only-missing', 'leave out the layers the repository’s latest version already holds'),
  ).action((archive: string, target: { name: string; tag?: string }, opts) =>
    upload(
      archive,
      target.name,
      target.tag,
      opts as ClientOptions & { json?: boolean; onlyMissing?: boolean },
    ),
  );

  const repo = program.command('repo').description('list and inspect repositories and their versions');
  const name = argument(parseRepositoryName);
  type Opts = ClientOptions & { json?: boolean };
  clientOptions(repo.command('list').description('list repositories')).action((opts: Opts) => repoList(opts));
  clientOptions(repo.command('show').description('show a repository and its latest version'))
    .argument('<name>', 'repository', name)
    .action((n: string, opts: Opts) => repoShow(n, opts));
  clientOptions(repo.command('versions').description('list the versions of a repository'))
    .argument('<name>', 'repository', name)
    .action((n: string, opts: Opts) => repoVersions(n, opts));
  clientOptions(
    repo.command('diff').description('show what version B added and removed compared to version A'),
  )
    .argument('<name>', 'repository', name)
    .argument('<a>', 'the older version', versionNumber)
    .argument('<b>', 'the newer version', versionNumber)
    .action((n: string, a: number, b: number, opts: Opts) => repoDiff(n, a, b, opts));
  clientOptions(
    repo
      .command('retain')
      .description(
        'set which versions a repository keeps: the latest N and those younger than D days (whichever keeps more); prints the versions removed',
      ),
  )
    .argument('<name>', 'repository', name)
    .argument(
      '[n]',
      'the older form: keep the latest N versions (none: keep all), with no age rule',
      retention,
    )
    .option('--versions <n>', 'keep the latest N versions (none: no count limit)', retention)
    .option('--days <d>', 'keep versions younger than D days (none: no age limit)', days)
    .option('--dry-run', 'show which versions would be removed, change nothing')
    .action(
      (
        n: string,
        keep: number | null | undefined,
        o: Opts & { versions?: number | null; days?: number | null; dryRun?: boolean },
      ) => repoRetain(n, retentionRule(keep, o), o),
    );
  addUntaggedCommand(repo);
  addSyncCommands(program, repo);

  clientOptions(
    program.command('cleanup').description('remove content no version refers to and no upload claims'),
  )
    .option('--dry-run', 'report what would be removed, remove nothing')
    .option(
      '--protection <seconds>',
      'keep what was claimed or committed this recently (default 3600)',
      seconds,
    )
    .action((opts: CleanupCommandOptions) => cleanup(opts));

  const version = program.command('version').description('delete or restore repository versions');
  clientOptions(version.command('delete').description('delete a version; its changes fold into the next one'))
    .argument('<name>', 'repository', name)
    .argument('<n>', 'the version (not the latest)', versionNumber)
    .action((n: string, v: number, opts: Opts) => versionDelete(n, v, opts));
  clientOptions(version.command('restore').description("make a new version with an older version's content"))
    .argument('<name>', 'repository', name)
    .argument('<n>', 'the version to restore', versionNumber)
    .action((n: string, v: number, opts: Opts) => versionRestore(n, v, opts));

  addAccessCommands(program);
  addAdminCommands(program);
  addMigrateStoreCommand(program);
  addDeleteCommands(program);
  addQuotaCommands(program);
  addImmutableCommands(program);
  addCacheCommands(program);
  addRemoteCommands(program);

  return program;
}

/** Parses `argv` and runs the command; resolves to the exit code (a running `serve` resolves to 0). */
export async function run(argv: string[]): Promise<number> {
  try {
    await buildProgram().parseAsync(argv);
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode === 0 ? 0 : 2; // commander has printed the message
    if (e instanceof UsageError) {
      console.error(`berth: ${e.message}`);
      return 2;
    }
    for (const line of errorLines(e)) console.error(line);
    return 1;
  }
}
