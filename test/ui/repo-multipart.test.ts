// The upload form's body reader: fields and a file part from multipart/form-data, however the bytes are split.
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { boundaryOf, fieldText, multipartParts } from '../../src/ui/pages/repo-multipart.js';

const BOUNDARY = '----berthFormBoundary7MA4YWxkTrZu0gW';

function body(
  parts: { name: string; filename?: string; data: Buffer | string }[],
  boundary = BOUNDARY,
): Buffer {
  const out: Buffer[] = [Buffer.from('preamble to ignore\r\n')];
  for (const p of parts) {
    const disp = `form-data; name="${p.name}"${p.filename !== undefined ? `; filename="${p.filename}"` : ''}`;
    out.push(Buffer.from(`--${boundary}\r\nContent-Disposition: ${disp}\r\n`));
    if (p.filename !== undefined) out.push(Buffer.from('Content-Type: application/x-tar\r\n'));
    out.push(Buffer.from('\r\n'), Buffer.from(p.data), Buffer.from('\r\n'));
  }
  out.push(Buffer.from(`--${boundary}--\r\n`));
  return Buffer.concat(out);
}

async function* chunks(b: Buffer, size: number): AsyncGenerator<Buffer> {
  for (let i = 0; i < b.length; i += size) yield b.subarray(i, i + size);
}

async function read(source: AsyncIterable<Buffer>) {
  const out: { name: string; filename?: string; data: Buffer }[] = [];
  for await (const p of multipartParts(source, BOUNDARY)) {
    const parts: Buffer[] = [];
    for await (const c of p.body) parts.push(c);
    out.push({
      name: p.name,
      ...(p.filename !== undefined ? { filename: p.filename } : {}),
      data: Buffer.concat(parts),
    });
  }
  return out;
}

describe('multipart/form-data', () => {
  // a file holding what looks like a boundary but is not one, and line breaks right where a boundary could start
  const file = Buffer.concat([
    randomBytes(3000),
    Buffer.from(`\r\n--${BOUNDARY.slice(0, 20)}x\r\n--`),
    randomBytes(3000),
    Buffer.from('\r\n'),
  ]);
  const whole = body([
    { name: '_csrf', data: 'token-1' },
    { name: 'tag', data: 'v1.0' },
    { name: 'archive', filename: 'app.tar', data: file },
  ]);

  it('reads the fields and the file exactly, whatever the chunk sizes', async () => {
    for (const size of [1, 2, 7, 41, 64, 1000, 65536]) {
      const parts = await read(chunks(whole, size));
      expect(
        parts.map((p) => p.name),
        `chunks of ${size}`,
      ).toEqual(['_csrf', 'tag', 'archive']);
      expect(parts[0]!.data.toString()).toBe('token-1');
      expect(parts[1]!.data.toString()).toBe('v1.0');
      expect(parts[2]!.filename).toBe('app.tar');
      expect(parts[2]!.data.equals(file), `chunks of ${size}`).toBe(true);
    }
  });

  it('streams the file: its first bytes come before the body has all arrived', async () => {
    let sent = 0;
    async function* slow(): AsyncGenerator<Buffer> {
      for (let i = 0; i < whole.length; i += 512) {
        sent = i + 512;
        yield whole.subarray(i, i + 512);
      }
    }
    for await (const p of multipartParts(slow(), BOUNDARY)) {
      if (p.filename === undefined) {
        await fieldText(p);
        continue;
      }
      const it = p.body[Symbol.asyncIterator]();
      await it.next();
      expect(sent).toBeLessThan(whole.length);
      for (;;) if ((await it.next()).done) break;
    }
  });

  it('skips the rest of a part its reader left', async () => {
    const names: string[] = [];
    for await (const p of multipartParts(chunks(whole, 100), BOUNDARY)) names.push(p.name);
    expect(names).toEqual(['_csrf', 'tag', 'archive']);
  });

  it('refuses a body cut short, naming where', async () => {
    await expect(read(chunks(whole.subarray(0, whole.length - 200), 64))).rejects.toThrow(
      /ended inside its field archive/,
    );
  });

  it('refuses a field longer than its limit', async () => {
    const b = body([{ name: 'tag', data: 'x'.repeat(100) }]);
    const go = async () => {
      for await (const p of multipartParts(chunks(b, 10), BOUNDARY)) await fieldText(p, 50);
    };
    await expect(go()).rejects.toThrow(/field tag is longer than 50 bytes/);
  });

  it('takes the boundary from the Content-Type, and refuses other bodies (415)', () => {
    expect(boundaryOf(`multipart/form-data; boundary=${BOUNDARY}`)).toBe(BOUNDARY);
    expect(boundaryOf('multipart/form-data; boundary="a b"')).toBe('a b');
    expect(() => boundaryOf('application/x-tar')).toThrow(/takes multipart\/form-data/);
    expect(() => boundaryOf('multipart/form-data; charset=utf-8')).toThrow(/names no boundary/);
  });
});
