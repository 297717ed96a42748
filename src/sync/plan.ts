// A sync's plan, made with no writes: which upstream tags are new or moved (one HEAD each), which digests to fetch, which tags a mirror removes.
import { isDigest, type Digest } from '../core/digest.js';
import { onlyLiterals, type Remote } from './remote.js';
import type { Upstream } from './upstream.js';

/** A tag pattern of a remote: "*" stands for any characters, "?" for one; anything else is literal. */
export function globMatches(pattern: string, tag: string): boolean {
  const body = [...pattern].map((c) => (c === '*' ? '.*' : c === '?' ? '.' : escape(c))).join('');
  return new RegExp(`^${body}$`).test(tag);
}
const escape = (s: string): string => s.replace(/[.+^${}()|[\]\\]/g, '\\$&');

/** Whether a tag is in the remote's include set (empty: every tag) and not excluded. */
export function tagSelected(remote: Pick<Remote, 'include' | 'exclude'>, tag: string): boolean {
  const tagPatterns = remote.include.filter((p) => !isDigest(p));
  const included = remote.include.length === 0 || tagPatterns.some((p) => globMatches(p, tag));
  return included && !remote.exclude.some((p) => !isDigest(p) && globMatches(p, tag));
}

/** What the destination repository holds now: its tags (tag → manifest digest) and its manifests. */
export interface CurrentContent {
  tags: Map<string, string>;
  manifests: Set<string>;
}

export interface SyncPlan {
  /** upstream tags in the include set (after exclude) that upstream has */
  seen: { tag: string; digest: Digest }[];
  /** tags new or moved: set to these digests */
  setTags: { tag: string; digest: Digest }[];
  /** manifests to fetch (by digest): the targets of setTags and literal digests of the include set not held */
  fetch: Digest[];
  /** tags a mirror sync removes: in the include set, held by the repository, gone upstream */
  removeTags: string[];
}

/**
 * Plans a sync of upstream repository `upstreamRepo` into a repository holding `current`. Tags come from
 * tags/list (every page), or, when every include is a literal, from the includes alone (no tags/list). Each
 * selected tag costs one HEAD (which upstream rate limits do not count); nothing is fetched here.
 */
export async function planSync(
  up: Upstream,
  remote: Pick<Remote, 'include' | 'exclude'>,
  upstreamRepo: string,
  current: CurrentContent,
  opts: { mirror: boolean; concurrency: number },
): Promise<SyncPlan> {
  let candidates: string[];
  if (onlyLiterals(remote.include)) {
    candidates = remote.include.filter((p) => !isDigest(p));
  } else {
    candidates = [];
    for await (const page of up.tags(upstreamRepo)) candidates.push(...page);
  }
  const selected = [...new Set(candidates)].filter((t) => tagSelected(remote, t)).sort();
  const heads = await inPool(selected, opts.concurrency, (tag) => up.headManifest(upstreamRepo, tag));
  const seen: SyncPlan['seen'] = [];
  selected.forEach((tag, i) => {
    const h = heads[i];
    if (h) seen.push({ tag, digest: h.digest });
  });
  const setTags = seen.filter((s) => current.tags.get(s.tag) !== s.digest);
  const fetch = new Set<Digest>(setTags.map((s) => s.digest).filter((d) => !current.manifests.has(d)));
  const excluded = new Set(remote.exclude.filter(isDigest));
  for (const d of remote.include.filter(isDigest)) {
    if (!current.manifests.has(d) && !excluded.has(d)) fetch.add(d);
  }
  const upstreamHas = new Set(seen.map((s) => s.tag));
  const removeTags = opts.mirror
    ? [...current.tags.keys()].filter((t) => tagSelected(remote, t) && !upstreamHas.has(t)).sort()
    : [];
  return { seen, setTags, fetch: [...fetch].sort(), removeTags };
}

/**
 * Maps `items` through `fn` with at most `n` calls in flight, results in order. After a failure no new call starts,
 * and the first failure is thrown once every call in flight has ended (so that nothing writes after it).
 */
export async function inPool<T, R>(items: T[], n: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array<R>(items.length);
  let next = 0;
  let failed = false;
  const worker = async () => {
    while (!failed && next < items.length) {
      const i = next++;
      try {
        out[i] = await fn(items[i]!);
      } catch (e) {
        failed = true;
        throw e;
      }
    }
  };
  const ends = await Promise.allSettled(
    Array.from({ length: Math.max(1, Math.min(n, items.length)) }, worker),
  );
  const failure = ends.find((e) => e.status === 'rejected');
  if (failure) throw failure.reason;
  return out;
}
