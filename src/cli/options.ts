// Option helpers every command family shares: argument validation as usage errors, and the client options.
import { Command, InvalidArgumentError, Option } from 'commander';
import { parseServerUrl } from './client.js';

export const DEFAULT_SERVER = 'http://127.0.0.1:5000';

/** Turns a validation error into commander's usage error, so it is reported with exit code 2. */
export const argument =
  <T>(parse: (s: string) => T) =>
  (value: string): T => {
    try {
      return parse(value);
    } catch (e) {
      throw new InvalidArgumentError((e as Error).message);
    }
  };

/** --server, the credentials (--username/--password or their environment variables) and --json. */
export function clientOptions(cmd: Command): Command {
  return cmd
    .addOption(
      new Option('--server <url>', 'the berth server')
        .env('BERTH_SERVER')
        .default(DEFAULT_SERVER)
        .argParser(argument((s) => (parseServerUrl(s), s))),
    )
    .addOption(
      new Option('-u, --username <name>', 'your berth user name (default: your `berth login`)').env(
        'BERTH_USERNAME',
      ),
    )
    .addOption(
      new Option('-p, --password <password>', 'your password, or an API token (safer: BERTH_PASSWORD)').env(
        'BERTH_PASSWORD',
      ),
    )
    .option('--json', 'print the server’s JSON answer instead of text');
}

/** Where the instance's data and database are, for the commands that open it directly (serve, fsck, admin). */
export function instanceOptions(cmd: Command): Command {
  return cmd
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
    );
}
