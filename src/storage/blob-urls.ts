// The port of stores whose objects a client may fetch itself: a time-limited URL for a key (S3's presigned GETs).

/**
 * URLs that let whoever holds them GET an object of the store (Range allowed), with no other credentials, until
 * `ttlSeconds` after the time they were made for. Making one checks nothing: the caller decides who gets one.
 */
export interface BlobUrls {
  readonly ttlSeconds: number;
  /** A URL for the object at `key`, valid from `now` for `ttlSeconds` (the server that checks it uses its own clock). */
  url(key: string, now: Date): Promise<string>;
}
