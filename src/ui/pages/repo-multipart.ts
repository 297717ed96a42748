// A multipart/form-data body read as it streams: small fields whole, a file part as a stream of its bytes (never held whole).
import { BerthError } from '../../core/errors.js';

export interface Part {
  /** the form field's name */
  name: string;
  /** the file name the browser gave (undefined: a plain field) */
  filename?: string;
  /** the part's bytes as they arrive; read it to the end (or not at all) before asking for the next part */
  body: AsyncIterable<Buffer>;
}

const CRLF = Buffer.from('\r\n');
const HEADER_END = Buffer.from('\r\n\r\n');
const MAX_HEADERS = 16 * 1024;
const MAX_PREAMBLE = 64 * 1024;

const bad = (message: string) => new BerthError('PARAMETER_INVALID', message);

/** The boundary of a multipart/form-data Content-Type; refused when the body is something else. */
export function boundaryOf(contentType: string | undefined): string {
  const type = contentType ?? '';
  if (!/^multipart\/form-data\s*;/i.test(type)) {
    throw new BerthError(
      'UNSUPPORTED',
      `this form takes multipart/form-data (a file chosen in the form), not ${type || 'a body without a type'}`,
    );
  }
  const m = /;\s*boundary=(?:"([^"]{1,70})"|([^\s;]{1,70}))/i.exec(type);
  if (!m) throw bad('the multipart/form-data body names no boundary');
  return m[1] ?? m[2]!;
}

/** Reads a source a chunk at a time into a small window. */
class Window {
  buf: Buffer = Buffer.alloc(0);
  private readonly it: AsyncIterator<Buffer>;
  constructor(source: AsyncIterable<Buffer>) {
    this.it = source[Symbol.asyncIterator]();
  }
  /** Appends the next chunk; false at the end of the source. */
  async more(): Promise<boolean> {
    const n = await this.it.next();
    if (n.done) return false;
    const chunk = Buffer.isBuffer(n.value) ? n.value : Buffer.from(n.value as Uint8Array);
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    return true;
  }
  /** Reads until `marker` is in the window (at most `max` bytes before it); its index. */
  async find(marker: Buffer, max: number, what: string): Promise<number> {
    for (;;) {
      const i = this.buf.indexOf(marker);
      if (i >= 0) return i;
      if (this.buf.length > max) throw bad(`the form's ${what} is longer than ${max} bytes`);
      if (!(await this.more())) throw bad(`the form's body ended inside its ${what}`);
    }
  }
  async need(n: number): Promise<void> {
    while (this.buf.length < n)
      if (!(await this.more())) throw bad("the form's body ended before its last boundary");
  }
}

function partHeaders(text: string): { name: string; filename?: string } {
  for (const line of text.split('\r\n')) {
    const colon = line.indexOf(':');
    if (colon < 0 || line.slice(0, colon).trim().toLowerCase() !== 'content-disposition') continue;
    const value = line.slice(colon + 1);
    const name = /;\s*name="([^"]*)"/i.exec(value)?.[1];
    const filename = /;\s*filename="([^"]*)"/i.exec(value)?.[1];
    if (name === undefined) break;
    return filename === undefined ? { name } : { name, filename };
  }
  throw bad('a part of the form has no Content-Disposition with a name');
}

/**
 * The parts of a multipart/form-data body in order. Each part's body yields its bytes as they come (all but the
 * few that could begin the next boundary); the next part is read once the previous one's body was consumed
 * (what is left of it is skipped).
 */
export async function* multipartParts(source: AsyncIterable<Buffer>, boundary: string): AsyncGenerator<Part> {
  const delimiter = Buffer.from(`\r\n--${boundary}`);
  const w = new Window(source);
  // the first boundary has no line break before it: read as if it had one
  w.buf = Buffer.from(CRLF);
  const at = await w.find(delimiter, MAX_PREAMBLE, 'preamble');
  w.buf = w.buf.subarray(at + delimiter.length);
  for (;;) {
    await w.need(2);
    if (w.buf[0] === 0x2d && w.buf[1] === 0x2d) return; // "--": the last boundary
    const end = await w.find(HEADER_END, MAX_HEADERS, 'part headers');
    const headers = partHeaders(w.buf.subarray(0, end).toString('utf8'));
    w.buf = w.buf.subarray(end + HEADER_END.length);
    let finished = false;
    const body = async function* (): AsyncGenerator<Buffer> {
      for (;;) {
        const i = w.buf.indexOf(delimiter);
        if (i >= 0) {
          if (i > 0) yield w.buf.subarray(0, i);
          w.buf = w.buf.subarray(i + delimiter.length);
          finished = true;
          return;
        }
        const safe = w.buf.length - (delimiter.length - 1);
        if (safe > 0) {
          const out = w.buf.subarray(0, safe);
          w.buf = w.buf.subarray(safe);
          yield out;
        }
        if (!(await w.more())) throw bad(`the form's body ended inside its field ${headers.name}`);
      }
    };
    yield { ...headers, body: body() };
    // the consumer may have stopped early: the rest of the part is skipped (the window holds where it stopped)
    if (!finished) for await (const _ of body()) void _;
  }
}

/** Reads a small field's body whole (at most `max` bytes). */
export async function fieldText(part: Part, max = 64 * 1024): Promise<string> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of part.body) {
    n += c.length;
    if (n > max) throw bad(`the form's field ${part.name} is longer than ${max} bytes`);
    chunks.push(c);
  }
  return Buffer.concat(chunks).toString('utf8');
}
