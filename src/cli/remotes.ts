// `berth remote add|list|show|edit|rm`: the registries content is brought in from, through the API (administrators).
import { readFileSync } from 'node:fs';
import { Option, type Command } from 'commander';
import type { z } from 'zod';
import { Remote, RemoteList } from '../api/remote-schemas.js';
import { expect } from './api-types.js';
import { parseServerUrl } from './client.js';
import { clientFor, type ClientOptions } from './credentials.js';
import { formatTime, printJson, table } from './format.js';
import { argument, clientOptions, DEFAULT_SERVER } from './options.js';
import { UsageError } from './report.js';
import { passwordFromStdin } from './secrets.js';

type RemoteInfo = z.infer<typeof Remote>;
type Opts = ClientOptions & { json?: boolean };

/** The options of `remote add` and `remote edit` (commander's camel-cased names). */
interface SettingOptions {
  server: string;
  json?: boolean;
  url?: string;
  username?: string;
  passwordStdin?: boolean;
  clearCredentials?: boolean;
  include?: string[] | false;
  exclude?: string[] | false;
  platform?: string[] | false;
  policy?: string;
  referrers?: string;
  caFile?: string | false;
  insecureSkipVerify?: boolean;
  verifyTls?: boolean;
  concurrency?: number;
  rate?: number | false;
}

const PATH = 'api/v1/remotes';
const remotePath = (name: string) => `${PATH}/${encodeURIComponent(name)}`;

const collect = (value: string, previous: string[] | false | undefined): string[] =>
  Array.isArray(previous) ? [...previous, value] : [value];

const wholeNumber = (what: string, min: number, max: number) =>
  argument((s) => {
    const n = /^\d{1,6}$/.test(s) ? Number(s) : NaN;
    if (!(n >= min && n <= max)) throw new Error(`"${s}" is not a number of ${what} from ${min} to ${max}`);
    return n;
  });

/**
 * `remote add` and `remote edit` take --username for the remote's user: berth's own credentials come from
 * `berth login` or BERTH_USERNAME/BERTH_PASSWORD.
 */
function ownClient(opts: SettingOptions) {
  return clientFor({
    server: opts.server,
    username: process.env.BERTH_USERNAME || undefined,
    password: process.env.BERTH_PASSWORD || undefined,
  });
}

function readCa(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    throw new UsageError(`cannot read --ca-file ${file}: ${(e as Error).message}`);
  }
}

/** The API body the options ask for: only what they give (an edit changes only that). */
async function settingsOf(o: SettingOptions): Promise<Record<string, unknown>> {
  const body: Record<string, unknown> = {};
  if (o.url !== undefined) body.url = o.url;
  if (o.clearCredentials && (o.username !== undefined || o.passwordStdin)) {
    throw new UsageError('--clear-credentials goes alone: without --username or --password-stdin');
  }
  if (o.clearCredentials) Object.assign(body, { username: null, password: null });
  if (o.username !== undefined) body.username = o.username;
  if (o.passwordStdin) body.password = await passwordFromStdin();
  if (o.include !== undefined) body.include = o.include === false ? [] : o.include;
  if (o.exclude !== undefined) body.exclude = o.exclude === false ? [] : o.exclude;
  if (o.platform !== undefined) body.platforms = o.platform === false ? [] : o.platform;
  if (o.policy !== undefined) body.policy = o.policy;
  if (o.referrers !== undefined) {
    body.referrers = o.referrers === 'none' || o.referrers === 'all' ? o.referrers : o.referrers.split(',');
  }
  if (o.caFile !== undefined) body.caPem = o.caFile === false ? null : readCa(o.caFile);
  if (o.insecureSkipVerify && o.verifyTls) {
    throw new UsageError('give --insecure-skip-verify or --verify-tls, not both');
  }
  if (o.insecureSkipVerify) body.tlsVerify = false;
  if (o.verifyTls) body.tlsVerify = true;
  if (o.concurrency !== undefined) body.concurrency = o.concurrency;
  if (o.rate !== undefined) body.requestsPerSecond = o.rate === false ? null : o.rate;
  return body;
}

const listOf = (l: string[], none: string): string => (l.length ? l.join(', ') : none);
const referrersText = (r: RemoteInfo['referrers']): string => (typeof r === 'string' ? r : r.join(', '));

/** A remote's settings as `show` prints them, one per line. */
export function remoteLines(r: RemoteInfo): string[] {
  const rows: [string, string][] = [
    ['name', r.name],
    ['url', r.url],
    ['credentials', r.username === null ? 'none (anonymous)' : `${r.username}, password set`],
    [
      'tls',
      r.url.startsWith('http:')
        ? 'none (http)'
        : `${r.tlsVerify ? 'verified' : 'NOT verified'}${r.caPem ? ', with its own CA' : ''}`,
    ],
    ['include', listOf(r.include, 'every tag')],
    ['exclude', listOf(r.exclude, 'nothing')],
    ['platforms', listOf(r.platforms, 'every platform')],
    ['referrers', referrersText(r.referrers)],
    ['policy', r.policy],
    ['concurrency', String(r.concurrency)],
    ['rate', r.requestsPerSecond === null ? 'unlimited' : `${r.requestsPerSecond} requests/s`],
    [
      'rate limit left',
      r.ratelimitRemaining === null
        ? 'not seen'
        : `${r.ratelimitRemaining} (at ${formatTime(r.ratelimitSeenAt!)})`,
    ],
    ['created', formatTime(r.createdAt)],
    ['updated', formatTime(r.updatedAt)],
  ];
  return rows.map(([k, v]) => `${`${k}:`.padEnd(17)}${v}`);
}

export async function remoteAdd(name: string, url: string, opts: SettingOptions): Promise<void> {
  if (opts.clearCredentials) throw new UsageError('--clear-credentials is for berth remote edit');
  const answer = await ownClient(opts).postJson(PATH, { name, ...(await settingsOf({ ...opts, url })) });
  if (opts.json) return printJson(answer);
  const r = expect(Remote, answer, `POST /${PATH}`);
  console.log(
    `added remote ${r.name} (${r.url}): ${r.policy}, ${listOf(r.include, 'every tag')}, ${listOf(r.platforms, 'every platform')}`,
  );
}

export async function remoteEdit(name: string, opts: SettingOptions): Promise<void> {
  const body = await settingsOf(opts);
  if (Object.keys(body).length === 0) throw new UsageError('say what to change (berth remote edit --help)');
  const answer = await ownClient(opts).patchJson(remotePath(name), body);
  if (opts.json) return printJson(answer);
  console.log(
    `changed remote ${name}:\n${remoteLines(expect(Remote, answer, `PATCH /${remotePath(name)}`)).join('\n')}`,
  );
}

export async function remoteList(opts: Opts): Promise<void> {
  const answer = await clientFor(opts).getJson(PATH);
  if (opts.json) return printJson(answer);
  const { remotes } = expect(RemoteList, answer, `GET /${PATH}`);
  if (remotes.length === 0) return console.log('no remotes: add one with berth remote add NAME URL');
  console.log(
    table([
      ['NAME', 'URL', 'USER', 'POLICY', 'INCLUDE', 'PLATFORMS', 'RATE LIMIT LEFT'],
      ...remotes.map((r) => [
        r.name,
        r.url,
        r.username ?? '-',
        r.policy,
        listOf(r.include, '*'),
        listOf(r.platforms, 'all'),
        r.ratelimitRemaining === null ? '-' : String(r.ratelimitRemaining),
      ]),
    ]),
  );
}

export async function remoteShow(name: string, opts: Opts): Promise<void> {
  const answer = await clientFor(opts).getJson(remotePath(name));
  if (opts.json) return printJson(answer);
  console.log(remoteLines(expect(Remote, answer, `GET /${remotePath(name)}`)).join('\n'));
}

export async function remoteRemove(name: string, opts: Opts): Promise<void> {
  await clientFor(opts).call('DELETE', remotePath(name));
  if (opts.json) return printJson({ remote: name, removed: true });
  console.log(`removed remote ${name}`);
}

/** The options of add and edit; `edit` adds those that clear a setting. */
function settingOptions(cmd: Command, edit: boolean): Command {
  cmd
    .addOption(
      new Option('--server <url>', 'the berth server')
        .env('BERTH_SERVER')
        .default(DEFAULT_SERVER)
        .argParser(argument((s) => (parseServerUrl(s), s))),
    )
    .option('--json', 'print the server’s JSON answer instead of text')
    .option(
      '--username <user>',
      "the remote's user (berth's own: berth login, or BERTH_USERNAME/BERTH_PASSWORD)",
    )
    .option('--password-stdin', "read the remote's password or token from standard input")
    .option(
      '--include <glob>',
      'bring in only tags matching: a glob (v*), a tag or a digest; repeat for more',
      collect,
    )
    .option('--exclude <glob>', 'leave out tags matching (glob, tag or digest); repeat for more', collect)
    .option(
      '--platform <os/arch>',
      'bring in only these platforms of indexes (linux/amd64); repeat for more',
      collect,
    )
    .option('--policy <policy>', 'immediate (sync downloads blobs) or on_demand (on first pull)')
    .option('--referrers <which>', 'referrers to sync: none, all, or artifact types TYPE,TYPE')
    .option('--ca-file <file>', 'trust the CAs of this PEM file for an https remote')
    .option('--insecure-skip-verify', "do not verify the remote's TLS certificate")
    .option(
      '--concurrency <n>',
      'requests in flight at once, 1 to 64 (default: 4)',
      wholeNumber('requests', 1, 64),
    )
    .option(
      '--rate <n>',
      'requests per second at most, 1 to 10000 (default: unlimited)',
      wholeNumber('requests per second', 1, 10_000),
    );
  if (edit) {
    cmd
      .option('--url <url>', "the remote's new base URL")
      .option('--clear-credentials', 'drop the username and password: anonymous access')
      .option('--no-include', 'no include filter: every tag')
      .option('--no-exclude', 'no exclude filter')
      .option('--no-platform', 'every platform')
      .option('--no-ca-file', "the system's CAs")
      .option('--verify-tls', "verify the remote's TLS certificate again")
      .option('--no-rate', 'no request rate limit');
  }
  return cmd;
}

export function addRemoteCommands(program: Command): void {
  const cmd = program.command('remote').description('registries to sync from or cache (administrators)');
  const name = argument((s: string) => s);
  settingOptions(cmd.command('add').description('add a remote registry'), false)
    .argument('<name>', 'the remote’s name (a-z 0-9 . _ -), e.g. hub')
    .argument('<url>', 'its base URL, e.g. https://registry-1.docker.io')
    .action((n: string, url: string, opts: SettingOptions) => remoteAdd(n, url, opts));
  clientOptions(cmd.command('list').description('list the remotes')).action((opts: Opts) => remoteList(opts));
  clientOptions(cmd.command('show').description('show a remote (never its password)'))
    .argument('<name>', 'the remote', name)
    .action((n: string, opts: Opts) => remoteShow(n, opts));
  settingOptions(cmd.command('edit').description('change the settings given; the others stay'), true)
    .argument('<name>', 'the remote', name)
    .action((n: string, opts: SettingOptions) => remoteEdit(n, opts));
  clientOptions(
    cmd
      .command('rm')
      .alias('remove')
      .description('remove a remote no cache, schedule or on-demand blob uses'),
  )
    .argument('<name>', 'the remote', name)
    .action((n: string, opts: Opts) => remoteRemove(n, opts));
}
