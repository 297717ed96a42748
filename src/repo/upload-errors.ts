// The refusals of upload sessions that lost their bytes or are unknown: BLOB_UPLOAD_UNKNOWN, never a 500.
import { BerthError } from '../core/errors.js';
import { StoreNotFoundError } from '../storage/blob-store.js';

/**
 * Runs a store call on a session's bytes: when they are gone from the store (the store was changed while the
 * upload went on, or its object was removed by hand), the session cannot go on: BLOB_UPLOAD_UNKNOWN, not a 500.
 */
export async function lostBytes<T>(id: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (e) {
    if (!(e instanceof StoreNotFoundError)) throw e;
    throw new BerthError(
      'BLOB_UPLOAD_UNKNOWN',
      `upload ${id} has lost its bytes in the blob store (was the store changed while it went on?): start the upload again`,
    );
  }
}

export function unknownUpload(id: string): BerthError {
  return new BerthError(
    'BLOB_UPLOAD_UNKNOWN',
    `there is no upload ${id} in this repository (finished, cancelled or expired)`,
  );
}
