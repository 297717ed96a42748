// The tee of an on-demand fetch: the store gets every byte, the client all but the last chunk until they were verified.
import { randomBytes } from 'node:crypto';
import { PassThrough, Readable, Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { sha256 } from '../core/digest.js';
import { BURST_MAX, FetchedBytesWrong, teeVerified } from './verified-tee.js';

/** A writable that keeps what it was given. */
function collector(): { w: Writable; bytes: () => Buffer } {
  const parts: Buffer[] = [];
  const w = new Writable({
    write(chunk: Buffer, _e, cb) {
      parts.push(chunk);
      cb();
    },
  });
  return { w, bytes: () => Buffer.concat(parts) };
}

/** A client that reads everything written to it. */
function reader(): { client: PassThrough; bytes: () => Buffer } {
  const client = new PassThrough();
  const parts: Buffer[] = [];
  client.on('data', (c: Buffer) => parts.push(c));
  return { client, bytes: () => Buffer.concat(parts) };
}

/** Lets the streams run for a few turns of the event loop (no timer). */
async function turns(n: number): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
}

const chunks = (b: Buffer, n: number): Buffer[] =>
  Array.from({ length: Math.ceil(b.length / n) }, (_, i) => b.subarray(i * n, (i + 1) * n));

describe('teeVerified', () => {
  const blob = randomBytes(100_000);
  const expected = { digest: sha256(blob), size: blob.length };

  it('writes the whole blob to the store, and all but the last chunk to the client until it is verified', async () => {
    const store = collector();
    const { client, bytes } = reader();
    const last = await teeVerified(Readable.from(chunks(blob, 16_384)), expected, store.w, client);
    expect(store.bytes().equals(blob)).toBe(true);
    expect(last?.length).toBe(blob.length % 16_384);
    expect(bytes().equals(blob.subarray(0, blob.length - last!.length))).toBe(true);
    client.end(last);
    await new Promise((r) => client.on('end', r));
    expect(bytes().equals(blob)).toBe(true);
  });

  it('wrong bytes of the right size: fails, and the client never has them all', async () => {
    const wrong = Buffer.from(blob);
    wrong[wrong.length - 1] = wrong[wrong.length - 1]! ^ 0xff;
    const store = collector();
    const { client, bytes } = reader();
    await expect(
      teeVerified(Readable.from(chunks(wrong, 16_384)), expected, store.w, client),
    ).rejects.toThrow(FetchedBytesWrong);
    expect(bytes().length).toBeLessThan(blob.length);
    expect(store.w.destroyed).toBe(true);
  });

  it('too few bytes, or too many: fails', async () => {
    await expect(
      teeVerified(Readable.from([blob.subarray(0, 1000)]), expected, collector().w, reader().client),
    ).rejects.toThrow(/sent 1000 of the 100000 bytes/);
    await expect(
      teeVerified(Readable.from([blob, Buffer.from('x')]), expected, collector().w, reader().client),
    ).rejects.toThrow(/more than the 100000 bytes/);
  });

  it('a client that went away: the store still gets the whole blob', async () => {
    const store = collector();
    const client = new PassThrough(); // never read: its buffer fills up
    void turns(5).then(() => client.destroy());
    await teeVerified(Readable.from(chunks(blob, 1024)), expected, store.w, client);
    expect(store.bytes().equals(blob)).toBe(true);
  });

  it('what arrives in one turn of the event loop reaches the client in one writev, uncopied, and nothing waits for more', async () => {
    const store = collector();
    const writes: number[] = [];
    const given: Buffer[] = [];
    const client = new Writable({
      highWaterMark: 1024 * 1024,
      write(chunk: Buffer, _e, cb) {
        given.push(chunk);
        writes.push(chunk.length);
        cb();
      },
      writev(chunks: { chunk: Buffer }[], cb) {
        given.push(...chunks.map((c) => c.chunk));
        writes.push(chunks.reduce((n, c) => n + c.chunk.length, 0));
        cb();
      },
    });
    // 8 chunks in one turn, then (a turn later) the last 2
    const source = new PassThrough();
    const done = teeVerified(source, expected, store.w, client);
    const parts = chunks(blob, 10_000);
    for (const c of parts.slice(0, 8)) source.write(c);
    await turns(3);
    // the first 7 went out together (the 8th is held back: it may be the last); no waiting for the rest
    expect(writes).toEqual([70_000]);
    for (const c of parts.slice(8)) source.write(c);
    source.end();
    const last = await done;
    expect(writes).toEqual([70_000, 20_000]);
    // the source's own buffers, not copies
    expect(
      given.every((g, i) => g.buffer === parts[i]!.buffer && g.byteOffset === parts[i]!.byteOffset),
    ).toBe(true);
    expect(last?.length).toBe(10_000);
    expect(store.bytes().equals(blob)).toBe(true);
  });

  it('a slow client holds the fetch back (no more than a burst and its buffer ahead)', async () => {
    const big = randomBytes(8 * BURST_MAX);
    const store = collector();
    const client = new PassThrough({ highWaterMark: 4096 });
    const source = Readable.from(chunks(big, 64 * 1024));
    const done = teeVerified(source, { digest: sha256(big), size: big.length }, store.w, client);
    await turns(200);
    // nobody reads the client: the store got only one burst, the client's buffer and the pipeline's pieces
    expect(store.bytes().length).toBeLessThan(2 * BURST_MAX);
    client.resume();
    await done;
    expect(store.bytes().equals(big)).toBe(true);
  });
});
