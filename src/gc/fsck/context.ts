// What fsck reports (problem kinds, the report) and the context its checks share.
import type { Kysely } from 'kysely';
import type { Database } from '../../db/schema.js';
import type { Digest } from '../../core/digest.js';
import type { BlobStore } from '../../storage/blob-store.js';
import type { Trash } from '../trash.js';

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

/** rows read per query */
export const PAGE = 500;

/** What every check works with, and the list of problems they add to. */
export interface Ctx {
  db: Kysely<Database>;
  store: BlobStore;
  /** how repairs let go of blob files, as cleanup does */
  trash: Trash;
  repair: boolean;
  verify: boolean;
  /** files written at or after this time are protected */
  protectedAfter: number;
  now: number;
  problems: FsckProblem[];
}
