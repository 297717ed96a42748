// The `berth` program: its commands and options, and its exit codes (failure 1, usage error 2).
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { parseRepoAndTag, parseRepositoryName } from '../core/references.js';
import { parseServerUrl } from './client.js';
import { errorLines } from './report.js';
import { repoDiff, repoList, repoShow, repoVersions } from './repo.js';
import { serve } from './serve.js';
import { upload } from './upload.js';

export const DEFAULT_SERVER = 'http://127.0.0.1:5000';

/** Turns a validation error into commander's usage error, so it is reported with exit code 2. */
const argument =
  <T>(parse: (s: string) => T) =>
  (value: string): T => {
    try {
      return parse(value);
    } catch (e) {
      throw new InvalidArgumentError((e as Error).message);
    }
  };

const versionNumber = argument((s) => {
  if (!/^\d+$/.test(s)) throw new Error(`"${s}" is not a version number (1, 2, …)`);
  return Number(s);
});

function clientOptions(cmd: Command): Command {
  return cmd
    .addOption(
      new Option('--server <url>', 'the berth server')
        .env('BERTH_SERVER')
        .default(DEFAULT_SERVER)
        .argParser(argument((s) => (parseServerUrl(s), s))),
    )
    .option('--json', 'print the server’s JSON answer instead of text');
}

export function buildProgram(): Command {
  const program = new Command('berth')
    .description('a container image registry with versioned repositories and archive uploads')
    .exitOverride()
    .configureOutput({ outputError: (text, write) => write(text.replace(/^error: /, 'berth: ')) })
    .showHelpAfterError('(run with --help for usage)');

  program
    .command('serve')
    .description('run the server (registry at /v2/, management API at /api/v1/)')
    .addOption(
      new Option('--listen <host:port>', 'address to listen on (default: 127.0.0.1:5000)').env(
        'BERTH_LISTEN',
      ),
    )
    .addOption(
      new Option('--data <dir>', 'where blobs and the SQLite database live (default: ./berth-data)').env(
        'BERTH_DATA',
      ),
    )
    .addOption(
      new Option(
        '--database <url>',
        'database: a postgres:// URL or a SQLite file (default: in the data dir)',
      ).env('BERTH_DATABASE'),
    )
    .action((opts: { listen?: string; data?: string; database?: string }) => serve(opts));

  clientOptions(
    program
      .command('upload')
      .description('upload an image archive (tar or skopeo dir) as a new version of a repository')
      .argument(
        '<archive>',
        'a tar from skopeo dir:/docker-archive:/oci-archive: or docker save, or a skopeo dir',
      )
      .argument('<repo[:tag]>', 'the destination repository, and a tag to apply', argument(parseRepoAndTag))
      .option('--only-missing', 'leave out the layers the repository’s latest version already holds'),
  ).action((archive: string, target: { name: string; tag?: string }, opts) =>
    upload(
      archive,
      target.name,
      target.tag,
      opts as { server: string; json?: boolean; onlyMissing?: boolean },
    ),
  );

  const repo = program.command('repo').description('list and inspect repositories and their versions');
  const name = argument(parseRepositoryName);
  type Opts = { server: string; json?: boolean };
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

  return program;
}

/** Parses `argv` and runs the command; resolves to the exit code (a running `serve` resolves to 0). */
export async function run(argv: string[]): Promise<number> {
  try {
    await buildProgram().parseAsync(argv);
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode === 0 ? 0 : 2; // commander has printed the message
    for (const line of errorLines(e)) console.error(line);
    return 1;
  }
}
