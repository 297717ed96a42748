// `berth cache add|list|show|edit|rm`: pull-through caches, through the management API (administrators).
import type { Command } from 'commander';
import { Cache, CacheList } from '../api/schemas.js';
import { parseRepositoryName } from '../core/references.js';
import { expect } from './api-types.js';
import { clientFor, type ClientOptions } from './credentials.js';
import { formatTime, printJson, table } from './format.js';
import { argument, clientOptions } from './options.js';
import { UsageError } from './report.js';

type Opts = ClientOptions & { json?: boolean };
interface AddOpts extends Opts {
  remote: string;
  prefix: string;
  checkSeconds?: number;
  staleSeconds?: number;
  retainDays?: number;
}
const PATH = 'api/v1/caches';

const whole = (what: string) =>
  argument((s) => {
    if (!/^\d{1,10}$/.test(s)) throw new Error(`"${s}" is not a whole number of ${what}`);
    return Number(s);
  });

const days = (n: number | null): string => (n === null ? 'kept' : `${n} d`);

function describe(c: Cache): string {
  return (
    `cache ${c.name}: pulls of ${c.prefix}/NAME resolve NAME at remote ${c.remote}; tags checked upstream at ` +
    `most every ${c.checkSeconds} s, served up to ${c.staleSeconds} s after their last check when upstream fails; ` +
    (c.retainDays === null
      ? 'pulled content kept'
      : `content not pulled for ${c.retainDays} days removed by cleanup`)
  );
}

export async function cacheAdd(name: string, opts: AddOpts): Promise<void> {
  const answer = await clientFor(opts).postJson(PATH, {
    name,
    remote: opts.remote,
    prefix: opts.prefix,
    ...(opts.checkSeconds !== undefined ? { checkSeconds: opts.checkSeconds } : {}),
    ...(opts.staleSeconds !== undefined ? { staleSeconds: opts.staleSeconds } : {}),
    ...(opts.retainDays !== undefined ? { retainDays: opts.retainDays } : {}),
  });
  if (opts.json) return printJson(answer);
  console.log(describe(expect(Cache, answer, `POST /${PATH}`)));
}

export async function cacheList(opts: Opts): Promise<void> {
  const answer = await clientFor(opts).getJson(PATH);
  if (opts.json) return printJson(answer);
  const { caches } = expect(CacheList, answer, `GET /${PATH}`);
  if (caches.length === 0)
    return console.log('no pull-through caches (add one: berth cache add NAME --remote R --prefix P)');
  console.log(
    table([
      ['NAME', 'PREFIX', 'REMOTE', 'CHECK', 'STALE', 'RETAIN', 'REPOSITORIES', 'ADDED'],
      ...caches.map((c) => [
        c.name,
        c.prefix,
        c.remote,
        `${c.checkSeconds} s`,
        `${c.staleSeconds} s`,
        days(c.retainDays),
        String(c.repositories),
        formatTime(c.createdAt),
      ]),
    ]),
  );
}

export async function cacheShow(name: string, opts: Opts): Promise<void> {
  const path = `${PATH}/${encodeURIComponent(name)}`;
  const answer = await clientFor(opts).getJson(path);
  if (opts.json) return printJson(answer);
  const c = expect(Cache, answer, `GET /${path}`);
  console.log(`${describe(c)}\nrepositories made: ${c.repositories}; added ${formatTime(c.createdAt)}`);
}

interface EditOpts extends Opts {
  remote?: string;
  checkSeconds?: number;
  staleSeconds?: number;
  /** a number of days, or false for --no-retain-days (keep content for ever) */
  retainDays?: number | false;
}

export async function cacheEdit(name: string, opts: EditOpts): Promise<void> {
  const body = {
    ...(opts.remote !== undefined ? { remote: opts.remote } : {}),
    ...(opts.checkSeconds !== undefined ? { checkSeconds: opts.checkSeconds } : {}),
    ...(opts.staleSeconds !== undefined ? { staleSeconds: opts.staleSeconds } : {}),
    ...(opts.retainDays !== undefined
      ? { retainDays: opts.retainDays === false ? null : opts.retainDays }
      : {}),
  };
  if (Object.keys(body).length === 0) throw new UsageError('say what to change (berth cache edit --help)');
  const path = `${PATH}/${encodeURIComponent(name)}`;
  const answer = await clientFor(opts).patchJson(path, body);
  if (opts.json) return printJson(answer);
  console.log(`changed ${describe(expect(Cache, answer, `PATCH /${path}`))}`);
}

export async function cacheRemove(name: string, opts: Opts): Promise<void> {
  await clientFor(opts).call('DELETE', `${PATH}/${encodeURIComponent(name)}`);
  if (opts.json) return printJson({ name, removed: true });
  console.log(`removed cache ${name}: the repositories it made stay, as ordinary repositories`);
}

export function addCacheCommands(program: Command): void {
  const cmd = program
    .command('cache')
    .description(
      'pull-through caches: repositories under a prefix resolve at a remote on first pull (administrators)',
    );
  clientOptions(cmd.command('add').description('add a pull-through cache'))
    .argument('<name>', 'the cache’s name')
    .requiredOption('--remote <remote>', 'the remote pulls resolve at (berth remote list)')
    .requiredOption(
      '--prefix <prefix>',
      'the repositories it serves: PREFIX/library/alpine is library/alpine upstream',
      argument(parseRepositoryName),
    )
    .option('--check-seconds <n>', 'check a tag upstream at most this often (default 300)', whole('seconds'))
    .option(
      '--stale-seconds <n>',
      'when upstream fails, serve tags checked this recently (default 86400)',
      whole('seconds'),
    )
    .option(
      '--retain-days <n>',
      'remove content not pulled for this many days (default: keep)',
      whole('days'),
    )
    .action((name: string, opts: AddOpts) => cacheAdd(name, opts));
  clientOptions(cmd.command('list').description('list the caches')).action((opts: Opts) => cacheList(opts));
  clientOptions(cmd.command('show').description('show a cache'))
    .argument('<name>', 'the cache')
    .action((name: string, opts: Opts) => cacheShow(name, opts));
  clientOptions(
    cmd.command('edit').description('change the settings given; the others stay (the prefix cannot change)'),
  )
    .argument('<name>', 'the cache')
    .option(
      '--remote <remote>',
      'resolve new pulls at this remote (blobs listed already still come from theirs)',
    )
    .option('--check-seconds <n>', 'check a tag upstream at most this often', whole('seconds'))
    .option('--stale-seconds <n>', 'when upstream fails, serve tags checked this recently', whole('seconds'))
    .option('--retain-days <n>', 'remove content not pulled for this many days', whole('days'))
    .option('--no-retain-days', 'keep pulled content for ever')
    .action((name: string, opts: EditOpts) => cacheEdit(name, opts));
  clientOptions(cmd.command('rm').alias('remove').description('remove a cache (its repositories stay)'))
    .argument('<name>', 'the cache')
    .action((name: string, opts: Opts) => cacheRemove(name, opts));
}
