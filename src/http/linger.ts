// Closing a connection whose request body was not read whole, without losing the answer (a lingering close).
import type { Socket } from 'node:net';
import type { FastifyReply } from 'fastify';

/**
 * How long a lingering close waits: the connection is closed once nothing arrived for `idleMs`, or after
 * `totalMs` in all, or at once when the client closes its side (nginx's lingering_timeout and lingering_time).
 */
export const LINGER = { idleMs: 1000, totalMs: 5000 };

const lingering = new WeakSet<Socket>();

/**
 * Answers with `Connection: close` and, once the answer is sent, closes the connection by a lingering close: the
 * server's side is shut (FIN), and what the client still sends of its body is read and dropped until it closes
 * too, or the limits above. Closing a socket at once while the client's bytes wait unread in it makes the kernel
 * send a reset, which can destroy the answer before the client reads it: a client streaming an upload that is
 * refused (401, 403, 404, 413…) would see "EPIPE" or "connection reset" instead of the refusal.
 */
export function closeAfterAnswer(reply: FastifyReply): void {
  reply.header('Connection', 'close');
  const socket = reply.raw.socket;
  if (!socket || lingering.has(socket)) return;
  lingering.add(socket);
  // Node's HTTP server ends a connection whose answer said "close" by destroySoon once the answer is written: the
  // lingering close takes its place on this socket only.
  socket.destroySoon = () => linger(socket);
}

function linger(socket: Socket): void {
  if (socket.destroyed) return;
  const close = () => {
    clearTimeout(total);
    socket.destroy();
  };
  const total = setTimeout(close, LINGER.totalMs);
  total.unref();
  // what arrives still goes through the HTTP parser, which drops the rest of the refused body
  socket.once('end', close);
  socket.setTimeout(LINGER.idleMs, close);
  if (socket.writable) socket.end();
  socket.resume();
}
