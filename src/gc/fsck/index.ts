// The consistency check (fsck): blob rows against files, stray and leftover files, manifests' references; and repair.
import { createHash } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Database } from '../../db/schema.js';
import { digestOfHex, isHex64, type Digest } from '../../core/digest.js';
import { MAX_MANIFEST_BYTES, parseManifest } from '../../core/manifests.js';
import { Keys, type BlobStore } from '../../storage/blob-store.js';
import { readSmallBlob } from '../../repo/blobs.js';
import { DEFAULT_PROTECTION_MS, foldersByAge } from '../leftovers.js';

export type FsckProblemKind =
  /** a blob row whose file is not there */
  | 'blob-file-missing'
  /** a blob row whose file has another size */
  | 'blob-size-wrong'
  /** a blob row whose file's bytes hash to another digest (with verify) */
  | 'blob-digest-wrong'
  /** a blob row marked missing by an earlier repair: its content must be pushed again */
  | 'blob-marked-missing'
  /** a file under blobs/ that no row names (and no operation in flight claims) */
  | 'stray-file'
  /** an uploads/<id>/ folder with no upload session */
  | 'expired-upload'
  /** an upload session whose file is gone */
  | 'upload-file-missing'
  /** a staging/<id>/ folder left by an archive upload that never finished */
  | 'expired-staging'
  /** a file under trash/ left by a cleanup that died while letting go of a blob */
  | 'trash-leftover'
  /** a manifest of a repository version refers to a blob or manifest that has no row */
  | 'reference-missing';

export interface FsckProblem {
  kind: FsckProblemKind;
  /** the store key concerned, if any */
  key?: string;
  digest?: Digest;
  detail: string;
  /** true when repair dealt with it (removed the files, marked the row missing, …) */
  repaired: boolean;
}

export interface FsckOptions {
  /** remove strays and leftovers, mark rows of missing or wrong files as missing */
  repair?: boolean;
  /** also hash every blob file (streamed) and compare with its digest */
  verify?: boolean;
  /** files younger than this are left alone: they may belong to an operation in flight (default 1 hour) */
  protectionMs?: number;
  now?: number;
}

export interface FsckReport {
  problems: FsckProblem[];
  checked: {
    blobs: number;
    files: number;
    uploads: number;
    staging: number;
    trash: number;
    references: number;
  };
  /** blob rows marked missing after this run: content lost until pushed again */
  missingBlobs: number;
  /** no problem left: every problem found was repaired and no blob is marked missing */
  clean: boolean;
}

type Db = Kysely<Database>;

const PAGE = 500;

/** The digest a key under blobs/ stands for, if it is a well-formed content address. */
function digestOfKey(key: string): Digest | undefined {
  const m = /^blobs\/sha256\/([a-f0-9]{2})\/([a-f0-9]+)$/.exec(key);
  return m && isHex64(m[2]!) && m[2]!.startsWith(m[1]!) ? digestOfHex(m[2]!) : undefined;
}

export class Fsck {
  constructor(
    private readonly db: Db,
    private readonly store: BlobStore,
  ) {}

  async run(opts: FsckOptions = {}): Promise<FsckReport> {
    const now = opts.now ?? Date.now();
    const ctx: Ctx = {
      repair: opts.repair ?? false,
      verify: opts.verify ?? false,
      protectedAfter: now - (opts.protectionMs ?? DEFAULT_PROTECTION_MS),
      now,
      problems: [],
    };
    // references first: a repaired reference gets its (missing) row before its file could count as a stray
    const references = await this.checkReferences(ctx);
    const checked = {
      blobs: await this.checkBlobRows(ctx),
      files: await this.checkStrays(ctx),
      uploads: await this.checkUploads(ctx),
      staging: await this.checkStaging(ctx),
      trash: await this.checkTrash(ctx),
      references,
    };
    const row = await this.db
      .selectFrom('blobs')
      .select((eb) => eb.fn.countAll<number | string>().as('n'))
      .where('state', '=', 'missing')
      .executeTakeFirstOrThrow();
    const missingBlobs = Number(row.n);
    return {
      problems: ctx.problems,
      checked,
      missingBlobs,
      clean: missingBlobs === 0 && ctx.problems.every((p) => p.repaired),
    };
  }

  /** Every blob row has its file with the right size (and, with verify, digest). */
  private async checkBlobRows(ctx: Ctx): Promise<number> {
    let after = '';
    let count = 0;
    for (;;) {
      const rows = await this.db
        .selectFrom('blobs')
        .select(['digest', 'size', 'state'])
        .where('digest', '>', after)
        .orderBy('digest')
        .limit(PAGE)
        .execute();
      if (rows.length === 0) return count;
      after = rows[rows.length - 1]!.digest;
      count += rows.length;
      for (const r of rows) await this.checkBlob(ctx, r.digest as Digest, r.size, r.state);
    }
  }

  private async checkBlob(ctx: Ctx, digest: Digest, size: number, state: string): Promise<void> {
    const key = Keys.blob(digest);
    const st = await this.store.stat(key);
    let fault: { kind: FsckProblemKind; detail: string } | undefined;
    if (!st) fault = { kind: 'blob-file-missing', detail: `no file for blob ${digest} (${size} bytes)` };
    else if (st.size !== size)
      fault = {
        kind: 'blob-size-wrong',
        detail: `the file of blob ${digest} has ${st.size} bytes, its row says ${size}`,
      };
    else if (ctx.verify) {
      const actual = await this.hashOf(key);
      if (actual !== digest)
        fault = { kind: 'blob-digest-wrong', detail: `the file of blob ${digest} hashes to ${actual}` };
    }
    if (state === 'missing') {
      // Back in place (pushed again, or restored from a backup) and verified: present again.
      if (!fault && ctx.verify && ctx.repair) {
        await this.db
          .updateTable('blobs')
          .set({ state: 'present' })
          .where('digest', '=', digest)
          .where('state', '=', 'missing')
          .execute();
        return;
      }
      ctx.problems.push({
        kind: 'blob-marked-missing',
        key,
        digest,
        detail: fault
          ? `blob ${digest} is marked missing (${fault.detail}): push it again`
          : `blob ${digest} is marked missing, and its file is back: run fsck --repair --verify to check it and mark it present`,
        repaired: false,
      });
      return;
    }
    if (!fault) return;
    // Cleanup removes a row before its file: a row gone meanwhile is no problem.
    if (!(await this.rowOf(digest))) return;
    let repaired = false;
    if (ctx.repair) {
      await this.db
        .updateTable('blobs')
        .set({ state: 'missing' })
        .where('digest', '=', digest)
        .where('state', '=', 'present')
        .execute();
      repaired = true;
    }
    ctx.problems.push({
      kind: fault.kind,
      key,
      digest,
      detail: repaired ? `${fault.detail}; marked missing (push it again)` : fault.detail,
      repaired,
    });
  }

  /** No file under blobs/ without a row, except those claimed or younger than the protection time. */
  private async checkStrays(ctx: Ctx): Promise<number> {
    let count = 0;
    let batch: string[] = [];
    const flush = async () => {
      const digests = batch.map(digestOfKey).filter((d): d is Digest => d !== undefined);
      const named = await this.named(digests, ctx.now);
      for (const key of batch) {
        const d = digestOfKey(key);
        if (d && named.has(d)) continue;
        const st = await this.store.stat(key);
        if (!st || st.modifiedAt.getTime() >= ctx.protectedAfter) continue;
        let repaired = false;
        // re-checked just before deleting: a row committed meanwhile makes it content
        if (ctx.repair && !(d && (await this.named([d], Date.now())).has(d))) {
          await this.store.delete(key);
          repaired = true;
        }
        ctx.problems.push({
          kind: 'stray-file',
          key,
          ...(d ? { digest: d } : {}),
          detail: `${key} (${st.size} bytes, written ${st.modifiedAt.toISOString()}) is named by no blob row${repaired ? '; removed' : ''}`,
          repaired,
        });
      }
      batch = [];
    };
    for await (const key of this.store.list(Keys.blobsRoot)) {
      count++;
      batch.push(key);
      if (batch.length >= PAGE) await flush();
    }
    await flush();
    return count;
  }

  /** Digests of `digests` that have a blob row or an unexpired claim. */
  private async named(digests: Digest[], now: number): Promise<Set<string>> {
    const found = new Set<string>();
    if (digests.length === 0) return found;
    const rows = await this.db
      .selectFrom('blobs')
      .select('digest')
      .where('digest', 'in', digests)
      .union(
        this.db
          .selectFrom('blob_claims')
          .select('digest')
          .where('digest', 'in', digests)
          .where('expires_at', '>', now),
      )
      .execute();
    rows.forEach((r) => found.add(r.digest));
    return found;
  }

  private async rowOf(digest: Digest): Promise<boolean> {
    const r = await this.db
      .selectFrom('blobs')
      .select('digest')
      .where('digest', '=', digest)
      .executeTakeFirst();
    return r !== undefined;
  }

  /** uploads/<id>/ folders without a session (older than the protection time); sessions without their file. */
  private async checkUploads(ctx: Ctx): Promise<number> {
    const folders = await foldersByAge(this.store, 'uploads/');
    const ids = [...folders.keys()];
    const sessions = new Set<string>();
    for (let i = 0; i < ids.length; i += PAGE) {
      const rows = await this.db
        .selectFrom('upload_sessions')
        .select('id')
        .where('id', 'in', ids.slice(i, i + PAGE))
        .execute();
      rows.forEach((r) => sessions.add(r.id));
    }
    for (const [id, newest] of folders) {
      if (sessions.has(id) || newest.getTime() >= ctx.protectedAfter) continue;
      const key = Keys.uploadDir(id);
      let repaired = false;
      if (ctx.repair) {
        const again = await this.db
          .selectFrom('upload_sessions')
          .select('id')
          .where('id', '=', id)
          .executeTakeFirst();
        if (!again) {
          await this.store.deletePrefix(key);
          repaired = true;
        }
      }
      ctx.problems.push({
        kind: 'expired-upload',
        key,
        detail: `${key} (last written ${newest.toISOString()}) belongs to no upload session${repaired ? '; removed' : ''}`,
        repaired,
      });
    }
    // A session whose file is gone (a process died between moving a finished blob into place and deleting its
    // session): it can never be continued. Sessions with a live lease are in flight.
    const orphans = await this.db
      .selectFrom('upload_sessions')
      .select(['id', 'updated_at'])
      .where('busy_until', '<', ctx.now)
      .where('updated_at', '<', ctx.protectedAfter)
      .execute();
    for (const s of orphans) {
      if (folders.has(s.id) || (await this.store.stat(Keys.upload(s.id)))) continue;
      let repaired = false;
      if (ctx.repair) {
        await this.db
          .deleteFrom('upload_sessions')
          .where('id', '=', s.id)
          .where('busy_until', '<', Date.now())
          .execute();
        repaired = true;
      }
      ctx.problems.push({
        kind: 'upload-file-missing',
        key: Keys.upload(s.id),
        detail: `upload session ${s.id} has no file${repaired ? '; session removed' : ''}`,
        repaired,
      });
    }
    return folders.size;
  }

  /** staging/<id>/ folders untouched for longer than the protection time. */
  private async checkStaging(ctx: Ctx): Promise<number> {
    const folders = await foldersByAge(this.store, 'staging/');
    for (const [id, newest] of folders) {
      if (newest.getTime() >= ctx.protectedAfter) continue;
      const key = Keys.stagingDir(id);
      if (ctx.repair) await this.store.deletePrefix(key);
      ctx.problems.push({
        kind: 'expired-staging',
        key,
        detail: `${key} (last written ${newest.toISOString()}) is left from an archive upload that never finished${ctx.repair ? '; removed' : ''}`,
        repaired: ctx.repair,
      });
    }
    return folders.size;
  }

  /**
   * Files under trash/<id>/<hex>: a cleanup moves a blob's file there, then puts it back (a writer recorded or
   * claimed the blob meanwhile) or deletes it, within moments; one still there outlived its cleanup. Repair
   * decides as cleanup would have: back into place when a row or claim names the blob and its place is empty,
   * else deleted. (A rename keeps a file's time, so the protection time says nothing here.)
   */
  private async checkTrash(ctx: Ctx): Promise<number> {
    let count = 0;
    for await (const key of this.store.list('trash/')) {
      count++;
      const hex = key.split('/')[2] ?? '';
      const digest = isHex64(hex) ? digestOfHex(hex) : undefined;
      let action = '';
      if (ctx.repair) {
        const wanted = digest && (await this.named([digest], Date.now())).has(digest);
        if (wanted && !(await this.store.stat(Keys.blob(digest)))) {
          await this.store.move(key, Keys.blob(digest));
          action = '; put back in place';
        } else {
          await this.store.delete(key);
          action = '; removed';
        }
      }
      ctx.problems.push({
        kind: 'trash-leftover',
        key,
        ...(digest ? { digest } : {}),
        detail: `${key} is left from a cleanup that did not finish${action}`,
        repaired: ctx.repair,
      });
    }
    return count;
  }

  /**
   * Every blob or manifest that a manifest of a repository version (current or historical) refers to has a
   * blob row (foreign layers never do). Repair adds the row, marked missing, so that the manifest's pulls get
   * a clean 404 for it and a push of the blob restores it.
   */
  private async checkReferences(ctx: Ctx): Promise<number> {
    const inVersions = this.db.selectFrom('repository_content').select('key').where('kind', '=', 'manifest');
    const counted = await this.db
      .selectFrom('manifest_references')
      .select((eb) => eb.fn.countAll<number | string>().as('n'))
      .where('kind', 'in', ['blob', 'manifest'])
      .where('manifest_digest', 'in', inVersions)
      .executeTakeFirstOrThrow();
    const missing = await this.db
      .selectFrom('manifest_references as r')
      .leftJoin('blobs as b', 'b.digest', 'r.digest')
      .select(['r.manifest_digest', 'r.digest', 'r.kind'])
      .where('r.kind', 'in', ['blob', 'manifest'])
      .where('r.manifest_digest', 'in', inVersions)
      .where('b.digest', 'is', null)
      .orderBy('r.manifest_digest')
      .orderBy('r.digest')
      .execute();
    for (const m of missing) {
      const digest = m.digest as Digest;
      let repaired = false;
      if (ctx.repair) {
        const size = await this.declaredSize(m.manifest_digest as Digest, digest);
        await this.db
          .insertInto('blobs')
          .values({ digest, size: size ?? 0, created_at: Date.now(), state: 'missing' })
          .onConflict((oc) => oc.column('digest').doNothing())
          .execute();
        repaired = true;
      }
      ctx.problems.push({
        kind: 'reference-missing',
        digest,
        detail: `manifest ${m.manifest_digest} refers to ${m.kind} ${digest}, which berth does not hold${repaired ? '; recorded as missing (push it again)' : ''}`,
        repaired,
      });
    }
    return Number(counted.n);
  }

  /** The size a manifest gives for a descriptor, read from its stored bytes (when they are there). */
  private async declaredSize(manifest: Digest, digest: Digest): Promise<number | undefined> {
    const bytes = await readSmallBlob(this.store, manifest, MAX_MANIFEST_BYTES);
    if (!bytes) return undefined;
    try {
      const p = parseManifest(bytes);
      return [p.config, ...p.layers, ...p.manifests].find((d) => d?.digest === digest)?.size;
    } catch {
      return undefined;
    }
  }

  private async hashOf(key: string): Promise<Digest> {
    const hash = createHash('sha256');
    for await (const c of await this.store.reader(key)) hash.update(c as Buffer);
    return digestOfHex(hash.digest('hex'));
  }
}

interface Ctx {
  repair: boolean;
  verify: boolean;
  /** files written at or after this time are protected */
  protectedAfter: number;
  now: number;
  problems: FsckProblem[];
}
