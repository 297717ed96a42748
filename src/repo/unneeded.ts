// What a repository's latest version no longer needs: untagged manifests past their grace (by policy), and blobs no kept manifest references.
import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.js';

type Db = Kysely<Database>;

/** Digests per statement (bound parameters are limited). */
const BATCH = 500;

export interface UnneededOptions {
  now: number;
  /** blobs that entered the repository or were touched (pushed, mounted, claimed) after this stay (at it: go) */
  cutoff: number;
  /** remove manifests untagged for longer than this (ms); null: keep untagged manifests */
  untaggedAfterMs: number | null;
}

export interface Unneeded {
  /** manifests of the latest version that the untagged policy lets go of, sorted */
  manifests: string[];
  /** blobs of the latest version no kept manifest references, sorted by digest */
  blobs: { digest: string; size: number }[];
}

/** Runs `ask` over `keys` a batch at a time, collecting its rows. */
async function inBatches<T>(keys: string[], ask: (part: string[]) => Promise<T[]>): Promise<T[]> {
  const out: T[] = [];
  for (let i = 0; i < keys.length; i += BATCH) out.push(...(await ask(keys.slice(i, i + BATCH))));
  return out;
}

/**
 * What the latest version of repository `repositoryId` (named `name`) no longer needs. Asked once without the
 * lock (most repositories need everything they hold) and again under the repository's row lock, where the answer
 * is what the new version removes: a manifest push or archive upload committing under the same lock either came
 * first (its manifest is then here and keeps its blobs) or comes after and finds the blobs gone (and is refused).
 *
 * Kept manifests: those a tag points to; when untagged manifests are kept (the default), every manifest; else
 * also those that entered the version, or lost a tag, within the grace period; and, repeatedly, the children of
 * a kept index and the referrers of a kept manifest (their subject). A blob is needed when a kept manifest names
 * it (config or layer); one that is not, but entered the version, was touched (pushed, mounted, claimed) or was
 * last named by a manifest of the version after the cutoff, is pending for this repository again (a push re-sending
 * it), or is claimed by an operation in flight, stays.
 */
export async function unneeded(
  db: Db,
  repositoryId: number,
  name: string,
  opts: UnneededOptions,
): Promise<Unneeded> {
  const current = db
    .selectFrom('repository_content as c')
    .where('c.repository_id', '=', repositoryId)
    .where('c.version_removed', 'is', null);
  const addedAt = (kind: 'blob' | 'manifest') =>
    current
      .leftJoin('repository_versions as v', (j) =>
        j.onRef('v.repository_id', '=', 'c.repository_id').onRef('v.number', '=', 'c.version_added'),
      )
      .select(['c.key', 'v.created_at'])
      .where('c.kind', '=', kind)
      .execute();
  const manifests = new Map((await addedAt('manifest')).map((r) => [r.key, Number(r.created_at ?? 0)]));
  const blobRows = await addedAt('blob');
  if (blobRows.length === 0 && opts.untaggedAfterMs === null) return { manifests: [], blobs: [] };

  const kept = await keptManifests(db, repositoryId, manifests, opts);
  const garbage = [...manifests.keys()].filter((m) => !kept.has(m)).sort();

  // blobs the kept manifests name
  const referenced = new Set(
    (
      await inBatches([...kept], (part) =>
        db
          .selectFrom('manifest_references')
          .select('digest')
          .where('kind', '=', 'blob')
          .where('manifest_digest', 'in', part)
          .execute(),
      )
    ).map((r) => r.digest),
  );
  const unreferenced = blobRows.filter(
    (r) => !referenced.has(r.key) && Number(r.created_at ?? 0) <= opts.cutoff,
  );
  // a blob whose last manifest left the version within the protection time stays too: a client that deleted an
  // image and pushes it again at once (its HEAD finding the blob) must not lose it between HEAD and manifest
  const lastNeeded = new Map(
    (
      await inBatches(
        unreferenced.map((r) => r.key),
        (part) =>
          db
            .selectFrom('repository_content as c')
            .innerJoin('manifest_references as mr', 'mr.manifest_digest', 'c.key')
            .innerJoin('repository_versions as v', (j) =>
              j.onRef('v.repository_id', '=', 'c.repository_id').onRef('v.number', '=', 'c.version_removed'),
            )
            .select((eb) => ['mr.digest', eb.fn.max('v.created_at').as('at')])
            .where('c.repository_id', '=', repositoryId)
            .where('c.kind', '=', 'manifest')
            .where('c.version_removed', 'is not', null)
            .where('mr.kind', '=', 'blob')
            .where('mr.digest', 'in', part)
            .groupBy('mr.digest')
            .execute(),
      )
    ).map((r) => [r.digest, Number(r.at)]),
  );
  const candidates = unreferenced.filter((r) => (lastNeeded.get(r.key) ?? 0) <= opts.cutoff);
  const blobs = (
    await inBatches(
      candidates.map((r) => r.key),
      (part) =>
        db
          .selectFrom('blobs as b')
          .select(['b.digest', 'b.size'])
          .where('b.digest', 'in', part)
          .where('b.touched_at', '<=', opts.cutoff)
          .where((eb) =>
            eb.not(
              eb.exists(
                eb
                  .selectFrom('pending_blobs as p')
                  .select('p.digest')
                  .whereRef('p.digest', '=', 'b.digest')
                  .where('p.repository', '=', name),
              ),
            ),
          )
          .where((eb) =>
            eb.not(
              eb.exists(
                eb
                  .selectFrom('blob_claims as k')
                  .select('k.digest')
                  .whereRef('k.digest', '=', 'b.digest')
                  .where('k.expires_at', '>=', opts.now),
              ),
            ),
          )
          .execute(),
    )
  )
    .map((r) => ({ digest: r.digest, size: Number(r.size) }))
    .sort((a, b) => (a.digest < b.digest ? -1 : a.digest > b.digest ? 1 : 0));
  return { manifests: garbage, blobs };
}

/** The manifests of the latest version that stay (see `unneeded`); `manifests` maps each to when it entered. */
async function keptManifests(
  db: Db,
  repositoryId: number,
  manifests: Map<string, number>,
  opts: UnneededOptions,
): Promise<Set<string>> {
  if (opts.untaggedAfterMs === null) return new Set(manifests.keys());
  const graceStart = opts.now - opts.untaggedAfterMs;
  const tags = db
    .selectFrom('repository_content as c')
    .where('c.repository_id', '=', repositoryId)
    .where('c.kind', '=', 'tag');
  const tagged = new Set(
    (await tags.select('c.value').where('c.version_removed', 'is', null).execute()).map((r) => r.value ?? ''),
  );
  // when each manifest last lost a tag, as far as the retained history tells
  const untaggedAt = new Map(
    (
      await tags
        .innerJoin('repository_versions as v', (j) =>
          j.onRef('v.repository_id', '=', 'c.repository_id').onRef('v.number', '=', 'c.version_removed'),
        )
        .select((eb) => ['c.value', eb.fn.max('v.created_at').as('at')])
        .where('c.version_removed', 'is not', null)
        .groupBy('c.value')
        .execute()
    ).map((r) => [r.value ?? '', Number(r.at)]),
  );
  const kept = new Set<string>();
  for (const [m, added] of manifests) {
    const since = Math.max(added, untaggedAt.get(m) ?? 0);
    if (tagged.has(m) || since > graceStart) kept.add(m);
  }
  // what kept manifests need: an index's children, and the referrers of a kept subject
  const all = [...manifests.keys()];
  const children = new Map<string, string[]>();
  for (const r of await inBatches(all, (part) =>
    db
      .selectFrom('manifest_references')
      .select(['manifest_digest', 'digest'])
      .where('kind', '=', 'manifest')
      .where('manifest_digest', 'in', part)
      .execute(),
  )) {
    if (!manifests.has(r.digest)) continue;
    children.set(r.manifest_digest, [...(children.get(r.manifest_digest) ?? []), r.digest]);
  }
  const referrers = new Map<string, string[]>();
  for (const r of await inBatches(all, (part) =>
    db
      .selectFrom('manifests')
      .select(['digest', 'subject'])
      .where('digest', 'in', part)
      .where('subject', 'is not', null)
      .execute(),
  )) {
    const subject = r.subject ?? '';
    referrers.set(subject, [...(referrers.get(subject) ?? []), r.digest]);
  }
  const todo = [...kept];
  while (todo.length > 0) {
    const m = todo.pop()!;
    for (const next of [...(children.get(m) ?? []), ...(referrers.get(m) ?? [])]) {
      if (kept.has(next)) continue;
      kept.add(next);
      todo.push(next);
    }
  }
  return kept;
}
