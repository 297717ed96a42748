// A blob from a remote streamed to a client and into the store at once, checked as it passes; the client's last bytes wait for the check.
import { finished, type Readable, type Writable } from 'node:stream';
import { algorithmOf, DigestCounter, type Digest } from '../core/digest.js';

/**
 * Why the bytes from a remote are not the blob: they hash to another digest, or are more or fewer than its size.
 * Never answered: by then the client has its headers, and its connection is cut.
 */
export class FetchedBytesWrong extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FetchedBytesWrong';
  }
}

/** the most bytes a burst for the client gathers before the source waits for it (memory per fetch stays bounded) */
export const BURST_MAX = 1024 * 1024;

/**
 * Pipes `source` into `sink` (the store) through a check of size and digest, writing every chunk to `client` too,
 * one chunk behind: the last one is held back until the whole was verified, so a client never receives all of
 * `size` bytes unless they are the blob. The chunks for the client are written in bursts, once per turn of the
 * event loop (setImmediate): what arrived from upstream in one turn goes out in one go, corked and uncopied (the
 * HTTP response corks its socket within a tick: one writev instead of a write per 16–64 KiB piece), and nothing
 * waits for more to arrive. The client's backpressure (and the store's) holds the fetch back while it reads; a client that went
 * away is no longer written to, and the store still gets the whole blob. Resolves, once `sink` has finished, with
 * the held-back chunk (for the caller to send when it has recorded the blob); rejects on any failure (the bytes
 * wrong, upstream or the store failing), `sink` destroyed, the client left for the caller to cut.
 */
export function teeVerified(
  source: Readable,
  expected: { digest: Digest; size: number },
  sink: Writable,
  client: Writable,
  /**
   * true when `source` checks the digest itself and fails before its end when the bytes are wrong (an Upstream's
   * getBlob does): every byte is then hashed once, there, and the tee checks only the size
   */
  opts: { sourceVerifies?: boolean } = {},
): Promise<Buffer | undefined> {
  const counter = opts.sourceVerifies ? undefined : new DigestCounter(algorithmOf(expected.digest));
  return new Promise((resolve, reject) => {
    let size = 0;
    let held: Buffer | undefined;
    /** chunks for the client, written at the next turn of the event loop */
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    /**
     * at most this much waits for the next burst: beyond it the source pauses until the burst. Not the response's
     * own high-water mark (16 KiB): pausing at every 16 KiB would cost a turn of the event loop per piece.
     */
    const burstMax = Math.max(client.writableHighWaterMark, BURST_MAX);
    let waitBurst = false;
    let flushing: NodeJS.Immediate | undefined;
    let waitClient = false;
    let waitSink = false;
    let done = false;
    const clientGone = () => client.destroyed || client.writableEnded;

    const fail = (e: Error) => {
      if (done) return;
      done = true;
      if (flushing) clearImmediate(flushing);
      cleanup();
      // errors after the failure (a write in flight when the sink is destroyed) are no news: heard, and dropped
      source.on('error', () => undefined);
      sink.on('error', () => undefined);
      source.destroy();
      sink.destroy();
      reject(e);
    };
    const resumeIfFree = () => {
      if (!waitClient && !waitSink && !waitBurst && !done) source.resume();
    };
    const onClientFree = () => {
      client.off('drain', onClientFree);
      client.off('close', onClientFree);
      waitClient = false;
      resumeIfFree();
    };
    const onSinkDrain = () => {
      waitSink = false;
      resumeIfFree();
    };
    const flush = () => {
      flushing = undefined;
      const out = pending;
      pending = [];
      pendingBytes = 0;
      // corked: the pieces go down together (a writev where the client has one; the HTTP response gathers what it
      // is given in one tick into one writev of its socket), and are not copied into one buffer first
      let room = true;
      if (!clientGone() && out.length > 0) {
        client.cork();
        for (const c of out) room = client.write(c);
        client.uncork();
      }
      if (!room && !waitClient && !clientGone()) {
        waitClient = true;
        source.pause();
        client.on('drain', onClientFree);
        client.on('close', onClientFree);
      }
      if (waitBurst) {
        waitBurst = false;
        resumeIfFree();
      }
    };
    const onData = (chunk: Buffer) => {
      counter?.update(chunk);
      size += chunk.length;
      if (size > expected.size) {
        return fail(
          new FetchedBytesWrong(`the remote sent more than the ${expected.size} bytes of ${expected.digest}`),
        );
      }
      if (held) {
        pending.push(held);
        pendingBytes += held.length;
        flushing ??= setImmediate(flush);
        if (pendingBytes >= burstMax && !waitBurst) {
          waitBurst = true;
          source.pause();
        }
      }
      held = chunk;
      if (!sink.write(chunk) && !waitSink) {
        waitSink = true;
        source.pause();
        sink.once('drain', onSinkDrain);
      }
    };
    const onEnd = () => {
      if (done) return;
      if (size !== expected.size) {
        return fail(
          new FetchedBytesWrong(
            `the remote sent ${size} of the ${expected.size} bytes of ${expected.digest}`,
          ),
        );
      }
      const actual = counter?.digest() ?? expected.digest;
      if (actual !== expected.digest) {
        return fail(new FetchedBytesWrong(`the remote's bytes for ${expected.digest} hash to ${actual}`));
      }
      sink.end();
    };
    const onFinish = (err?: Error | null) => {
      if (err) return fail(err);
      if (done) return;
      done = true;
      cleanup();
      // what is left for the client goes before the caller sends the held-back chunk
      if (flushing) {
        clearImmediate(flushing);
        flush();
      }
      resolve(held);
    };
    const onError = (e: Error) => fail(e);
    const cleanup = () => {
      source.off('data', onData);
      source.off('end', onEnd);
      source.off('error', onError);
      sink.off('drain', onSinkDrain);
      client.off('drain', onClientFree);
      client.off('close', onClientFree);
    };
    source.on('error', onError);
    // the store's writer is done once it finished and closed (its bytes are where the caller moves them from)
    finished(sink, onFinish);
    source.on('end', onEnd);
    source.on('data', onData);
    // a source that failed before the tee listened (it errored while the caller opened the sink)
    if (source.errored) fail(source.errored);
    else if (source.destroyed && !source.readableEnded) fail(new Error('the remote stream closed early'));
  });
}
