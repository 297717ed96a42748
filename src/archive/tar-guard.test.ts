// Covers src/archive/tar-guard.ts through stageArchive (hostile tars built in code, just over each limit, are refused), and ByteCounter's batches.
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { gzipSync } from 'node:zlib';
import tar from 'tar-stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BerthError } from '../core/errors.js';
import { FsBlobStore } from '../storage/fs-blob-store.js';
import { discardStaged, stageArchive } from './staging.js';
import { ARCHIVE_LIMITS, ByteCounter, type ArchiveLimit } from './tar-guard.js';

type Header = Partial<tar.Header> & { name: string };

/** One entry (with its PAX header when `pax` or a long name asks for one) as tar bytes, without the end blocks. */
async function tarOf(entries: (Header & { content?: Buffer })[], end = true): Promise<Buffer> {
  const pack = tar.pack();
  const out: Buffer[] = [];
  const collected = (async () => {
    for await (const c of pack) out.push(c as Buffer);
  })();
  for (const { content, ...h } of entries) {
    await new Promise<void>((resolve, reject) =>
      pack.entry({ type: 'file', ...h, size: content?.length ?? 0 }, content ?? Buffer.alloc(0), (e) =>
        e ? reject(e) : resolve(),
      ),
    );
  }
  pack.finalize();
  await collected;
  const all = Buffer.concat(out);
  return end ? all : all.subarray(0, all.length - 1024);
}

/** `count` copies of `unit` as a stream of 64 KiB-ish chunks, then `tail`: large archives without a large buffer. */
function repeated(unit: Buffer, count: number, tail: Buffer): Readable {
  const per = Math.max(1, Math.floor(65536 / unit.length));
  const chunk = Buffer.concat(Array.from({ length: per }, () => unit));
  return Readable.from(
    (function* () {
      let left = count;
      while (left >= per) {
        yield chunk;
        left -= per;
      }
      if (left > 0) yield chunk.subarray(0, left * unit.length);
      yield tail;
    })(),
  );
}

const chunks = (bytes: Buffer, size = 1000): Readable => {
  const parts: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += size) parts.push(bytes.subarray(i, i + size));
  return Readable.from(parts);
};

/** PAX records as the bytes of a global header's content: `count` records `k<i>=v`. */
const records = (count: number): Record<string, string> =>
  Object.fromEntries(Array.from({ length: count }, (_, i) => [`k${i}`, 'v']));

/** Rewrites a header block in place with `edit`, then fixes its checksum. */
function patch(block: Buffer, edit: (b: Buffer) => void): void {
  edit(block);
  block.fill(0x20, 148, 156);
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += block[i]!;
  block.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'latin1');
}

/** A global PAX header (type g); tar-stream's pack writes only per-entry ones, so one is turned into a 'g'. */
async function globalHeader(pax: Record<string, string>): Promise<Buffer> {
  const bytes = await tarOf([{ name: 'g', type: 'file', pax }], false);
  // an 'x' header, its records, then the entry's header (no content): keep the first two
  const ext = Buffer.from(bytes.subarray(0, bytes.length - 512));
  patch(ext, (b) => (b[156] = 'g'.charCodeAt(0)));
  return ext;
}

let root: string;
let store: FsBlobStore;
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'berth-guard-'));
  store = new FsBlobStore(root);
});
afterEach(async () => rm(root, { recursive: true, force: true }));

async function stagingOnDisk(): Promise<string[]> {
  return readdir(join(root, 'staging'), { recursive: true }).catch(() => []);
}

/** Stages the body; expects the refusal over `limit`, with nothing staged left. */
async function overLimit(body: Readable, limit: ArchiveLimit): Promise<BerthError> {
  const e = await stageArchive(store, body).then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e, 'stageArchive should have failed').toBeInstanceOf(BerthError);
  const error = e as BerthError;
  expect(error.code, error.message).toBe('ARCHIVE_TOO_LARGE');
  expect(error.status).toBe(413);
  expect(error.detail).toEqual({ limit, max: ARCHIVE_LIMITS[limit] });
  expect(await stagingOnDisk()).toEqual([]);
  return error;
}

describe('archive limits', () => {
  it('a name at the limit is staged, one byte more is refused (PAX path)', async () => {
    const at = 'd/'.repeat(10) + 'x'.repeat(ARCHIVE_LIMITS.nameBytes - 20);
    const staged = await stageArchive(store, chunks(await tarOf([{ name: at, content: Buffer.from('a') }])));
    expect([...staged.files.keys()]).toEqual([at]);
    await discardStaged(store, staged);
    const e = await overLimit(
      chunks(await tarOf([{ name: `${at}y`, content: Buffer.from('a') }])),
      'nameBytes',
    );
    expect(e.message).toContain(`${ARCHIVE_LIMITS.nameBytes + 1} bytes`);
  });

  it('a link target over the limit is refused (PAX linkpath)', async () => {
    const linkname = 'x'.repeat(ARCHIVE_LIMITS.nameBytes + 1);
    await overLimit(chunks(await tarOf([{ name: 'l', type: 'symlink', linkname }])), 'nameBytes');
  });

  it('the issue-0 attack (PAX names of 3.9 MB) is refused at its first header', async () => {
    const entry = await tarOf([{ name: 'n'.repeat(3_900_000), content: Buffer.from('a') }], false);
    const e = await overLimit(repeated(entry, 3, Buffer.alloc(1024)), 'extendedHeaderBytes');
    expect(e.message).toMatch(/a PAX header of \d+ bytes follows entry 0/);
  });

  it('a PAX header just over its size limit is refused', async () => {
    const pax = { comment: 'c'.repeat(ARCHIVE_LIMITS.extendedHeaderBytes) };
    await overLimit(
      chunks(await tarOf([{ name: 'a', pax, content: Buffer.from('a') }])),
      'extendedHeaderBytes',
    );
  });

  it('more entries than the limit are refused (directories count: entries without use)', async () => {
    const dir = await tarOf([{ name: 'd/', type: 'directory' }], false);
    const e = await overLimit(repeated(dir, ARCHIVE_LIMITS.entries + 1, Buffer.alloc(1024)), 'entries');
    expect(e.message).toContain(`more than ${ARCHIVE_LIMITS.entries} entries`);
  });

  it('a global PAX header at the record limit is read; one record more is refused (the issue-6 attack)', async () => {
    const file = await tarOf([{ name: 'f', pax: { mtime: '1' }, content: Buffer.from('a') }]);
    // (the pack adds a `path` record to the ones given)
    const ok = Buffer.concat([await globalHeader(records(ARCHIVE_LIMITS.paxRecords - 1)), file]);
    const staged = await stageArchive(store, chunks(ok));
    expect([...staged.files.keys()]).toEqual(['f']);
    await discardStaged(store, staged);
    const over = Buffer.concat([await globalHeader(records(ARCHIVE_LIMITS.paxRecords)), file]);
    const e = await overLimit(chunks(over), 'paxRecords');
    expect(e.message).toContain('global PAX header');
  });

  it('names and extended headers beyond the total metadata limit are refused', async () => {
    const pax = { comment: 'c'.repeat(ARCHIVE_LIMITS.extendedHeaderBytes - 1024) };
    const unit = await tarOf([{ name: 'd/', type: 'directory', pax }], false);
    const count = Math.ceil(ARCHIVE_LIMITS.metadataBytes / (ARCHIVE_LIMITS.extendedHeaderBytes - 1024)) + 1;
    await overLimit(repeated(unit, count, Buffer.alloc(1024)), 'metadataBytes');
  });

  it('a gzip body expanding beyond the ratio is refused before its output is written out', async () => {
    const size = ARCHIVE_LIMITS.gzipSlackBytes * 2;
    const head = await tarOf([{ name: 'zeros', content: Buffer.alloc(0) }], false);
    // the same header, declaring `size` bytes of zeros
    const header = Buffer.from(head.subarray(0, 512));
    patch(header, (b) => b.write(size.toString(8).padStart(11, '0') + '\0', 124, 'latin1'));
    const bomb = gzipSync(Buffer.concat([header, Buffer.alloc(size), Buffer.alloc(1024)]));
    expect(bomb.length * ARCHIVE_LIMITS.gzipRatio).toBeLessThan(size / 4);
    const e = await overLimit(chunks(bomb, 16384), 'gzipRatio');
    expect(e.message).toContain(`more than ${ARCHIVE_LIMITS.gzipRatio} times its size`);
  });

  it('an honest gzip archive under the ratio is staged', async () => {
    const text = Buffer.from('an honest line of a config file\n'.repeat(20_000));
    const staged = await stageArchive(store, chunks(gzipSync(await tarOf([{ name: 't', content: text }]))));
    expect(staged.files.get('t')?.size).toBe(text.length);
  });

  it('a PAX size record frames the entry for the guard as for the parser', async () => {
    // the data holds what would be a header with a 4 MiB PAX name if the guard skipped by the ustar size
    const inner = await tarOf([{ name: 'n'.repeat(200_000), content: Buffer.from('a') }], false);
    const bytes = await tarOf([{ name: 'big', content: inner, pax: { size: String(inner.length) } }]);
    // the ustar size of the entry's header says 0: only the PAX record tells where its data ends
    const paxSize = parseInt(bytes.subarray(124, 135).toString('latin1'), 8);
    const at = 512 + Math.ceil(paxSize / 512) * 512;
    expect(bytes[at + 156]).toBe('0'.charCodeAt(0));
    patch(bytes.subarray(at, at + 512), (b) => b.write('00000000000\0', 124, 'latin1'));
    const staged = await stageArchive(store, chunks(bytes));
    expect(staged.files.get('big')?.size).toBe(inner.length);
  });
});

describe('ByteCounter', () => {
  it('passes the compressed bytes on in batches (the last shorter), counting each as it leaves', async () => {
    const counter = new ByteCounter(256 * 1024);
    const out: number[] = [];
    const counted: number[] = [];
    counter.on('data', (b: Buffer) => {
      out.push(b.length);
      counted.push(counter.bytes);
    });
    const input = Buffer.alloc(10 * 65536 + 5, 7);
    await pipeline(
      Readable.from(Array.from({ length: 11 }, (_, i) => input.subarray(i * 65536, (i + 1) * 65536))),
      counter,
    );
    expect(out).toEqual([262144, 262144, 131077]);
    expect(counted).toEqual([262144, 524288, input.length]);
  });
});
