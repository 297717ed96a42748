// The pull-through cache's resolution: a manifest pulled under a cache's prefix comes from upstream on first use, as one version.
import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.js';
import { BerthError } from '../core/errors.js';
import { isDigest, type Digest } from '../core/digest.js';
import { requiredBlobs } from '../core/manifests.js';
import type { Reference } from '../core/references.js';
import type { BlobStore } from '../storage/blob-store.js';
import { heldBlobs } from '../repo/held.js';
import { DEFAULT_COMMIT_SETTINGS, type CommitSettings } from '../repo/versions.js';
import type { Caches, CacheMatch } from './caches.js';
import { commitContent, emptyContent, fetchedManifest, type FetchedManifest } from './content.js';
import type { Upstream, UpstreamManifest } from './upstream.js';
import { cacheTag, currentTag, holdsManifest, recordChecked, touchDigest, touchTag } from './cache-tags.js';

type Db = Kysely<Database>;

export interface PullThroughOptions {
  /** the upstream client of a remote, by the remote's name (one per remote, shared by its users) */
  upstream: (remote: string) => Promise<Upstream>;
  settings?: CommitSettings;
  /** told when a cached tag is served because upstream failed */
  onStale?: (event: { repository: string; tag: string; remote: string; error: string }) => void;
}

/** What a resolution did: served what the cache held, fetched upstream (committing a version or not), or stale. */
export type Resolution =
  | { kind: 'none' }
  | { kind: 'cached' }
  | { kind: 'checked' }
  | { kind: 'fetched'; version: number | undefined }
  | { kind: 'stale'; error: string };

/**
 * How a pull under a cache went, for the metrics: `hit` served what the cache held without asking upstream,
 * `revalidated` after a HEAD found the tag unchanged, `miss` fetched the manifest upstream (first pull, a moved tag,
 * a digest the cache did not hold), `stale` served the cache's copy because upstream failed, `absent` upstream has
 * no such tag or manifest, `failed` upstream failed with no copy to serve (or the manifest could not be kept).
 */
export type CacheOutcome = 'hit' | 'revalidated' | 'miss' | 'stale' | 'absent' | 'failed';
export type ResolutionListener = (event: { cache: string; outcome: CacheOutcome }) => void;

const OUTCOME: Record<Exclude<Resolution['kind'], 'none'>, CacheOutcome> = {
  cached: 'hit',
  checked: 'revalidated',
  fetched: 'miss',
  stale: 'stale',
};

export class PullThrough {
  private readonly settings: CommitSettings;
  private readonly listeners = new Set<ResolutionListener>();

  constructor(
    private readonly db: Db,
    private readonly store: BlobStore,
    private readonly caches: Caches,
    private readonly opts: PullThroughOptions,
  ) {
    this.settings = opts.settings ?? DEFAULT_COMMIT_SETTINGS;
  }

  /**
   * Called before a manifest GET or HEAD of repository `name` is answered. Under a cache's prefix, makes the
   * repository hold `ref` as upstream has it:
   * - a tag the cache holds and checked less than check_seconds ago is served as it is (no upstream request);
   * - else upstream is asked (a HEAD when the cache holds the tag, which Docker Hub's limits do not count; a GET
   *   by tag on first use); a new or moved tag makes ONE version holding the manifest, its blobs on demand (their
   *   bytes come on first GET, streamed from upstream) and the tag; an unchanged one none;
   * - when upstream fails or throttles, a tag checked less than stale_seconds ago is served as the cache has it;
   * - a digest the cache holds is served without asking upstream (digests never change); one it does not is
   *   fetched by digest (an index's platform manifest, or a pinned image) and committed without a tag.
   * Outside every cache it does nothing. The caller then reads the manifest from the repository as usual.
   */
  async resolve(name: string, ref: Reference): Promise<Resolution> {
    const m = await this.caches.match(name);
    if (!m || m.upstream === '') return { kind: 'none' };
    let r: Resolution;
    try {
      r =
        ref.kind === 'digest'
          ? await this.resolveDigest(name, m, ref.digest)
          : await this.resolveTag(name, m, ref.tag);
    } catch (e) {
      const absent = e instanceof BerthError && e.code === 'MANIFEST_UNKNOWN';
      this.tell(m.cache.name, absent ? 'absent' : 'failed');
      throw e;
    }
    if (r.kind !== 'none') this.tell(m.cache.name, OUTCOME[r.kind]);
    return r;
  }

  /** Calls `listener` with the outcome of every pull under a cache (metrics count them); returns its removal. */
  onResolution(listener: ResolutionListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private tell(cache: string, outcome: CacheOutcome): void {
    for (const l of this.listeners) l({ cache, outcome });
  }

  private async resolveTag(name: string, m: CacheMatch, tag: string): Promise<Resolution> {
    const now = this.settings.clock.now();
    const { cache } = m;
    const [row, local] = [await cacheTag(this.db, name, tag), await currentTag(this.db, name, tag)];
    const known = row !== undefined && local !== undefined && row.digest === local;
    if (known && now - row.checked_at < cache.check_seconds * 1000) {
      await touchTag(this.db, name, cache.name, tag, now);
      return { kind: 'cached' };
    }
    let fetched: UpstreamManifest | undefined;
    let digest: string | undefined;
    try {
      const up = await this.opts.upstream(cache.remote);
      if (known) {
        const head = await up.headManifest(m.upstream, tag);
        if (head === undefined) throw goneUpstream(name, m, tag);
        if (head.digest === local) {
          await recordChecked(this.db, name, cache.name, tag, local, now);
          return { kind: 'checked' };
        }
        digest = head.digest;
      }
      // by digest once known: the bytes are checked against it
      fetched = await up.getManifest(m.upstream, digest ?? tag);
      if (fetched === undefined) throw goneUpstream(name, m, tag);
    } catch (e) {
      if (e instanceof GoneUpstream) throw e.error;
      const error = (e as Error).message;
      if (known && now - row.checked_at < cache.stale_seconds * 1000) {
        this.opts.onStale?.({ repository: name, tag, remote: cache.remote, error });
        await touchTag(this.db, name, cache.name, tag, now);
        return { kind: 'stale', error };
      }
      throw unavailable(name, m, tag, e);
    }
    const version = await this.commit(name, m, fetched, tag);
    await recordChecked(this.db, name, cache.name, tag, fetched.digest, now);
    return { kind: 'fetched', version };
  }

  private async resolveDigest(name: string, m: CacheMatch, digest: Digest): Promise<Resolution> {
    const now = this.settings.clock.now();
    if (await holdsManifest(this.db, name, digest)) {
      await touchDigest(this.db, name, m.cache.name, digest, now);
      return { kind: 'cached' };
    }
    let fetched: UpstreamManifest | undefined;
    try {
      const up = await this.opts.upstream(m.cache.remote);
      fetched = await up.getManifest(m.upstream, digest);
    } catch (e) {
      throw unavailable(name, m, digest, e);
    }
    if (fetched === undefined) throw goneUpstream(name, m, digest).error;
    const version = await this.commit(name, m, fetched);
    await touchDigest(this.db, name, m.cache.name, digest, now);
    return { kind: 'fetched', version };
  }

  /**
   * One version holding the manifest (byte for byte), the blobs it names (those the repository does not hold on
   * demand from the cache's remote, so that this repository's first GET fetches and verifies them) and the tag;
   * none when the repository has them all already (a concurrent pull committed first).
   */
  private async commit(
    name: string,
    m: CacheMatch,
    got: UpstreamManifest,
    tag?: string,
  ): Promise<number | undefined> {
    let manifest: FetchedManifest;
    try {
      manifest = fetchedManifest(got);
    } catch (e) {
      throw new BerthError(
        'UNAVAILABLE',
        `remote ${m.cache.remote} served ${m.upstream}@${got.digest} as a manifest berth cannot read: ` +
          `${(e as Error).message}`,
        { repository: name, remote: m.cache.remote },
      );
    }
    const blobs = requiredBlobs(manifest.parsed);
    const held = await heldBlobs(
      this.db,
      name,
      blobs.map((b) => b.digest),
    );
    const content = emptyContent();
    content.manifests.push(manifest);
    content.held = blobs.filter((b) => held.has(b.digest)).map((b) => b.digest);
    content.remote = blobs
      .filter((b) => !held.has(b.digest))
      .map((b) => ({ digest: b.digest, size: b.size }));
    content.onDemand = { remote: m.cache.remote, upstream: m.upstream };
    if (tag !== undefined) content.tags.push({ tag, digest: manifest.digest });
    const v = await commitContent(this.db, this.store, name, content, {
      message: `pull-through cache ${m.cache.name}: ${m.upstream}${tag !== undefined ? `:${tag}` : ''}@${manifest.digest} from remote ${m.cache.remote}`,
      create: true,
      settings: this.settings,
    });
    return v?.number;
  }
}

/** Upstream answered that it has no such tag or manifest: answered MANIFEST_UNKNOWN, never served stale. */
class GoneUpstream extends Error {
  constructor(readonly error: BerthError) {
    super(error.message);
  }
}

function goneUpstream(name: string, m: CacheMatch, reference: string): GoneUpstream {
  const what = isDigest(reference) ? `manifest ${reference}` : `tag ${reference}`;
  return new GoneUpstream(
    new BerthError(
      'MANIFEST_UNKNOWN',
      `repository ${name} has no ${what}: upstream ${m.upstream} at remote ${m.cache.remote} (cache ${m.cache.name}) has none`,
      { repository: name, remote: m.cache.remote, upstream: m.upstream },
    ),
  );
}

function unavailable(name: string, m: CacheMatch, reference: string, e: unknown): BerthError {
  const sep = isDigest(reference) ? '@' : ':';
  return new BerthError(
    'UNAVAILABLE',
    `cache ${m.cache.name} could not get ${m.upstream}${sep}${reference} from remote ${m.cache.remote} ` +
      `(${(e as Error).message}), and holds no copy checked recently enough to serve instead: try again later`,
    { repository: name, remote: m.cache.remote, upstream: m.upstream },
  );
}
