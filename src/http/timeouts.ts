// Idle and header time limits: a client that stalls mid-headers, mid-body or not reading an answer is let go.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { transferProgress } from './sendfile.js';

export interface TimeoutOptions {
  /** a connection on which nothing moves for this long is closed (progress resets it); 0: never (default 60) */
  idleTimeoutSeconds?: number;
  /** the whole request head must arrive within this long (default 60) */
  headersTimeoutSeconds?: number;
}

export const DEFAULT_IDLE_TIMEOUT_SECONDS = 60;
export const DEFAULT_HEADERS_TIMEOUT_SECONDS = 60;

/**
 * Installs the limits on the server. The idle limit is the socket's inactivity timer, which every byte received or
 * sent resets, so a slow upload or download that keeps moving is never cut, however long it takes; there is no limit
 * on a request's total time. When it fires, the connection is closed unless the server itself is the one working
 * (a request received whole, its answer not started or flowing): a stalled body, a stalled head, an idle
 * connection between requests and an answer the client does not read all end; a server that does not read a body
 * (backpressure) or works before answering does not count against the client, and is looked at again after each
 * idle period.
 */
export function installTimeouts(app: FastifyInstance, opts: TimeoutOptions): void {
  const idle = (opts.idleTimeoutSeconds ?? DEFAULT_IDLE_TIMEOUT_SECONDS) * 1000;
  const headers = (opts.headersTimeoutSeconds ?? DEFAULT_HEADERS_TIMEOUT_SECONDS) * 1000;
  const server = app.server;
  // (Node checks it every 30 s; a head that stalls altogether also meets the idle limit)
  server.headersTimeout = headers;
  if (idle <= 0) return;
  const current = new WeakMap<Socket, { req: IncomingMessage; res: ServerResponse }>();
  app.addHook('onRequest', async (req, reply) => {
    current.set(req.raw.socket, { req: req.raw, res: reply.raw });
  });
  /** per connection sending by sendfile: its progress when the idle timer last fired */
  const seen = new WeakMap<Socket, number>();
  server.setTimeout(idle, (socket: Socket) => {
    // bytes sent by sendfile bypass the socket's timer: the transfer is looked at; kept while it moves
    const progress = transferProgress(socket);
    if (progress !== undefined) {
      const moved = progress !== seen.get(socket);
      seen.set(socket, progress);
      if (moved) socket.setTimeout(idle);
      else socket.destroy();
      return;
    }
    const c = current.get(socket);
    // the server is the one not moving: it works on a request received whole before answering, or has not yet read
    // (backpressure) what the client sent. Looked at again after another idle period.
    const serverWorking =
      c !== undefined &&
      !c.res.writableFinished &&
      ((c.req.complete && socket.writableLength === 0) || (!c.req.complete && c.req.readableLength > 0));
    if (serverWorking) socket.setTimeout(idle);
    else socket.destroy();
  });
}
