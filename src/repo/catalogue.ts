// The catalogue of stored content: records of blobs, manifests, what a manifest refers to, layer diff IDs, and the
// blobs pushed into a repository awaiting a manifest; written in the transactions that rely on them.
import { sql, type Kysely, type Transaction } from 'kysely';
import type { Database } from '../db/schema.js';
import type { Digest } from '../core/digest.js';
import type { ParsedManifest } from '../core/manifests.js';
import { isForeignLayer } from '../core/media-types.js';

type Trx = Transaction<Database>;

// Rows of these global tables are shared by every repository. Concurrent transactions inserting the same
// keys wait for each other's uncommitted rows, so every insert goes in one order (sorted by key): in any
// other order two uploads sharing blobs can deadlock on PostgreSQL.
const byKey = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** Rows per INSERT: a manifest may name thousands of layers, more bound parameters than one statement takes
 * (SQLite: 32 766, PostgreSQL: 65 535). */
const BATCH = 500;

/** A blob whose bytes are stored: at `objectKey` (an upload's object), or at its content address when absent. */
export interface StoredBlob {
  digest: Digest;
  size: number;
  objectKey?: string;
}

/**
 * Records blobs whose bytes are in the store, create-if-absent through the primary key: a new row maps the digest
 * to the writer's object. An existing row is touched and keeps its object while its bytes are present (the first
 * writer wins: the caller deletes its own object, see `unmapped`); a row whose bytes were found missing or never
 * stored (on demand) takes the writer's. Returns, for each digest, the key its row maps now (null: its content
 * address).
 */
export async function recordBlobs(trx: Trx, blobs: StoredBlob[]): Promise<Map<Digest, string | null>> {
  const now = Date.now();
  const unique = [...new Map(blobs.map((b) => [b.digest, b])).values()];
  unique.sort((a, b) => byKey(a.digest, b.digest));
  const mapped = new Map<Digest, string | null>();
  for (let i = 0; i < unique.length; i += BATCH) {
    const rows = await trx
      .insertInto('blobs')
      .values(
        unique.slice(i, i + BATCH).map((b) => ({
          digest: b.digest,
          size: b.size,
          created_at: now,
          touched_at: now,
          state: 'present' as const,
          object_key: b.objectKey ?? null,
        })),
      )
      // committed again: cleanup's protection time starts anew, and a file fsck had found missing is back
      .onConflict((oc) =>
        oc.column('digest').doUpdateSet((eb) => ({
          touched_at: now,
          size: eb.ref('excluded.size'),
          object_key: sql<
            string | null
          >`case when blobs.state = 'present' then blobs.object_key else excluded.object_key end`,
          state: 'present',
        })),
      )
      .returning(['digest', 'object_key'])
      .execute();
    for (const r of rows) mapped.set(r.digest as Digest, r.object_key);
  }
  return mapped;
}

/** The writers' objects that `recordBlobs` did not map (their digest was stored already): theirs to delete. */
export function unmapped(blobs: StoredBlob[], mapped: Map<Digest, string | null>): string[] {
  return blobs.flatMap((b) => (b.objectKey && mapped.get(b.digest) !== b.objectKey ? [b.objectKey] : []));
}

export interface ManifestToRecord {
  digest: Digest;
  size: number;
  parsed: ParsedManifest;
  /** for image manifests: the config's rootfs.diff_ids, aligned with layers */
  diffIds?: Digest[];
}

/** Records a manifest (whose bytes are a stored blob), its references and its layers' diff IDs. */
export async function recordManifest(trx: Trx, m: ManifestToRecord): Promise<void> {
  const p = m.parsed;
  await recordBlobs(trx, [{ digest: m.digest, size: m.size }]);
  await trx
    .insertInto('manifests')
    .values({
      digest: m.digest,
      media_type: p.mediaType,
      size: m.size,
      artifact_type: p.artifactType ?? (p.config && p.config.mediaType) ?? null,
      subject: p.subject?.digest ?? null,
      config_digest: p.config?.digest ?? null,
      created_at: Date.now(),
      annotations: p.annotations ? JSON.stringify(p.annotations) : null,
    })
    .onConflict((oc) => oc.column('digest').doNothing())
    .execute();
  const refs = new Map<
    string,
    { manifest_digest: string; digest: string; kind: 'blob' | 'manifest' | 'foreign' }
  >();
  const add = (digest: string, kind: 'blob' | 'manifest' | 'foreign') =>
    refs.set(`${kind}:${digest}`, { manifest_digest: m.digest, digest, kind });
  if (p.config) add(p.config.digest, 'blob');
  for (const l of p.layers) add(l.digest, isForeignLayer(l.mediaType) ? 'foreign' : 'blob');
  for (const c of p.manifests) add(c.digest, 'manifest');
  const refRows = [...refs.values()].sort((a, b) => byKey(a.digest, b.digest) || byKey(a.kind, b.kind));
  for (let i = 0; i < refRows.length; i += BATCH) {
    await trx
      .insertInto('manifest_references')
      .values(refRows.slice(i, i + BATCH))
      .onConflict((oc) => oc.columns(['manifest_digest', 'digest', 'kind']).doNothing())
      .execute();
  }
  if (m.diffIds && m.diffIds.length === p.layers.length) {
    const rows = p.layers
      .map((l, i) => ({
        blob_digest: l.digest,
        diff_id: m.diffIds![i]!,
        media_type: l.mediaType,
        size: l.size,
      }))
      .filter((r) => !isForeignLayer(r.media_type))
      .sort((a, b) => byKey(a.blob_digest, b.blob_digest) || byKey(a.diff_id, b.diff_id));
    for (let i = 0; i < rows.length; i += BATCH) {
      await trx
        .insertInto('layer_diff_ids')
        .values(rows.slice(i, i + BATCH))
        .onConflict((oc) => oc.columns(['blob_digest', 'diff_id']).doNothing())
        .execute();
    }
  }
}

/** Marks a stored blob as the repository's, awaiting the manifest that will add it to a version. */
export async function addPendingBlob(db: Kysely<Database>, name: string, digest: Digest): Promise<void> {
  await db
    .insertInto('pending_blobs')
    .values({ repository: name, digest, created_at: Date.now() })
    .onConflict((oc) => oc.columns(['repository', 'digest']).doUpdateSet({ created_at: Date.now() }))
    .execute();
}

/**
 * Takes the pending rows of `digests` in repository `name` (a manifest committing them into a version) and
 * returns those taken whose blob row lives. Taking rather than reading: a concurrent DELETE of one of them either
 * took it first (then it is not returned) or waits for this transaction and finds it gone.
 */
export async function takePendingBlobs(trx: Trx, name: string, digests: string[]): Promise<Set<string>> {
  const taken = new Set<string>();
  const unique = [...new Set(digests)].sort(byKey);
  for (let i = 0; i < unique.length; i += BATCH) {
    const rows = await trx
      .deleteFrom('pending_blobs')
      .where('repository', '=', name)
      .where('digest', 'in', unique.slice(i, i + BATCH))
      .returning('digest')
      .execute();
    if (rows.length === 0) continue;
    const live = await trx
      .selectFrom('blobs')
      .select('digest')
      .where(
        'digest',
        'in',
        rows.map((r) => r.digest),
      )
      .execute();
    for (const r of live) taken.add(r.digest);
  }
  return taken;
}
