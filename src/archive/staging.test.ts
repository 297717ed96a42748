// Covers src/archive/staging.ts: entry-name normalization, link resolution, and stageArchive on tars built in code (success and every refusal).
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import tar from 'tar-stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { sha256 } from '../core/digest.js';
import { BerthError } from '../core/errors.js';
import { Keys } from '../storage/cas.js';
import { FsBlobStore } from '../storage/fs-blob-store.js';
import {
  normalizeEntryName,
  readStagedFile,
  resolveFile,
  resolveLinkTarget,
  stageArchive,
  type StagedArchive,
} from './staging.js';

type TarEntry = Partial<tar.Header> & { name: string; content?: Buffer };

/** Builds a tar in memory with tar-stream's pack. */
async function makeTar(entries: TarEntry[]): Promise<Buffer> {
  const pack = tar.pack();
  const out: Buffer[] = [];
  const collected = (async () => {
    for await (const c of pack) out.push(c as Buffer);
  })();
  for (const { content, ...header } of entries) {
    await new Promise<void>((resolve, reject) => {
      const cb = (err?: Error | null) => (err ? reject(err) : resolve());
      const isFile = header.type === undefined || header.type === 'file' || header.type === 'contiguous-file';
      if (content !== undefined || isFile) {
        const body = content ?? Buffer.alloc(0);
        pack.entry({ ...header, size: body.length }, body, cb);
      } else {
        pack.entry(header, cb);
      }
    });
  }
  pack.finalize();
  await collected;
  return Buffer.concat(out);
}

const file = (name: string, content: Buffer | string): TarEntry => ({
  name,
  type: 'file',
  content: Buffer.isBuffer(content) ? content : Buffer.from(content),
});

/** A body that arrives in small chunks, as from a socket. */
const bodyOf = (bytes: Buffer, chunk = 1000): Readable => {
  const parts: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += chunk) parts.push(bytes.subarray(i, i + chunk));
  return Readable.from(parts);
};

function archiveError(f: () => unknown): BerthError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(BerthError);
    expect((e as BerthError).code).toBe('ARCHIVE_INVALID');
    return e as BerthError;
  }
  throw new Error('expected ARCHIVE_INVALID');
}

describe('normalizeEntryName', () => {
  it('removes "./" prefixes, "." segments, repeated and trailing slashes', () => {
    expect(normalizeEntryName('manifest.json')).toBe('manifest.json');
    expect(normalizeEntryName('./manifest.json')).toBe('manifest.json');
    expect(normalizeEntryName('././blobs/sha256/ab')).toBe('blobs/sha256/ab');
    expect(normalizeEntryName('blobs//sha256/./ab')).toBe('blobs/sha256/ab');
    expect(normalizeEntryName('blobs/')).toBe('blobs');
  });

  it('gives "" for the archive root', () => {
    expect(normalizeEntryName('./')).toBe('');
    expect(normalizeEntryName('.')).toBe('');
  });

  it('refuses absolute paths', () => {
    expect(archiveError(() => normalizeEntryName('/etc/passwd')).message).toContain('absolute path');
  });

  it('refuses ".." anywhere', () => {
    for (const n of ['..', '../x', 'a/../b', 'a/b/..', './../x']) {
      expect(archiveError(() => normalizeEntryName(n)).message, n).toContain('".."');
    }
  });

  it('keeps names that merely contain dots', () => {
    expect(normalizeEntryName('a/..b/c..')).toBe('a/..b/c..');
  });

  it('refuses a NUL byte', () => {
    expect(archiveError(() => normalizeEntryName('a\0b')).message).toContain('NUL');
  });
});

describe('resolveLinkTarget', () => {
  it('resolves a symbolic link relative to the folder of the link', () => {
    expect(resolveLinkTarget('a/link', 'b', true)).toBe('a/b');
    expect(resolveLinkTarget('a/link', './b', true)).toBe('a/b');
    expect(resolveLinkTarget('a/b/link', '../c/d', true)).toBe('a/c/d');
    expect(resolveLinkTarget('a/link', '../top', true)).toBe('top');
    expect(resolveLinkTarget('link', './x', true)).toBe('x');
    expect(resolveLinkTarget('a/link', 'sub/', true)).toBe('a/sub');
  });

  it('resolves a hard link relative to the archive root', () => {
    expect(resolveLinkTarget('a/link', 'b/c', false)).toBe('b/c');
    expect(resolveLinkTarget('a/link', './b/c', false)).toBe('b/c');
    expect(resolveLinkTarget('a/link', 'b/../c', false)).toBe('c');
  });

  it('refuses absolute targets', () => {
    expect(archiveError(() => resolveLinkTarget('l', '/etc/passwd', true)).message).toContain(
      'absolute path',
    );
    expect(archiveError(() => resolveLinkTarget('l', '/etc/passwd', false)).message).toContain(
      'absolute path',
    );
  });

  it('refuses targets that leave the archive', () => {
    expect(archiveError(() => resolveLinkTarget('link', '../x', true)).message).toContain(
      'outside the archive',
    );
    expect(archiveError(() => resolveLinkTarget('a/link', '../../x', true)).message).toContain('outside');
    expect(archiveError(() => resolveLinkTarget('a/b/link', '../../../x', true)).message).toContain(
      'outside',
    );
    expect(archiveError(() => resolveLinkTarget('a/link', '../x', false)).message).toContain('outside');
    expect(archiveError(() => resolveLinkTarget('a/link', 'b/../../x', false)).message).toContain('outside');
  });
});

describe('stageArchive', () => {
  let root: string;
  let store: FsBlobStore;

  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'berth-staging-'));
    store = new FsBlobStore(root);
  });

  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });

  async function stagingKeys(): Promise<string[]> {
    const keys: string[] = [];
    for await (const k of store.list('staging/')) keys.push(k);
    return keys;
  }

  /** Everything under <root>/staging on disk: files and folders (the folder itself may exist, empty). */
  async function stagingOnDisk(): Promise<string[]> {
    try {
      return await readdir(join(root, 'staging'), { recursive: true });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw e;
    }
  }

  /** Stages bytes that must be refused; returns the error after checking nothing staged remains. */
  async function refused(bytes: Buffer, code = 'ARCHIVE_INVALID'): Promise<BerthError> {
    let error: unknown;
    try {
      await stageArchive(store, bodyOf(bytes));
    } catch (e) {
      error = e;
    }
    expect(error, 'stageArchive should have failed').toBeInstanceOf(BerthError);
    expect((error as BerthError).code).toBe(code);
    expect(await stagingKeys()).toEqual([]);
    expect(await stagingOnDisk()).toEqual([]);
    return error as BerthError;
  }

  async function readBack(staged: StagedArchive, name: string): Promise<Buffer> {
    const f = staged.files.get(name)!;
    const chunks: Buffer[] = [];
    for await (const c of await store.reader(f.key)) chunks.push(c as Buffer);
    return Buffer.concat(chunks);
  }

  const layer = randomBytes(200_000);
  const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2 }));
  const entries = (): TarEntry[] => [
    { name: './', type: 'directory' },
    file('./manifest.json', manifest),
    { name: 'blobs/', type: 'directory' },
    file('blobs/layer.tar', layer),
    file('empty', Buffer.alloc(0)),
    { name: 'blobs/latest', type: 'symlink', linkname: 'layer.tar' },
    { name: 'hard', type: 'link', linkname: './manifest.json' },
  ];

  function expectStaged(staged: StagedArchive): void {
    expect([...staged.files.keys()].sort()).toEqual(['blobs/layer.tar', 'empty', 'manifest.json']);
    const m = staged.files.get('manifest.json')!;
    expect(m).toMatchObject({ name: 'manifest.json', digest: sha256(manifest), size: manifest.length });
    const l = staged.files.get('blobs/layer.tar')!;
    expect(l).toMatchObject({ name: 'blobs/layer.tar', digest: sha256(layer), size: layer.length });
    expect(staged.files.get('empty')).toMatchObject({ digest: sha256(Buffer.alloc(0)), size: 0 });
    for (const f of staged.files.values()) expect(f.key.startsWith(Keys.stagingDir(staged.id))).toBe(true);
    expect(new Set([...staged.files.values()].map((f) => f.key)).size).toBe(3);
    expect(staged.links).toEqual(
      new Map([
        ['blobs/latest', 'blobs/layer.tar'],
        ['hard', 'manifest.json'],
      ]),
    );
  }

  it('stages every regular file with its digest and size, and records links', async () => {
    const staged = await stageArchive(store, bodyOf(await makeTar(entries())));
    expectStaged(staged);
    expect((await readBack(staged, 'blobs/layer.tar')).equals(layer)).toBe(true);
    expect((await readBack(staged, 'manifest.json')).equals(manifest)).toBe(true);
    expect((await stagingKeys()).sort()).toEqual([...staged.files.values()].map((f) => f.key).sort());
  });

  it('reads a gzip-compressed tar the same way', async () => {
    const staged = await stageArchive(store, bodyOf(gzipSync(await makeTar(entries())), 333));
    expectStaged(staged);
    expect((await readBack(staged, 'blobs/layer.tar')).equals(layer)).toBe(true);
  });

  it('reads a body that arrives one byte at a time at first', async () => {
    const bytes = await makeTar([file('a', 'abc')]);
    const body = Readable.from([bytes.subarray(0, 1), bytes.subarray(1, 2), bytes.subarray(2)]);
    const staged = await stageArchive(store, body);
    expect(staged.files.get('a')).toMatchObject({ digest: sha256('abc'), size: 3 });
  });

  it('follows links to staged files with resolveFile and reads small files with readStagedFile', async () => {
    const staged = await stageArchive(store, bodyOf(await makeTar(entries())));
    expect(resolveFile(staged, 'blobs/latest')?.digest).toBe(sha256(layer));
    expect(resolveFile(staged, 'hard')?.digest).toBe(sha256(manifest));
    expect(resolveFile(staged, 'nothing')).toBeUndefined();
    const m = staged.files.get('manifest.json')!;
    expect((await readStagedFile(store, m, 1024, 'manifest')).equals(manifest)).toBe(true);
    await expect(
      readStagedFile(store, staged.files.get('blobs/layer.tar')!, 1024, 'the manifest'),
    ).rejects.toThrow(/at most 1024/);
  });

  it('refuses a link loop in resolveFile', async () => {
    const bytes = await makeTar([
      { name: 'a', type: 'symlink', linkname: 'b' },
      { name: 'b', type: 'symlink', linkname: 'a' },
    ]);
    const staged = await stageArchive(store, bodyOf(bytes));
    expect(() => resolveFile(staged, 'a')).toThrow(/loop/);
  });

  it('refuses a duplicate entry and leaves nothing staged', async () => {
    const e = await refused(await makeTar([file('a', 'first'), file('b', 'other'), file('./a', 'second')]));
    expect(e.message).toContain('"a" twice');
  });

  it('refuses a file that repeats the name of a link', async () => {
    const e = await refused(
      await makeTar([{ name: 'x', type: 'symlink', linkname: 'y' }, file('x', 'body')]),
    );
    expect(e.message).toContain('twice');
  });

  it('refuses a device entry and leaves nothing staged', async () => {
    const e = await refused(
      await makeTar([
        file('a', 'before'),
        { name: 'dev/null', type: 'character-device', devmajor: 1, devminor: 3 },
      ]),
    );
    expect(e.message).toContain('"dev/null"');
    expect(e.message).toContain('character-device');
  });

  it('refuses a fifo and a block device', async () => {
    expect((await refused(await makeTar([{ name: 'p', type: 'fifo' }]))).message).toContain('fifo');
    expect((await refused(await makeTar([{ name: 'b', type: 'block-device' }]))).message).toContain(
      'block-device',
    );
  });

  it('refuses an entry with an absolute path or ".." and leaves nothing staged', async () => {
    expect((await refused(await makeTar([file('ok', 'x'), file('/abs', 'y')]))).message).toContain(
      'absolute',
    );
    expect((await refused(await makeTar([file('ok', 'x'), file('a/../../b', 'y')]))).message).toContain(
      '".."',
    );
  });

  it('refuses a link leading outside the archive', async () => {
    const e = await refused(
      await makeTar([file('ok', 'x'), { name: 'l', type: 'symlink', linkname: '../../etc' }]),
    );
    expect(e.message).toContain('outside the archive');
  });

  it('refuses a tar truncated inside an entry and leaves nothing staged', async () => {
    const whole = await makeTar([file('first', 'complete'), file('second', randomBytes(50_000))]);
    // header of "first" (512) + its data padded to 512 + header of "second" (512) + part of its data
    const e = await refused(whole.subarray(0, 512 + 512 + 512 + 20_000));
    expect(e.message).toMatch(/truncated/);
  });

  it('refuses a gzip tar truncated inside an entry', async () => {
    const whole = gzipSync(await makeTar([file('big', randomBytes(100_000))]));
    const e = await refused(whole.subarray(0, Math.floor(whole.length / 2)));
    expect(e.message).toMatch(/truncated|corrupt/);
  });

  it('refuses bytes that are not a tar', async () => {
    const noise = randomBytes(4096);
    noise[0] = 0x00; // never the gzip magic number
    const e = await refused(noise);
    expect(e.message).toContain('not a tar archive');
  });

  it('refuses bytes that are not a tar even when their first block has a size field that reads as one', async () => {
    // noise whose size field parses (0) but whose checksum does not match: no entry, so "not a tar archive",
    // whatever the next block holds (the guard used to count it as entry 1, then fail on the next block)
    const noise = randomBytes(4096);
    noise[0] = 0x00;
    noise.write('00000000000\0', 124, 'latin1');
    noise.write('\xff\xff\xff\xff\xff\xff\xff\xff', 148, 'latin1'); // a base-256 checksum no sum matches
    const e = await refused(noise);
    expect(e.message).toContain('not a tar archive');
  });

  it('refuses a short text body', async () => {
    await refused(Buffer.from('this is not an archive'));
  });

  it('refuses a corrupt gzip stream', async () => {
    const gz = gzipSync(await makeTar([file('a', 'x')]));
    gz.fill(0x55, 10, 40);
    await refused(gz);
  });

  it('refuses an empty body', async () => {
    expect((await refused(Buffer.alloc(0))).message).toContain('empty');
  });

  it('refuses a corrupt header that the tar parser rejects (a negative size in a pax header)', async () => {
    const e = await refused(
      await makeTar([file('ok', 'x'), { name: 'bad', type: 'file', pax: { size: '-1' } }]),
    );
    expect(e.message).toContain('corrupt');
  });

  it('refuses a pax header larger than the tar parser allows (before the parser, as over the limit)', async () => {
    const huge = { comment: 'x'.repeat(4 * 1024 * 1024 + 1) };
    const bytes = await makeTar([file('ok', 'x'), { name: 'bad', type: 'file', pax: huge }]);
    const e = await refused(bytes, 'ARCHIVE_TOO_LARGE');
    expect(e.message).toContain('a PAX header of');
  });
});
