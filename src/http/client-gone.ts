// The signal of a client that has gone: aborted when the connection closes before the answer was sent.
import type { FastifyReply } from 'fastify';

/**
 * An AbortSignal aborted when the client closes the connection before the answer has been sent whole, whether or
 * not its request body had been read (a response's 'close' without its 'finish').
 */
export function clientGone(reply: FastifyReply): AbortSignal {
  const controller = new AbortController();
  const res = reply.raw;
  const onClose = () => {
    if (!res.writableFinished) controller.abort(new Error('the client closed the connection'));
  };
  if (res.destroyed) onClose();
  else res.once('close', onClose);
  return controller.signal;
}
