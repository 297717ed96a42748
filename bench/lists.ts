// Scale cases: a page of 100 tags of a repository of many tags (the first page, and pages in the middle) against
// the same pages of a repository of 1 000 tags, and the first page of the catalog of many repositories against
// Distribution's of as many.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { measure, order, record, seedImage, type Ctx } from './cases.js';
import { addTagsDirectly } from './direct.js';
import { authorization, basicHeader, request } from './http.js';
import { runLoad, type LoadResult } from './loadgen.js';
import { databaseOf, type Server } from './servers.js';
import { fmt, median } from './stats.js';

/** Different `last=` values in turn: more pages than berth keeps in memory (32), so most are read anew. */
const MIDDLE_PAGES = 256;

const n = (x: number) => x.toLocaleString('en-US');

/** A load of `connections` at once on `base` + each of `suffixes` in turn, checked for errors. */
async function load(
  ctx: Ctx,
  s: Server,
  base: string,
  paths: string[],
  headers: Record<string, string>,
  connections: number,
): Promise<LoadResult> {
  const { warmupSeconds, seconds } = ctx.sizes.scale.rate;
  const res = await runLoad({
    url: `${base}${paths[0]}`,
    paths: paths.map((p) => `${new URL(base).pathname}${p}`.replace(/^\/\//, '/')),
    method: 'GET',
    headers,
    connections,
    warmupSeconds,
    seconds,
  });
  if (res.errors > 0) throw new Error(`${s.name}: ${res.errors} errors (${res.firstError})`);
  return res;
}

/** Tag pages (`?n=100`, and `?n=100&last=` from the middle) of `big` (made before) against a repository of 1 000. */
export async function tagPages(ctx: Ctx, s: Server, big: { repo: string; tags: number }): Promise<void> {
  const small = { repo: `${big.repo}-1000`, tags: 1000 };
  const img = await seedImage(s, small.repo, 'seed');
  await addTagsDirectly(databaseOf(s), small.repo, img.digest, small.tags - 1, 'unit-');
  const connections = ctx.sizes.scale.listConnections;
  // tags are unit-<i> (lexical order): last= values from the middle of the repository's numbers
  const middle = (count: number) =>
    Array.from(
      { length: MIDDLE_PAGES },
      (_, k) => `?n=100&last=unit-${Math.floor(count / 2) + ((k * 7919) % Math.floor(count / 4))}`,
    );
  const cases = [
    { id: 'first', label: 'first page', big: ['?n=100'], small: ['?n=100'] },
    {
      id: 'middle',
      label: `a page after last= (${MIDDLE_PAGES} in turn)`,
      big: middle(big.tags),
      small: middle(small.tags),
    },
  ];
  for (const c of cases) {
    const m = measure(ctx, {
      id: `scale-tags-${c.id}`,
      label: `GET tags list ?n=100, ${c.label}, ${n(big.tags)} tags vs 1,000, ${connections} connections: p99`,
      unit: 'ms',
      better: 'lower',
      referenceName: '1,000 tags',
      target: { max: 20 },
    });
    const rps: { big: number[]; small: number[] } = { big: [], small: [] };
    for (let r = 0; r < ctx.sizes.runs; r++) {
      const turns = [
        { repo: big.repo, paths: c.big, into: m.berth, rates: rps.big },
        { repo: small.repo, paths: c.small, into: m.reference, rates: rps.small },
      ];
      if (r % 2 === 1) turns.reverse();
      for (const t of turns) {
        const headers = await authorization(s.url, s.creds, t.repo, 'pull');
        const base = `${s.url}/v2/${t.repo}/tags/list`;
        const res = await load(ctx, s, base, t.paths, headers, connections);
        t.into.push(res.p99);
        t.rates.push(res.rps);
      }
      ctx.log(
        `tags ${c.id}: run ${r + 1}/${ctx.sizes.runs}: p99 ${m.berth.at(-1)!.toFixed(1)} ms ` +
          `(${n(big.tags)} tags), ${m.reference.at(-1)!.toFixed(1)} ms (1,000)`,
      );
    }
    m.note = `req/s ${fmt(median(rps.big))} (${n(big.tags)} tags), ${fmt(median(rps.small))} (1,000)`;
  }
}

/**
 * `count` repositories made directly in Distribution's filesystem layout: `repositories/NAME/_layers` (the folder
 * its catalog looks for) and `_manifests`. Answers nothing; the names are `bench/cat/r-<i>` as on berth.
 */
export function distributionRepositories(root: string, count: number): void {
  const base = join(root, 'docker', 'registry', 'v2', 'repositories', 'bench', 'cat');
  for (let i = 0; i < count; i++) {
    const repo = join(base, `r-${String(i).padStart(6, '0')}`);
    mkdirSync(join(repo, '_layers'), { recursive: true });
    mkdirSync(join(repo, '_manifests'));
  }
}

/** `GET /v2/_catalog?n=100` (the first page) of `berth` and of `dist`, each holding `count` repositories more. */
export async function catalogPage(
  ctx: Ctx,
  servers: { berth: Server; dist: Server },
  count: number,
): Promise<void> {
  const connections = ctx.sizes.scale.listConnections;
  const m = measure(ctx, {
    id: 'scale-catalog',
    label: `GET /v2/_catalog?n=100, ${n(count)} repositories, ${connections} connections: p99`,
    unit: 'ms',
    better: 'lower',
    referenceName: 'Distribution',
    target: { max: 50 },
  });
  const rps: Record<string, number[]> = { berth: [], distribution: [] };
  const sub = { ...ctx, ...servers };
  for (const s of [servers.berth, servers.dist]) {
    const headers = await catalogHeaders(s);
    const a = await request('GET', `${s.url}/v2/_catalog?n=100`, { headers });
    const got = (JSON.parse(a.body.toString()) as { repositories?: string[] }).repositories ?? [];
    if (a.status !== 200 || got.length !== 100) {
      throw new Error(`${s.name}: GET /v2/_catalog?n=100: ${a.status}, ${got.length} repositories`);
    }
  }
  for (let r = 0; r < ctx.sizes.runs; r++) {
    for (const s of order(sub, r)) {
      const res = await load(ctx, s, s.url, ['/v2/_catalog?n=100'], await catalogHeaders(s), connections);
      record(m, s, res.p99);
      rps[s.name]!.push(res.rps);
    }
    ctx.log(
      `catalog: run ${r + 1}/${ctx.sizes.runs}: p99 berth ${m.berth.at(-1)!.toFixed(1)} ms, ` +
        `Distribution ${m.reference.at(-1)!.toFixed(1)} ms`,
    );
  }
  m.note =
    `req/s berth ${fmt(median(rps.berth!))}, Distribution ${fmt(median(rps.distribution!))}; the repositories: ` +
    "rows in berth's database, folders in Distribution's";
}

/** berth: a registry token for registry:catalog:* (Basic where there is no /token); Distribution: none. */
async function catalogHeaders(s: Server): Promise<Record<string, string>> {
  if (!s.creds) return {};
  const basic = basicHeader(s.creds);
  const a = await request('GET', `${s.url}/token?service=berth&scope=registry:catalog:*`, {
    headers: { Authorization: basic },
  });
  if (a.status === 404) return { Authorization: basic };
  if (a.status !== 200) throw new Error(`GET /token for the catalog: ${a.status}`);
  const json = JSON.parse(a.body.toString()) as { token?: string; access_token?: string };
  return { Authorization: `Bearer ${json.token ?? json.access_token}` };
}
