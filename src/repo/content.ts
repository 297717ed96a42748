// What a repository's latest version holds, as the registry asks it: blobs, manifests, tags.
import { buffer } from 'node:stream/consumers';
import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.js';
import type { Digest } from '../core/digest.js';
import type { Readable } from 'node:stream';
import { BerthError } from '../core/errors.js';
import { Keys, StoreNotFoundError, type BlobStore, type ByteRange } from '../storage/blob-store.js';
import type { Reference } from '../core/references.js';

export interface ManifestRecord {
  digest: Digest;
  mediaType: string;
  size: number;
}

type Db = Kysely<Database>;

/** The whole of an object of known size as a range, so that the store can read it in fitting chunks. */
const whole = (size: number): ByteRange | undefined => (size > 0 ? { start: 0, end: size - 1 } : undefined);

/** Current (latest-version) content rows of one repository, by name. */
function current(db: Db, name: string) {
  return db
    .selectFrom('repository_content as c')
    .innerJoin('repositories as r', 'r.id', 'c.repository_id')
    .where('r.name', '=', name)
    .where('c.version_removed', 'is', null);
}

/** Digests (of `kind`) the repository holds: in its latest version, or, for blobs, pushed and awaiting a manifest. */
export async function heldBy(
  db: Db,
  repositoryName: string,
  kind: 'blob' | 'manifest',
  digests: string[],
): Promise<Set<string>> {
  const found = new Set<string>();
  if (digests.length === 0) return found;
  const unique = [...new Set(digests)];
  for (let i = 0; i < unique.length; i += 500) {
    const part = unique.slice(i, i + 500);
    // One statement, so one snapshot: a manifest push that moves a blob from pending_blobs into a version
    // between two separate queries would otherwise make it look held by neither (seen under PostgreSQL).
    const inVersion = db
      .selectFrom('repository_content as c')
      .innerJoin('repositories as r', 'r.id', 'c.repository_id')
      .select('c.key as digest')
      .where('r.name', '=', repositoryName)
      .where('c.kind', '=', kind)
      .where('c.version_removed', 'is', null)
      .where('c.key', 'in', part);
    // A pending blob counts only while its row lives: a pending row outliving its blob (cleanup removed it) names
    // bytes that are gone, and a version must never be committed naming them.
    const rows = await (
      kind === 'blob'
        ? inVersion.union(
            db
              .selectFrom('pending_blobs as p')
              .innerJoin('blobs as b', 'b.digest', 'p.digest')
              .select('p.digest')
              .where('p.repository', '=', repositoryName)
              .where('p.digest', 'in', part),
          )
        : inVersion
    ).execute();
    rows.forEach((r) => found.add(r.digest));
  }
  return found;
}

export interface OpenedBlob {
  size: number;
  /** the range served, when one was asked for */
  range?: ByteRange;
  stream?: Readable;
}

export class RepositoryContent {
  constructor(
    private readonly db: Db,
    private readonly store: BlobStore,
  ) {}

  /**
   * A blob of the repository: its size and, unless only `head` is wanted, a stream of it (or of a range, which
   * `rangeOf` works out from the size). Foreign layers are never stored, so they answer BLOB_UNKNOWN here too.
   */
  async openBlob(
    name: string,
    digest: Digest,
    opts: { head?: boolean; rangeOf?: (size: number) => ByteRange | undefined } = {},
  ): Promise<OpenedBlob> {
    const size = await this.blobSize(name, digest);
    if (size === undefined) {
      await this.requireRepository(name);
      throw new BerthError('BLOB_UNKNOWN', `repository ${name} has no blob ${digest}`, { digest });
    }
    const range = opts.rangeOf?.(size);
    if (opts.head) return { size, range };
    return { size, range, stream: await this.openStored(digest, range ?? whole(size)) };
  }

  /** A manifest of the repository by tag or digest, with its exact bytes. */
  async readManifest(
    name: string,
    ref: Reference,
    opts: { head?: boolean } = {},
  ): Promise<ManifestRecord & { bytes?: Buffer }> {
    const rec =
      ref.kind === 'tag'
        ? await this.manifestByTag(name, ref.tag)
        : await this.manifestByDigest(name, ref.digest);
    if (!rec) {
      await this.requireRepository(name);
      const what = ref.kind === 'tag' ? `tag ${ref.tag}` : `manifest ${ref.digest}`;
      throw new BerthError('MANIFEST_UNKNOWN', `repository ${name} has no ${what}`);
    }
    if (opts.head) return rec;
    return { ...rec, bytes: await buffer(await this.openStored(rec.digest, whole(rec.size))) };
  }

  /** The stored bytes of a digest; a file gone from under its row is reported as unknown, for fsck to mark. */
  private async openStored(digest: Digest, range?: ByteRange): Promise<Readable> {
    try {
      return await this.store.reader(Keys.blob(digest), range);
    } catch (e) {
      if (!(e instanceof StoreNotFoundError)) throw e;
      throw new BerthError(
        'BLOB_UNKNOWN',
        `the bytes of ${digest} are missing from the store; run berth fsck`,
        {
          digest,
        },
      );
    }
  }

  async exists(name: string): Promise<boolean> {
    const r = await this.db
      .selectFrom('repositories')
      .select('id')
      .where('name', '=', name)
      .executeTakeFirst();
    return r !== undefined;
  }

  async requireRepository(name: string): Promise<void> {
    if (!(await this.exists(name))) throw new BerthError('NAME_UNKNOWN', `repository ${name} does not exist`);
  }

  /**
   * The size of a blob if the repository's latest version holds it (as a blob, or a manifest's bytes), or it
   * was pushed into the repository and awaits its manifest. Other repositories holding the same bytes do not
   * count: holding them is the proof of ownership.
   */
  async blobSize(name: string, digest: Digest): Promise<number | undefined> {
    // one statement (one snapshot), as in heldBy: a blob moving from pending into a version stays visible
    const row = await current(this.db, name)
      .innerJoin('blobs as b', 'b.digest', 'c.key')
      .select('b.size')
      .where('c.kind', 'in', ['blob', 'manifest'])
      .where('c.key', '=', digest)
      .where('b.state', '=', 'present') // a blob fsck marked missing is unknown until pushed again
      .union(
        // pushed into this repository and awaiting its manifest
        this.db
          .selectFrom('pending_blobs as p')
          .innerJoin('blobs as b', 'b.digest', 'p.digest')
          .select('b.size')
          .where('p.repository', '=', name)
          .where('p.digest', '=', digest)
          .where('b.state', '=', 'present'),
      )
      .executeTakeFirst();
    return row?.size;
  }

  async manifestByDigest(name: string, digest: Digest): Promise<ManifestRecord | undefined> {
    const row = await current(this.db, name)
      .innerJoin('manifests as m', 'm.digest', 'c.key')
      .select(['m.digest', 'm.media_type', 'm.size'])
      .where('c.kind', '=', 'manifest')
      .where('c.key', '=', digest)
      .executeTakeFirst();
    return row && { digest: row.digest as Digest, mediaType: row.media_type, size: row.size };
  }

  async manifestByTag(name: string, tag: string): Promise<ManifestRecord | undefined> {
    const row = await current(this.db, name)
      .innerJoin('manifests as m', 'm.digest', 'c.value')
      .select(['m.digest', 'm.media_type', 'm.size'])
      .where('c.kind', '=', 'tag')
      .where('c.key', '=', tag)
      .executeTakeFirst();
    return row && { digest: row.digest as Digest, mediaType: row.media_type, size: row.size };
  }

  /** Tags in lexical order, after `last`, at most `n`. */
  /** Recent tag lists by repository, version and page: a version's content never changes. */
  private readonly tagPages = new Map<string, string[]>();

  private async versionOf(name: string): Promise<string | undefined> {
    const r = await this.db
      .selectFrom('repositories')
      .select(['id', 'latest_version'])
      .where('name', '=', name)
      .executeTakeFirst();
    return r && `${r.id}@${r.latest_version}`;
  }

  /**
   * The tags of the repository's latest version, in order, a page at a time (NAME_UNKNOWN if there is no such
   * repository). A list read while the latest version
   * stayed the same is that version's, and is kept (the last 32 pages): in a repository with many tags, listing
   * them again costs one lookup instead of a walk over every tag.
   */
  async tags(name: string, opts: { n?: number; last?: string } = {}): Promise<string[]> {
    const before = await this.versionOf(name);
    if (before === undefined) throw new BerthError('NAME_UNKNOWN', `repository ${name} does not exist`);
    const key = `${before}\0${opts.n ?? ''}\0${opts.last ?? ''}`;
    const kept = this.tagPages.get(key);
    if (kept) return kept;
    let q = current(this.db, name).select('c.key').where('c.kind', '=', 'tag').orderBy('c.key');
    if (opts.last !== undefined) q = q.where('c.key', '>', opts.last);
    if (opts.n !== undefined) q = q.limit(opts.n);
    const tags = (await q.execute()).map((r) => r.key);
    if ((await this.versionOf(name)) === before) {
      if (this.tagPages.size >= 32) this.tagPages.delete(this.tagPages.keys().next().value!);
      this.tagPages.set(key, tags);
    }
    return tags;
  }

  /**
   * Of `digests`, those the repository's latest version holds as a blob, or as the diff ID of a layer blob it
   * holds. Used by clients to leave out of an archive what the destination already has.
   */
  async presentBlobs(name: string, digests: string[]): Promise<string[]> {
    const present = new Set<string>();
    for (let i = 0; i < digests.length; i += 500) {
      const part = digests.slice(i, i + 500);
      for (const r of await current(this.db, name)
        .select('c.key')
        .where('c.kind', '=', 'blob')
        .where('c.key', 'in', part)
        .execute()) {
        present.add(r.key);
      }
      for (const r of await current(this.db, name)
        .innerJoin('layer_diff_ids as l', 'l.blob_digest', 'c.key')
        .select('l.diff_id')
        .where('c.kind', '=', 'blob')
        .where('l.diff_id', 'in', part)
        .execute()) {
        present.add(r.diff_id);
      }
    }
    return digests.filter((d) => present.has(d));
  }
}
