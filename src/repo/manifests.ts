// The manifests of a repository: get (by tag or digest), put and delete (each one new version), referrers.
import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.js';
import { BerthError } from '../core/errors.js';
import { algorithmOf, hashOf, type Digest } from '../core/digest.js';
import { parseManifest, requiredBlobs, type Descriptor } from '../core/manifests.js';
import type { Reference } from '../core/references.js';
import { buffer } from 'node:stream/consumers';
import type { BlobStore } from '../storage/blob-store.js';
import { Keys, promote, receive, storedDiffIds, storedKey } from '../storage/cas.js';
import {
  commitVersion,
  DEFAULT_COMMIT_SETTINGS,
  type CommitSettings,
  type ContentChange,
} from './versions.js';
import { refuseImmutableChanges } from './immutability.js';
import { recordBlobs, recordManifest, takePendingBlobs } from './catalogue.js';
import { current, heldBlobs, heldOnlyAsBlobs, inLatestVersion } from './held.js';
import { openStored } from './blobs.js';
import { locateIn } from '../gc/blob-objects.js';
import { withClaims } from '../gc/claims.js';
import { checkQuotas } from './quotas.js';

type Db = Kysely<Database>;

export interface ManifestRecord {
  digest: Digest;
  mediaType: string;
  size: number;
}

export interface PushedManifest {
  digest: Digest;
  subject?: Digest;
  version: number;
}

export class Manifests {
  constructor(
    private readonly db: Db,
    private readonly store: BlobStore,
    private readonly settings: CommitSettings = DEFAULT_COMMIT_SETTINGS,
  ) {}

  /** A manifest of the repository by tag or digest, with its exact bytes unless only `head` is wanted. */
  async get(
    name: string,
    ref: Reference,
    opts: { head?: boolean } = {},
  ): Promise<ManifestRecord & { bytes?: Buffer }> {
    // one statement (a round trip fewer on PostgreSQL): the manifest's row, and where its bytes are
    let q = current(this.db, name)
      .innerJoin('manifests as m', 'm.digest', ref.kind === 'tag' ? 'c.value' : 'c.key')
      .leftJoin('blobs as b', 'b.digest', 'm.digest')
      .select(['m.digest', 'm.media_type', 'm.size', 'b.object_key']);
    q =
      ref.kind === 'tag'
        ? q.where('c.kind', '=', 'tag').where('c.key', '=', ref.tag)
        : q.where('c.kind', '=', 'manifest').where('c.key', '=', ref.digest);
    const row = await q.executeTakeFirst();
    if (!row) {
      const repo = await this.db
        .selectFrom('repositories')
        .select('id')
        .where('name', '=', name)
        .executeTakeFirst();
      if (!repo) throw new BerthError('NAME_UNKNOWN', `repository ${name} does not exist`);
      const what = ref.kind === 'tag' ? `tag ${ref.tag}` : `manifest ${ref.digest}`;
      throw new BerthError('MANIFEST_UNKNOWN', `repository ${name} has no ${what}`);
    }
    const rec = { digest: row.digest as Digest, mediaType: row.media_type, size: row.size };
    if (opts.head) return rec;
    return {
      ...rec,
      bytes: await buffer(
        await openStored(this.store, storedKey(rec.digest, row.object_key), rec.digest, rec.size),
      ),
    };
  }

  /**
   * Stores a manifest exactly as sent and makes one new version holding it, its blobs and its tags (the reference's,
   * if a tag, and `tags`, already checked against the grammar). Every blob an image manifest names must be the
   * repository's (holding the bytes is the proof of ownership), foreign layers aside, which are never stored. An
   * index may be sparse: children the repository does not hold are not required, and stay unknown there.
   */
  async put(
    name: string,
    ref: Reference,
    bytes: Buffer,
    contentType: string | undefined,
    tags: string[] = [],
  ): Promise<PushedManifest> {
    const parsed = parseManifest(bytes, contentType);
    // hashed with the algorithm of the digest the URL names (sha256 for a tag)
    const digest = hashOf(ref.kind === 'digest' ? algorithmOf(ref.digest) : 'sha256', bytes);
    if (ref.kind === 'digest' && ref.digest !== digest) {
      throw new BerthError(
        'DIGEST_INVALID',
        `the manifest's digest is ${digest}, not ${ref.digest} as the URL says`,
        {
          digest: ref.digest,
          actual: digest,
        },
      );
    }
    const blobs = requiredBlobs(parsed).map((d) => d.digest);
    const allTags = [...new Set([...(ref.kind === 'tag' ? [ref.tag] : []), ...tags])];
    const missing = async (db: Db) => {
      const held = await heldBlobs(db, name, blobs);
      return [...new Set(blobs.filter((d) => !held.has(d)))];
    };
    const children = parsed.manifests.map((d) => d.digest);
    const absent = await missing(this.db);
    if (absent.length > 0) throw unknownReferences(name, absent);
    await checkIndexChildren(this.db, name, children);
    // Before the manifest's file is written, so that a push refused for a quota stores nothing; commitVersion
    // checks again under the quotas' locks (a push losing that race leaves the file to cleanup, as below).
    await checkQuotas(this.db, name, [{ digest, size: bytes.length }], `manifest ${digest}`, { lock: false });
    // Checked before the manifest's file is stored, so that a refusal leaves the store as it was; checked again
    // under the lock by the commit.
    const tagChanges = allTags.map((tag): ContentChange => ({ op: 'add', kind: 'tag', tag, digest }));
    await refuseImmutableChanges(this.db, name, tagChanges);
    const commit = { create: true, settings: this.settings };

    return withClaims(this.db, [digest], async () => {
      const tmpDir = Keys.uploadDir(randomUUID());
      try {
        await receive(this.store, `${tmpDir}data`, [bytes]);
        await promote(this.store, `${tmpDir}data`, digest);
      } finally {
        await this.store.deletePrefix(tmpDir);
      }
      const diffIds = await storedDiffIds(this.store, locateIn(this.db), parsed.config);
      // Should the commit below fail, the manifest's file stays, named by no row: harmless, and left to cleanup.
      // Deleting it here could pull it from under a concurrent push of the same bytes that is about to commit.
      const version = await commitVersion(this.db, name, commit, async ({ trx }) => {
        // Decided again under the repository's lock, the one a blob DELETE takes: the pushed blobs are taken from
        // pending (a DELETE that released one first wins, and this push is refused), the rest must be in the
        // latest version, which nothing changes until this transaction ends.
        const taken = await takePendingBlobs(trx, name, blobs);
        const inVersion = await inLatestVersion(
          trx,
          name,
          ['blob'],
          blobs.filter((d) => !taken.has(d)),
        );
        const gone = [...new Set(blobs.filter((d) => !taken.has(d) && !inVersion.has(d)))];
        if (gone.length > 0) throw unknownReferences(name, gone);
        await checkIndexChildren(trx, name, children);
        await recordBlobs(trx, [{ digest, size: bytes.length }]);
        await recordManifest(trx, { digest, size: bytes.length, parsed, diffIds });
        const changes: ContentChange[] = [{ op: 'add', kind: 'manifest', digest }];
        for (const b of blobs) changes.push({ op: 'add', kind: 'blob', digest: b });
        return [...changes, ...tagChanges];
      });
      return { digest, subject: parsed.subject?.digest, version: version.number };
    });
  }

  /** Deletes a manifest (by digest) and the tags pointing at it, or a tag alone: one new version. */
  async delete(name: string, ref: Reference): Promise<number> {
    const commit = { create: false, settings: this.settings };
    const v = await commitVersion(this.db, name, commit, async ({ trx, repositoryId }) => {
      const current = trx
        .selectFrom('repository_content')
        .select(['key', 'value'])
        .where('repository_id', '=', repositoryId)
        .where('version_removed', 'is', null);
      if (ref.kind === 'tag') {
        const tag = await current.where('kind', '=', 'tag').where('key', '=', ref.tag).executeTakeFirst();
        if (!tag) throw new BerthError('MANIFEST_UNKNOWN', `repository ${name} has no tag ${ref.tag}`);
        return [{ op: 'remove', kind: 'tag', key: ref.tag }];
      }
      const m = await current.where('kind', '=', 'manifest').where('key', '=', ref.digest).executeTakeFirst();
      if (!m) throw new BerthError('MANIFEST_UNKNOWN', `repository ${name} has no manifest ${ref.digest}`);
      const tags = await current.where('kind', '=', 'tag').where('value', '=', ref.digest).execute();
      return [
        { op: 'remove', kind: 'manifest', key: ref.digest },
        ...tags.map((t): ContentChange => ({ op: 'remove', kind: 'tag', key: t.key })),
      ];
    });
    return v.number;
  }

  /** Manifests of the repository's latest version whose subject is `digest`, as index descriptors. */
  async referrers(name: string, digest: Digest, artifactType?: string): Promise<Descriptor[]> {
    let q = this.db
      .selectFrom('repository_content as c')
      .innerJoin('repositories as r', 'r.id', 'c.repository_id')
      .innerJoin('manifests as m', 'm.digest', 'c.key')
      .select(['m.digest', 'm.media_type', 'm.size', 'm.artifact_type', 'm.annotations'])
      .where('r.name', '=', name)
      .where('c.kind', '=', 'manifest')
      .where('c.version_removed', 'is', null)
      .where('m.subject', '=', digest)
      .orderBy('m.digest');
    if (artifactType !== undefined) q = q.where('m.artifact_type', '=', artifactType);
    return (await q.execute()).map((r) => ({
      mediaType: r.media_type,
      digest: r.digest as Digest,
      size: r.size,
      ...(r.artifact_type ? { artifactType: r.artifact_type } : {}),
      ...(r.annotations ? { annotations: JSON.parse(r.annotations) as Record<string, string> } : {}),
    }));
  }
}

/**
 * What an index may name as a child manifest, checked alike for a registry push and an archive upload (for the
 * children the archive leaves out): a manifest of the repository, or one it does not hold at all (a sparse index:
 * the child stays unknown there until pushed). Not a digest the repository holds only as a blob (an image config,
 * a layer): those bytes are the repository's and are no manifest of it. Refused with MANIFEST_BLOB_UNKNOWN naming
 * each; call it inside the commit's transaction too, where the write relies on it.
 */
export async function checkIndexChildren(db: Db, name: string, children: Digest[]): Promise<void> {
  if (children.length === 0) return;
  const blobs = await heldOnlyAsBlobs(db, name, children);
  if (blobs.length > 0) {
    throw new BerthError(
      'MANIFEST_BLOB_UNKNOWN',
      `the index names ${blobs.length} child manifest(s) that repository ${name} holds as blobs, not as manifests: ${blobs.join(', ')}`,
      { repository: name, missing: blobs },
    );
  }
}

function unknownReferences(name: string, missing: string[]): BerthError {
  return new BerthError(
    'MANIFEST_BLOB_UNKNOWN',
    `the manifest refers to ${missing.length} blob(s) that repository ${name} does not hold: ${missing.join(', ')}`,
    { repository: name, missing },
  );
}
