// `berth du`: bytes per repository (latest version, pending, every retained version, unique) and for the whole store.
import { sql, type Kysely, type RawBuilder } from 'kysely';
import type { Database } from '../db/schema.js';
import { BerthError } from '../core/errors.js';
import type { BlobStore } from '../storage/blob-store.js';

type Db = Kysely<Database>;

export interface RepositoryDiskUsage {
  name: string;
  /** the distinct blobs and manifests of its latest version */
  latest: number;
  /** blobs pushed (or mounted) into it awaiting a manifest, not in its latest version */
  pending: number;
  /** the distinct blobs and manifests of all its retained versions (the latest included), pending left out */
  retained: number;
  /** of what it refers to (any retained version, or pending), what no other repository refers to: what removing
   *  the repository would free, once cleanup has run */
  unique: number;
}

export interface StoreDiskUsage {
  /** every blob the database records (layers, configs, manifests), counted once however many hold it */
  blobs: { count: number; bytes: number };
  /** of them, those a retained version of some repository or a pending push refers to */
  referenced: { count: number; bytes: number };
  /** the rest: what cleanup removes once their protection time is over and no operation in flight claims them */
  unreferenced: { count: number; bytes: number };
  /** bytes received by open blob upload sessions */
  uploads: { sessions: number; bytes: number };
  /** files of archive uploads being received (staging/ of the store) */
  staging: { files: number; bytes: number };
}

const num = (v: unknown): number => Number(v ?? 0);

/** Per repository, the bytes of the distinct (repository, digest) pairs `pairs` selects, joined to their blobs. */
async function bytesBy(db: Db, pairs: RawBuilder<unknown>): Promise<Map<string, number>> {
  const { rows } = await sql<{ repository: string; bytes: number | string }>`
    select x.repository, sum(b.size) as bytes from (${pairs}) x
    join blobs b on b.digest = x.digest
    group by x.repository`.execute(db);
  return new Map(rows.map((r) => [r.repository, num(r.bytes)]));
}

export class DiskUsage {
  constructor(
    private readonly db: Db,
    private readonly blobStore: BlobStore,
  ) {}

  /**
   * Per repository (every one, or only `name`; NAME_UNKNOWN if it neither exists nor has pending pushes), by name.
   * A repository that does not exist yet but has pending pushes is listed too. Each figure counts a blob once per
   * repository (blobs and manifests alike: a manifest's bytes are a stored blob); `unique` is what this repository
   * refers to and no other does.
   */
  async repositories(name?: string): Promise<RepositoryDiskUsage[]> {
    const { db } = this;
    const only = (column: string) => (name === undefined ? sql`` : sql`and ${sql.ref(column)} = ${name}`);
    const stored = sql`c.kind in ('blob', 'manifest')`;
    const retainedPairs = sql`
      select distinct r.name as repository, c.key as digest
      from repository_content c join repositories r on r.id = c.repository_id
      where ${stored} ${only('r.name')}`;
    const latestPairs = sql`
      select distinct r.name as repository, c.key as digest
      from repository_content c join repositories r on r.id = c.repository_id
      where ${stored} and c.version_removed is null ${only('r.name')}`;
    const pendingPairs = sql`
      select p.repository as repository, p.digest as digest from pending_blobs p where 1 = 1 ${only('p.repository')}`;
    const latest = await bytesBy(db, latestPairs);
    const retained = await bytesBy(db, retainedPairs);
    // pending pushes that are not in the latest version as well
    const pending = await bytesBy(
      db,
      sql`select p.repository, p.digest from (${pendingPairs}) p
        where not exists (select 1 from (${latestPairs}) l where l.repository = p.repository and l.digest = p.digest)`,
    );
    // what a repository refers to (any retained version, or pending) and no other repository does
    const unique = await bytesBy(
      db,
      sql`select u.repository, u.digest from (${retainedPairs} union ${pendingPairs}) u
        where not exists (
          select 1 from repository_content c join repositories r on r.id = c.repository_id
          where ${stored} and c.key = u.digest and r.name <> u.repository)
        and not exists (select 1 from pending_blobs p where p.digest = u.digest and p.repository <> u.repository)`,
    );
    const { rows } = await sql<{ name: string }>`
      select n.name from (
        select r.name as name from repositories r where 1 = 1 ${only('r.name')}
        union select p.repository as name from pending_blobs p where 1 = 1 ${only('p.repository')}
      ) n order by n.name`.execute(db);
    if (name !== undefined && rows.length === 0) {
      throw new BerthError('NAME_UNKNOWN', `repository ${name} does not exist`);
    }
    return rows.map(({ name: n }) => ({
      name: n,
      latest: latest.get(n) ?? 0,
      pending: pending.get(n) ?? 0,
      retained: retained.get(n) ?? 0,
      unique: unique.get(n) ?? 0,
    }));
  }

  /** The whole store: blobs referenced or awaiting cleanup, upload sessions, staged archive entries. */
  async wholeStore(): Promise<StoreDiskUsage> {
    const { db } = this;
    const { rows } = await sql<{
      referenced: number | string;
      count: number | string;
      bytes: number | string;
    }>`
      select k.referenced, count(*) as count, sum(k.size) as bytes from (
        select b.size, case when
          exists (select 1 from repository_content c where c.kind in ('blob', 'manifest') and c.key = b.digest)
          or exists (select 1 from pending_blobs p where p.digest = b.digest)
        then 1 else 0 end as referenced
        from blobs b
      ) k group by k.referenced`.execute(db);
    const part = (referenced: number) => {
      const r = rows.find((x) => Number(x.referenced) === referenced);
      return { count: num(r?.count), bytes: num(r?.bytes) };
    };
    const referenced = part(1);
    const unreferenced = part(0);
    const uploads = await db
      .selectFrom('upload_sessions')
      .select((eb) => [
        eb.fn.countAll<number | string>().as('n'),
        eb.fn.sum<number | string | null>('size').as('bytes'),
      ])
      .executeTakeFirstOrThrow();
    const staging = { files: 0, bytes: 0 };
    for await (const key of this.blobStore.list('staging/')) {
      const st = await this.blobStore.stat(key);
      if (!st) continue; // gone since listed: an upload that ended
      staging.files++;
      staging.bytes += st.size;
    }
    return {
      blobs: { count: referenced.count + unreferenced.count, bytes: referenced.bytes + unreferenced.bytes },
      referenced,
      unreferenced,
      uploads: { sessions: num(uploads.n), bytes: num(uploads.bytes) },
      staging,
    };
  }
}
