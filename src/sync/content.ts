// Content brought in from an upstream registry, turned into one repository version: manifests kept byte for byte, blob rows (present or on demand), tags.
import { randomUUID } from 'node:crypto';
import type { Kysely, Transaction } from 'kysely';
import type { Database } from '../db/schema.js';
import { BerthError } from '../core/errors.js';
import type { Digest } from '../core/digest.js';
import { parseManifest, requiredBlobs, type Descriptor, type ParsedManifest } from '../core/manifests.js';
import type { BlobStore } from '../storage/blob-store.js';
import { Keys, promote, receive, storedDiffIds, type Locate } from '../storage/cas.js';
import { locateIn } from '../gc/blob-objects.js';
import { withClaims } from '../gc/claims.js';
import { lockRemote } from './remotes.js';
import { recordBlobs, recordManifest } from '../repo/catalogue.js';
import { heldBlobs, inLatestVersion } from '../repo/held.js';
import { checkIndexChildren } from '../repo/manifests.js';
import {
  commitVersionIn,
  DEFAULT_COMMIT_SETTINGS,
  type CommitSettings,
  type CommittedVersion,
  type ContentChange,
} from '../repo/versions.js';

type Trx = Transaction<Database>;

/** A manifest fetched from upstream: its exact bytes (verified against `digest`) and what they say. */
export interface FetchedManifest {
  digest: Digest;
  bytes: Buffer;
  parsed: ParsedManifest;
}

/** Parses a manifest upstream served (its media type as upstream declared it). */
export function fetchedManifest(m: { digest: Digest; mediaType: string; bytes: Buffer }): FetchedManifest {
  return {
    digest: m.digest,
    bytes: m.bytes,
    parsed: parseManifest(m.bytes, m.mediaType, `manifest ${m.digest}`),
  };
}

/** Where the bytes of on-demand blobs come from on first GET (the on_demand_blobs rows). */
export interface OnDemandSource {
  remote: string;
  /** the upstream repository */
  upstream: string;
}

/** What a sync (or a cache resolving a manifest) brings into a repository as one version. */
export interface ContentToRecord {
  /** every manifest fetched (roots, the chosen children of indexes, referrers); stored as they came */
  manifests: FetchedManifest[];
  /**
   * blobs downloaded from upstream and verified by digest and size: the proof that the repository may hold them.
   * With `key`, the verified bytes wait at that temporary key and are moved into place (or discarded when berth
   * stores them already) under the commit's claim; without, they are at their content address already.
   */
  downloaded: { digest: Digest; size: number; key?: string }[];
  /** blobs recorded without bytes, fetched on first GET from `onDemand` (requires `onDemand`) */
  remote: { digest: Digest; size: number }[];
  onDemand?: OnDemandSource;
  /** blobs the manifests need that the repository held when planned: re-checked under the repository's lock */
  held: Digest[];
  /** tags set (new or moved) */
  tags: { tag: string; digest: Digest }[];
  /** tags removed (a mirror sync: gone upstream) */
  removeTags: string[];
}

export const emptyContent = (): ContentToRecord => ({
  manifests: [],
  downloaded: [],
  remote: [],
  held: [],
  tags: [],
  removeTags: [],
});

/** Thrown inside a commit whose changes change nothing, so that its transaction rolls back (no empty version). */
class NothingChanged extends Error {}

/**
 * Writes `content` into repository `name` as exactly one new version (created if absent when `create`), or none
 * when it would change nothing (undefined then). Downloaded blobs and the manifests' bytes go to their content
 * addresses under a claim on every digest the version names, then one transaction records rows and commits the
 * version. A failure changes nothing but may leave files no row names (cleanup's to take, as for a failed push:
 * deleting them could pull them from under a concurrent push of the same bytes).
 */
export async function commitContent(
  db: Kysely<Database>,
  store: BlobStore,
  name: string,
  content: ContentToRecord,
  opts: { message: string; create: boolean; settings?: CommitSettings },
): Promise<CommittedVersion | undefined> {
  if (content.remote.length > 0 && !content.onDemand) {
    throw new Error('on-demand blobs need the remote they come from');
  }
  const claimed = [
    ...content.manifests.map((m) => m.digest),
    ...content.downloaded.map((b) => b.digest),
    ...content.remote.map((b) => b.digest),
    ...content.held,
  ];
  return withClaims(db, claimed, async () => {
    for (const b of content.downloaded)
      if (b.key !== undefined) await keepDownloaded(store, locateIn(db), b.key, b.digest);
    await storeManifests(store, content.manifests);
    const diffIds = new Map<Digest, Digest[] | undefined>();
    for (const m of content.manifests)
      diffIds.set(m.digest, await storedDiffIds(store, locateIn(db), m.parsed.config));
    const settings = opts.settings ?? DEFAULT_COMMIT_SETTINGS;
    try {
      return await db.transaction().execute(async (trx) => {
        const v = await commitVersionIn(
          trx,
          name,
          { create: opts.create, message: opts.message, settings },
          ({ trx }) => contentChanges(trx, name, content, diffIds, settings.clock.now()),
        );
        if (v.added === 0 && v.removed === 0) throw new NothingChanged();
        return v;
      });
    } catch (e) {
      if (e instanceof NothingChanged) return undefined;
      throw e;
    }
  });
}

/** Writes manifests' exact bytes to their content addresses (a manifest's bytes are a blob of the store). */
export async function storeManifests(store: BlobStore, manifests: FetchedManifest[]): Promise<void> {
  const dir = Keys.uploadDir(randomUUID());
  try {
    for (const [i, m] of manifests.entries()) {
      await receive(store, `${dir}${i}`, [m.bytes]);
      await promote(store, `${dir}${i}`, m.digest);
    }
  } finally {
    await store.deletePrefix(dir);
  }
}

/**
 * Moves a blob downloaded (and verified) at `tempKey` to its content address, or discards it when berth already
 * stores those bytes: the download was the proof of ownership, the bytes are stored once.
 */
export async function keepDownloaded(
  store: BlobStore,
  locate: Locate,
  tempKey: string,
  digest: Digest,
): Promise<'stored' | 'known'> {
  // where the row says the bytes are (an upload's object, or the content address); the caller's claim keeps them
  if (await store.stat(await locate(digest))) {
    await store.delete(tempKey);
    return 'known';
  }
  await promote(store, tempKey, digest);
  return 'stored';
}

/**
 * The rows and version changes of `content`, inside the commit's transaction (under the repository's lock):
 * re-checks the blobs relied on as held, records manifests and blobs, and returns the changes.
 */
export async function contentChanges(
  trx: Trx,
  name: string,
  content: ContentToRecord,
  diffIds: Map<Digest, Digest[] | undefined>,
  now: number,
): Promise<ContentChange[]> {
  const stillHeld = await heldBlobs(trx, name, content.held);
  const gone = [...new Set(content.held.filter((d) => !stillHeld.has(d)))].sort();
  if (gone.length > 0) {
    throw new BerthError(
      'MANIFEST_BLOB_UNKNOWN',
      `repository ${name} no longer holds ${gone.length} blob(s) the synced manifests need: ${gone.join(', ')}; run the sync again`,
      { repository: name, missing: gone },
    );
  }
  const manifests = [...content.manifests].sort((a, b) => (a.digest < b.digest ? -1 : 1));
  for (const m of manifests) {
    await checkIndexChildren(
      trx,
      name,
      m.parsed.manifests.map((c) => c.digest),
    );
  }
  await recordBlobs(trx, [
    ...content.downloaded.map((b) => ({ digest: b.digest, size: b.size })),
    ...manifests.map((m) => ({ digest: m.digest, size: m.bytes.length })),
  ]);
  // the bytes came for this repository: what it held on demand is held for good
  await forgetOnDemand(trx, name, [
    ...content.downloaded.map((b) => b.digest),
    ...manifests.map((m) => m.digest),
  ]);
  if (content.onDemand) await recordRemoteBlobs(trx, name, content.remote, content.onDemand, now);
  const changes: ContentChange[] = [];
  for (const m of manifests) {
    await recordManifest(trx, {
      digest: m.digest,
      size: m.bytes.length,
      parsed: m.parsed,
      diffIds: diffIds.get(m.digest),
    });
    changes.push({ op: 'add', kind: 'manifest', digest: m.digest });
    for (const b of requiredBlobs(m.parsed)) changes.push({ op: 'add', kind: 'blob', digest: b.digest });
  }
  const manifestDigests = new Set(manifests.map((m) => m.digest as string));
  const tagTargets = content.tags.map((t) => t.digest).filter((d) => !manifestDigests.has(d));
  const targetsHeld = await inLatestVersion(trx, name, ['manifest'], tagTargets);
  for (const t of content.tags) {
    if (!manifestDigests.has(t.digest) && !targetsHeld.has(t.digest)) {
      throw new BerthError(
        'MANIFEST_UNKNOWN',
        `repository ${name} has no manifest ${t.digest} for tag ${t.tag}`,
      );
    }
    changes.push({ op: 'add', kind: 'tag', tag: t.tag, digest: t.digest });
  }
  for (const tag of content.removeTags) changes.push({ op: 'remove', kind: 'tag', key: tag });
  return changes;
}

/**
 * Blob rows without bytes: state 'remote' unless berth has a row for them already (stored for another
 * repository, or on demand elsewhere), and an on_demand_blobs row saying where this repository's first GET
 * fetches them from. Blobs the repository holds already need neither.
 */
async function recordRemoteBlobs(
  trx: Trx,
  name: string,
  blobs: { digest: Digest; size: number }[],
  from: OnDemandSource,
  now: number,
): Promise<void> {
  const held = await inLatestVersion(
    trx,
    name,
    ['blob'],
    blobs.map((b) => b.digest),
  );
  const todo = [...new Map(blobs.filter((b) => !held.has(b.digest)).map((b) => [b.digest, b])).values()].sort(
    (a, b) => (a.digest < b.digest ? -1 : 1),
  );
  // rows naming the remote: it may not be removed meanwhile (REMOTE_UNKNOWN when it is gone)
  if (todo.length > 0) await lockRemote(trx, from.remote);
  for (let i = 0; i < todo.length; i += 500) {
    const part = todo.slice(i, i + 500);
    await trx
      .insertInto('blobs')
      .values(
        part.map((b) => ({
          digest: b.digest,
          size: b.size,
          created_at: now,
          touched_at: now,
          state: 'remote' as const,
        })),
      )
      .onConflict((oc) => oc.column('digest').doUpdateSet({ touched_at: now }))
      .execute();
    await trx
      .insertInto('on_demand_blobs')
      .values(
        part.map((b) => ({ repository: name, digest: b.digest, size: b.size, ...from, created_at: now })),
      )
      .onConflict((oc) =>
        oc.columns(['repository', 'digest']).doUpdateSet({ remote: from.remote, upstream: from.upstream }),
      )
      .execute();
  }
}

async function forgetOnDemand(trx: Trx, name: string, digests: string[]): Promise<void> {
  const unique = [...new Set(digests)].sort();
  for (let i = 0; i < unique.length; i += 500) {
    await trx
      .deleteFrom('on_demand_blobs')
      .where('repository', '=', name)
      .where('digest', 'in', unique.slice(i, i + 500))
      .execute();
  }
}

/** The blobs an image manifest needs (config and non-foreign layers); none for an index. */
export const blobsOf = (m: FetchedManifest): Descriptor[] => requiredBlobs(m.parsed);

/** Whether a descriptor's platform is one of `platforms` ("os/arch" matches every variant); empty: every one. */
export function platformChosen(d: Descriptor, platforms: string[]): boolean {
  if (platforms.length === 0) return true;
  const p = d.platform as { os?: unknown; architecture?: unknown; variant?: unknown } | undefined;
  if (!p || typeof p.os !== 'string' || typeof p.architecture !== 'string') return false;
  return platforms.some((want) => {
    const [os, arch, variant] = want.split('/');
    return os === p.os && arch === p.architecture && (variant === undefined || variant === p.variant);
  });
}

/** The children of an index a sync fetches: those of the chosen platforms (the index itself stays as published). */
export const chosenChildren = (m: FetchedManifest, platforms: string[]): Descriptor[] =>
  m.parsed.manifests.filter((c) => platformChosen(c, platforms));
