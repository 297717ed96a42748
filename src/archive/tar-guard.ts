// Bounds on what an archive may make the server hold or compute: tar metadata (names, PAX headers) and gzip output.
import { Transform, type TransformCallback } from 'node:stream';
import { BerthError } from '../core/errors.js';

/** The default limits of an archive upload (docs/api.md, "Archive limits"); `berth serve` options change them. */
export const ARCHIVE_LIMITS = {
  /** entries of any kind (files, directories, links), extended headers not counted */
  entries: 100_000,
  /** bytes of one entry name or link target (from a PAX `path`/`linkpath` record or a GNU long name) */
  nameBytes: 4096,
  /** bytes of one PAX extended header (per entry or global) or GNU long-name block */
  extendedHeaderBytes: 64 * 1024,
  /** records of one PAX extended header (per entry or global) */
  paxRecords: 64,
  /** bytes of all names and extended headers of one archive together */
  metadataBytes: 16 * 1024 * 1024,
  /** a gzip body may expand to at most gzipSlackBytes + gzipRatio × the compressed bytes read so far */
  gzipRatio: 32,
  gzipSlackBytes: 16 * 1024 * 1024,
  /** decompressed bytes of one gzip body in all */
  gzipTotalBytes: 64 * 1024 * 1024 * 1024,
};

export type ArchiveLimit = keyof typeof ARCHIVE_LIMITS;
export type ArchiveLimits = Record<ArchiveLimit, number>;

/** The `berth serve` option (and, upper-cased with BERTH_, the environment variable) that sets each limit. */
export const ARCHIVE_LIMIT_OPTIONS: Record<ArchiveLimit, string> = {
  entries: 'archive-max-entries',
  nameBytes: 'archive-max-name-bytes',
  extendedHeaderBytes: 'archive-max-extended-header-bytes',
  paxRecords: 'archive-max-pax-records',
  metadataBytes: 'archive-max-metadata-bytes',
  gzipRatio: 'archive-max-gzip-ratio',
  gzipSlackBytes: 'archive-gzip-slack-bytes',
  gzipTotalBytes: 'archive-max-gzip-bytes',
};

/** The environment variable of a limit's option: BERTH_ARCHIVE_MAX_ENTRIES, … */
export const archiveLimitEnv = (limit: ArchiveLimit): string =>
  `BERTH_${ARCHIVE_LIMIT_OPTIONS[limit].toUpperCase().replace(/-/g, '_')}`;

/** A refusal over `limit`: the message says which server option raises it; `detail` names the limit and its value. */
export function limitError(limit: ArchiveLimit, message: string, limits: ArchiveLimits): BerthError {
  return new BerthError(
    'ARCHIVE_TOO_LARGE',
    `${message} (the server's ${limit} limit; its administrator may raise it with ` +
      `--${ARCHIVE_LIMIT_OPTIONS[limit]} or ${archiveLimitEnv(limit)})`,
    { limit, max: limits[limit] },
  );
}

const BLOCK = 512;
const EXTENDED = new Set(['x', 'g', 'L', 'K']);

/** A header the guard cannot frame, after `entries` good entries (the words of tarError in staging.ts). */
function corruptError(entries: number): BerthError {
  return new BerthError(
    'ARCHIVE_INVALID',
    entries === 0
      ? 'the request body is not a tar archive (plain or gzip-compressed)'
      : `the archive is corrupt: an invalid tar header follows entry ${entries}`,
  );
}

/** The size field of a header as tar-stream reads it: octal (leading spaces/NULs), or base-256 when 0x80/0xff. */
function headerSize(block: Buffer): number {
  return numberField(block, 124, 12);
}

/** A numeric header field as tar-stream reads it (decodeOct); -1 for a negative base-256 one. */
function numberField(block: Buffer, offset: number, length: number): number {
  const field = block.subarray(offset, offset + length);
  if (field[0]! & 0x80) {
    if (field[0] !== 0x80) return -1;
    let sum = 0;
    for (let i = 1; i < field.length; i++) sum = sum * 256 + field[i]!;
    return sum;
  }
  let text = field.toString('latin1');
  text = text.replace(/^ +/, '');
  const end = text.indexOf(' ');
  text = (end === -1 ? text : text.slice(0, end)).replace(/^\0+/, '');
  return text === '' ? 0 : parseInt(text, 8);
}

function cstringLength(block: Buffer, offset: number, length: number): number {
  const end = block.indexOf(0, offset);
  return (end === -1 || end > offset + length ? offset + length : end) - offset;
}

/** Parses PAX records as tar-stream does, refusing more than the limit before building anything. */
function paxRecords(
  data: Buffer,
  what: string,
  corrupt: () => Error,
  limits: ArchiveLimits,
): Map<string, string> {
  const records = new Map<string, string>();
  let buf = data;
  let count = 0;
  while (buf.length > 0) {
    const space = buf.indexOf(0x20);
    const len = parseInt(buf.subarray(0, space === -1 ? buf.length : space).toString('latin1'), 10);
    if (!len) break; // tar-stream ignores what follows (e.g. the padding)
    if (!(len > space + 1) || len > buf.length) throw corrupt();
    if (++count > limits.paxRecords) {
      throw limitError(
        'paxRecords',
        `${what} has more than ${limits.paxRecords} records; at most ${limits.paxRecords} are allowed`,
        limits,
      );
    }
    const record = buf.subarray(space + 1, len - 1).toString('utf8');
    const eq = record.indexOf('=');
    if (eq === -1) break;
    records.set(record.slice(0, eq), record.slice(eq + 1));
    buf = buf.subarray(len);
  }
  return records;
}

function checkName(bytes: number, what: string, limits: ArchiveLimits): void {
  if (bytes > limits.nameBytes) {
    throw limitError(
      'nameBytes',
      `${what} is ${bytes} bytes long; names and link targets may be at most ${limits.nameBytes} bytes`,
      limits,
    );
  }
}

/**
 * Sits before tar-stream and reads the same header blocks: refuses, before the parser buffers or merges them,
 * extended headers (PAX, global PAX, GNU long names) over the limits, too many entries and too much metadata in
 * all. It follows the stream's framing exactly as tar-stream does (the PAX `size` record included), so that both
 * see the same headers; anything it cannot frame is refused as corrupt.
 */
export class TarGuard extends Transform {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  /** bytes of entry data (with padding) still to pass through before the next header */
  private skip = 0;
  /** the extended header being collected (header block first), and how many bytes of it are still due */
  private extended: { block: Buffer; type: string; size: number; due: number } | undefined;
  private global: Map<string, string> | undefined;
  private pax: Map<string, string> | undefined;
  private entries = 0;
  private metadata = 0;
  /** the GNU long names ('L': name, 'K': link target) read for the next entry */
  private longNames = new Set<string>();

  constructor(private readonly limits: ArchiveLimits = ARCHIVE_LIMITS) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    try {
      this.scan(chunk);
      done();
    } catch (e) {
      done(e as Error);
    }
  }

  private scan(chunk: Buffer): void {
    let c = chunk;
    while (c.length > 0) {
      if (this.skip > 0) {
        const n = Math.min(this.skip, c.length);
        this.push(c.subarray(0, n));
        this.skip -= n;
        c = c.subarray(n);
        continue;
      }
      const want = this.extended ? this.extended.due : BLOCK - this.pendingBytes;
      const n = Math.min(want, c.length);
      this.pending.push(c.subarray(0, n));
      this.pendingBytes += n;
      c = c.subarray(n);
      if (this.extended) {
        this.extended.due -= n;
        if (this.extended.due === 0) this.endExtended();
      } else if (this.pendingBytes === BLOCK) {
        this.header(Buffer.concat(this.pending));
      }
    }
  }

  private header(block: Buffer): void {
    this.pending = [];
    this.pendingBytes = 0;
    const flag = block[156] === 0 ? '0' : String.fromCharCode(block[156]!);
    let sum = 0;
    for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 32 : block[i]!;
    if (sum === 8 * 32) {
      this.push(block); // an end-of-archive block
      return;
    }
    // checked here as tar-stream checks it, so that a block that is no header is never counted as an entry
    if (sum !== numberField(block, 148, 8)) throw corruptError(this.entries);
    let size = headerSize(block);
    if (!(size >= 0)) throw corruptError(this.entries);
    if (EXTENDED.has(flag)) {
      const what = flag === 'g' ? 'a global PAX header' : flag === 'x' ? 'a PAX header' : 'a GNU long name';
      if (size > this.limits.extendedHeaderBytes) {
        throw limitError(
          'extendedHeaderBytes',
          `${what} of ${size} bytes follows entry ${this.entries}; at most ${this.limits.extendedHeaderBytes} bytes are allowed`,
          this.limits,
        );
      }
      this.count(size);
      const padded = Math.ceil(size / BLOCK) * BLOCK;
      this.extended = { block, type: flag, size, due: padded };
      if (padded === 0) this.endExtended();
      return;
    }
    if (++this.entries > this.limits.entries) {
      throw limitError('entries', `the archive has more than ${this.limits.entries} entries`, this.limits);
    }
    const ustar = block.subarray(257, 263).toString('latin1') === 'ustar\0';
    this.count(cstringLength(block, 0, 100) + cstringLength(block, 157, 100));
    if (ustar) this.count(cstringLength(block, 345, 155));
    const pax = this.pax && new Map([...(this.global ?? []), ...this.pax]);
    this.pax = undefined;
    // the header's own name and link target, unless a PAX record or a GNU long name stands for them
    const longNames = this.longNames;
    this.longNames = new Set();
    if (!pax?.has('path') && !longNames.has('L')) {
      const prefix = ustar ? cstringLength(block, 345, 155) : 0;
      const bytes = cstringLength(block, 0, 100) + (prefix > 0 ? prefix + 1 : 0);
      checkName(bytes, `the name of entry ${this.entries}`, this.limits);
    }
    if (!pax?.has('linkpath') && !longNames.has('K'))
      checkName(cstringLength(block, 157, 100), `the link target of entry ${this.entries}`, this.limits);
    const paxSize = pax?.get('size');
    if (paxSize) size = parseInt(paxSize, 10);
    if (!(size >= 0)) throw corruptError(this.entries);
    const directory = flag === '5' || (flag === '0' && block[cstringLength(block, 0, 100) - 1] === 0x2f);
    this.skip = size === 0 || directory ? 0 : Math.ceil(size / BLOCK) * BLOCK;
    this.push(block);
  }

  private endExtended(): void {
    const { block, type, size } = this.extended!;
    this.extended = undefined;
    const data = Buffer.concat(this.pending);
    this.pending = [];
    this.pendingBytes = 0;
    const content = data.subarray(0, size);
    if (type === 'L' || type === 'K') {
      this.longNames.add(type);
      checkName(
        cstringLength(content, 0, content.length),
        `a GNU long name after entry ${this.entries}`,
        this.limits,
      );
    } else {
      const where = `the ${type === 'g' ? 'global PAX header' : 'PAX header'} after entry ${this.entries}`;
      const records = paxRecords(content, where, () => corruptError(this.entries), this.limits);
      for (const key of ['path', 'linkpath']) {
        const value = records.get(key);
        if (value !== undefined) checkName(Buffer.byteLength(value), `the ${key} in ${where}`, this.limits);
      }
      if (type === 'g') this.global = records;
      else this.pax = records;
    }
    this.push(block);
    this.push(data);
  }

  private count(bytes: number): void {
    this.metadata += bytes;
    if (this.metadata > this.limits.metadataBytes) {
      throw limitError(
        'metadataBytes',
        `the archive's names and extended headers exceed ${this.limits.metadataBytes} bytes in all`,
        this.limits,
      );
    }
  }
}

/**
 * Counts the compressed bytes that enter gunzip; `GzipGuard` compares its output with them. It passes them on in
 * batches of `batchBytes` (the last one shorter): gunzip takes a thread-pool round trip per write, which for a
 * socket's 64 KiB chunks cost more than decompressing them.
 */
export class ByteCounter extends Transform {
  bytes = 0;
  private held: Buffer[] = [];
  private heldBytes = 0;
  constructor(private readonly batchBytes = 256 * 1024) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.held.push(chunk);
    this.heldBytes += chunk.length;
    if (this.heldBytes >= this.batchBytes) this.release();
    done();
  }

  override _flush(done: TransformCallback): void {
    this.release();
    done();
  }

  private release(): void {
    if (this.heldBytes === 0) return;
    const batch = this.held.length === 1 ? this.held[0]! : Buffer.concat(this.held, this.heldBytes);
    this.bytes += this.heldBytes;
    this.held = [];
    this.heldBytes = 0;
    this.push(batch);
  }
}

/** Refuses a gzip stream whose output outgrows the ratio (with a slack for small bodies) or the total bound. */
export class GzipGuard extends Transform {
  private out = 0;
  constructor(
    private readonly compressed: ByteCounter,
    private readonly limits: ArchiveLimits = ARCHIVE_LIMITS,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.out += chunk.length;
    const { gzipRatio, gzipSlackBytes, gzipTotalBytes } = this.limits;
    if (this.out > gzipTotalBytes) {
      done(
        limitError(
          'gzipTotalBytes',
          `the gzip body expands to more than ${gzipTotalBytes} bytes`,
          this.limits,
        ),
      );
    } else if (this.out > gzipSlackBytes + gzipRatio * this.compressed.bytes) {
      done(
        limitError(
          'gzipRatio',
          `the gzip body expands to more than ${gzipRatio} times its size (${this.out} bytes from ${this.compressed.bytes})`,
          this.limits,
        ),
      );
    } else {
      done(null, chunk);
    }
  }
}
