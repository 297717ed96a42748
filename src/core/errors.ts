// The error catalogue: every error code berth answers with, registered once with its message and HTTP status.

export const ERROR_CATALOGUE = {
  BLOB_UNKNOWN: { status: 404, message: 'blob unknown to registry' },
  BLOB_UPLOAD_INVALID: { status: 400, message: 'blob upload invalid' },
  BLOB_UPLOAD_UNKNOWN: { status: 404, message: 'blob upload unknown to registry' },
  DIGEST_INVALID: { status: 400, message: 'provided digest did not match uploaded content' },
  MANIFEST_BLOB_UNKNOWN: {
    status: 400,
    message: 'manifest references a manifest or blob unknown to registry',
  },
  MANIFEST_INVALID: { status: 400, message: 'manifest invalid' },
  MANIFEST_UNKNOWN: { status: 404, message: 'manifest unknown to registry' },
  NAME_INVALID: { status: 400, message: 'invalid repository name' },
  NAME_UNKNOWN: { status: 404, message: 'repository name not known to registry' },
  SIZE_INVALID: { status: 400, message: 'provided length did not match content length' },
  TAG_INVALID: { status: 400, message: 'invalid tag' },
  TOO_MANY_TAGS: { status: 414, message: 'too many tags in one request' },
  UNAUTHORIZED: { status: 401, message: 'authentication required' },
  DENIED: { status: 403, message: 'requested access to the resource is denied' },
  // a web page's form (any non-GET request of the web UI) came without its session's CSRF token
  CSRF_INVALID: {
    status: 403,
    message: 'the form is missing its CSRF token, or it is stale: reload the page',
  },
  TOOMANYREQUESTS: { status: 429, message: 'too many requests' },
  USER_UNKNOWN: { status: 404, message: 'user unknown' },
  TOKEN_UNKNOWN: { status: 404, message: 'API token unknown' },
  CACHE_UNKNOWN: { status: 404, message: 'pull-through cache unknown' },
  ALREADY_EXISTS: { status: 409, message: 'already exists' },
  // remotes (src/sync/remotes.ts): registries content is brought in from
  REMOTE_UNKNOWN: { status: 404, message: 'remote unknown' },
  REMOTE_IN_USE: { status: 409, message: 'the remote is in use' },
  // the server's secret key does not decrypt a remote's stored password: its configuration must be fixed
  REMOTE_SECRET_UNREADABLE: { status: 500, message: "a remote's password cannot be decrypted" },
  UNSUPPORTED: { status: 415, message: 'the operation is unsupported' },
  RANGE_INVALID: { status: 416, message: 'requested range not satisfiable' },
  ARCHIVE_INVALID: { status: 400, message: 'archive invalid' },
  ARCHIVE_TOO_LARGE: { status: 413, message: 'the archive exceeds a limit of the server' },
  VERSION_UNKNOWN: { status: 404, message: 'repository version unknown' },
  SYNC_RUN_UNKNOWN: { status: 404, message: 'sync run unknown' },
  SYNC_BUSY: { status: 409, message: 'the repository is being synced already' },
  PARAMETER_INVALID: { status: 400, message: 'request parameter invalid' },
  NOT_FOUND: { status: 404, message: 'no such endpoint' },
  METHOD_NOT_ALLOWED: { status: 405, message: 'method not allowed on this endpoint' },
  INTERNAL_ERROR: { status: 500, message: 'internal server error' },
  // a remote (upstream registry) failed: unreachable, refused our credentials, rate-limited, or sent wrong content
  UPSTREAM_ERROR: { status: 502, message: 'the upstream registry failed' },
  // Distribution's code for a registry that cannot serve the request for now
  UNAVAILABLE: { status: 503, message: 'service unavailable' },
  // 507 Insufficient Storage, answered with Distribution's UNAVAILABLE: clients show the message
  STORAGE_FULL: {
    status: 507,
    message:
      'the server is out of storage space: nothing was stored. Its administrator must free space ' +
      '(remove unneeded versions or images, run berth cleanup) or grow the volume of its data directory and ' +
      'database; then retry',
    answeredAs: 'UNAVAILABLE',
  },
  // answered as OCI's DENIED with 405, as zot does: the status the OCI conformance suites accept for a blob delete
  BLOB_IN_USE: {
    status: 405,
    message: 'the blob is needed by manifests of the repository',
    answeredAs: 'DENIED',
  },
} as const satisfies Record<string, { status: number; message: string; answeredAs?: string }>;

export type ErrorCode = keyof typeof ERROR_CATALOGUE;

/** The code an error is answered with: its own, or the OCI code it stands for (BLOB_IN_USE is DENIED). */
export function answeredCode(code: ErrorCode): ErrorCode {
  const entry = ERROR_CATALOGUE[code];
  return 'answeredAs' in entry ? entry.answeredAs : code;
}

/** A typed error of the domain; `message` is written for the user and says what to fix. */
export class BerthError extends Error {
  readonly code: ErrorCode;
  readonly detail: unknown;

  constructor(code: ErrorCode, message?: string, detail?: unknown) {
    super(message ?? ERROR_CATALOGUE[code].message);
    this.name = 'BerthError';
    this.code = code;
    this.detail = detail;
  }

  get status(): number {
    return ERROR_CATALOGUE[this.code].status;
  }
}

/** The codes of a full disk or quota: the filesystem's, SQLite's and PostgreSQL's (disk_full). */
const OUT_OF_SPACE = new Set(['ENOSPC', 'EDQUOT', 'SQLITE_FULL', '53100']);

/**
 * Whether an error (or one it was caused by) says the storage is full: a write of the blob store or of the
 * database found no space. Such an error is answered STORAGE_FULL (http/errors.ts).
 */
export function isOutOfSpace(e: unknown): boolean {
  for (let err = e, depth = 0; err && depth < 5; depth++) {
    const code = (err as { code?: unknown }).code;
    if (typeof code === 'string' && OUT_OF_SPACE.has(code)) return true;
    err = (err as { cause?: unknown }).cause;
  }
  return false;
}
