// The port through which cleanup has each repository's latest version let go of what it no longer needs (repo/ implements it).
import type { CleanupLog } from './cleanup.js';

export interface PruneOptions {
  /** the run's time (ms since the epoch) */
  now: number;
  /** blobs pushed, and manifests untagged, after this moment stay (now - the protection time) */
  cutoff: number;
  /** report what would go, change nothing */
  dryRun: boolean;
  log?: CleanupLog;
  /** a hook between a repository's first answer and taking its lock: tests use it to interleave a writer */
  beforeLock?: (repository: string) => Promise<void>;
}

/** What one repository's new version removed (or, in a dry run, would remove). */
export interface PrunedRepository {
  repository: string;
  /** the version cleanup made (null in a dry run) */
  version: number | null;
  /** blobs no kept manifest references, and their bytes */
  blobs: number;
  bytes: number;
  /** manifests the untagged policy let go of */
  manifests: number;
}

/**
 * Removes from each repository's latest version, as one new version per repository, the blobs no manifest of it
 * references and (by the untagged policy) the manifests nothing needs. Cleanup calls it before it deletes what no
 * version refers to: the bytes of what left the latest version go in the same run when no retained version keeps them.
 */
export interface RepositoryPruning {
  prune(opts: PruneOptions): Promise<PrunedRepository[]>;
}
