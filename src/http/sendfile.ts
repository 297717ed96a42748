// Whole-blob answers over plain HTTP/1.1 sent by sendfile(2) from the addon's thread, beside Node's http framing.
import type { FileHandle } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { Readable } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import type { FastifyBaseLogger } from 'fastify';
import { nativeSender, type NativeSender } from './native-sendfile.js';

/** How a blob's bytes went: by sendfile from the addon's thread, or through a stream in this thread. */
export type BodyPath = 'sendfile' | 'stream';

/** per answer sent by sendfile: the bytes sent so far (the connection's bytesWritten does not see them) */
const offloaded = new WeakMap<ServerResponse, () => number>();
/** per connection with a transfer going on: its bytes sent so far */
const transfers = new WeakMap<Socket, () => number>();

/** Body bytes of an answer that went by sendfile, not through the socket's writes (0 for any other answer). */
export function offloadedBytes(res: ServerResponse): number {
  return offloaded.get(res)?.() ?? 0;
}

/** The progress of a transfer going on by sendfile on the connection (bytes sent so far), or undefined. */
export function transferProgress(socket: Socket): number | undefined {
  return transfers.get(socket)?.();
}

/** The descriptor of a plain TCP connection (libuv's), or undefined. */
function fdOf(socket: Socket): number | undefined {
  const fd = (socket as unknown as { _handle?: { fd?: unknown } })._handle?.fd;
  return typeof fd === 'number' && fd >= 0 ? fd : undefined;
}

export interface BlobSenderOptions {
  /** false with --no-sendfile: every blob goes through a stream */
  enabled: boolean;
  log: FastifyBaseLogger;
}

/** Decides per answer whether sendfile may carry it, and makes the body that does; counts which path served. */
export class BlobSender {
  private readonly native?: NativeSender;
  /** why sendfile is not used, when it is not */
  readonly unavailable?: string;
  private readonly listeners: ((path: BodyPath) => void)[] = [];

  constructor(opts: BlobSenderOptions) {
    if (!opts.enabled) {
      this.unavailable = 'turned off (--no-sendfile)';
      return;
    }
    const n = nativeSender();
    if ('sender' in n) this.native = n.sender;
    else {
      this.unavailable = n.reason;
      opts.log.info({ reason: n.reason }, 'sendfile is unavailable: blobs are served through streams');
    }
  }

  /** The addon's sender (tests look at its jobs), when sendfile is used. */
  get sender(): NativeSender | undefined {
    return this.native;
  }

  /**
   * Whether a whole blob answered on this request may go by sendfile: plain HTTP/1.1 (not TLS, not HTTP/2), and
   * the answer is the connection's current one (not a pipelined answer waiting for its turn).
   */
  usable(req: IncomingMessage, res: ServerResponse): boolean {
    const socket = req.socket;
    return (
      this.native !== undefined &&
      req.httpVersion === '1.1' &&
      !(socket as TLSSocket).encrypted &&
      res.socket === socket &&
      fdOf(socket) !== undefined
    );
  }

  /** The body of an answer: the `size` bytes of `file` (which it closes), sent by sendfile after the head. */
  body(file: FileHandle, size: number, res: ServerResponse): Readable {
    if (!this.native) throw new Error('sendfile is unavailable');
    return new SendfileBody(this.native, file, size, res);
  }

  /** Counts the path a blob's answer takes (a metric of the server). */
  served(path: BodyPath): void {
    for (const l of this.listeners) l(path);
  }

  onServed(fn: (path: BodyPath) => void): void {
    this.listeners.push(fn);
  }
}

/**
 * A body that pushes no data: when the response pipes it, it writes the head (with an empty write, whose callback
 * says the head is in the kernel), then hands the socket and the file to the sender thread; when the thread is
 * done it ends, and the response ends with nothing more to write (its Content-Length was the file's), so the
 * connection goes on to its next request. Nothing else writes on the connection meanwhile: a pipelined answer
 * waits for this one to finish. Destroyed (the client went, a stall), it cancels the job and closes the file.
 */
class SendfileBody extends Readable {
  private started = false;
  private socket?: Socket;
  private job?: number;
  private sent = 0;

  constructor(
    private readonly native: NativeSender,
    private readonly file: FileHandle,
    private readonly size: number,
    private readonly res: ServerResponse,
  ) {
    super();
    offloaded.set(res, () => this.sentSoFar());
  }

  private sentSoFar(): number {
    if (this.job === undefined) return this.sent;
    return Math.max(this.sent, this.native.progress(this.job));
  }

  override _read(): void {
    if (this.started) return;
    this.started = true;
    const socket = this.res.socket;
    if (!socket) return void this.destroy(new Error('the connection closed before the answer started'));
    this.socket = socket;
    this.res.write('', (err) => {
      if (this.destroyed) return;
      if (err) return void this.destroy(err);
      const fd = fdOf(socket);
      if (fd === undefined || socket.writableLength !== 0 || this.res.socket !== socket)
        return void this.destroy(new Error('the connection is not ready for sendfile'));
      try {
        const job = this.native.send(fd, this.file.fd, 0, this.size, (e, sent) =>
          this.ended(socket, e, sent),
        );
        this.job = job;
        transfers.set(socket, () => this.sentSoFar());
      } catch (e) {
        this.destroy(e as Error);
      }
    });
  }

  private ended(socket: Socket, err: Error | null, sent: number): void {
    this.job = undefined;
    this.sent = sent;
    transfers.delete(socket);
    if (err) this.destroy(err);
    else this.push(null);
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    if (this.job !== undefined) {
      this.sent = this.sentSoFar();
      this.native.cancel(this.job);
      this.job = undefined;
    }
    if (this.socket) transfers.delete(this.socket);
    this.file.close().then(
      () => cb(err),
      () => cb(err),
    );
  }
}
