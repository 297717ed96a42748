// Digests computed on a worker thread: a stream's bytes are copied in large batches to one hashing thread, so that the event loop receives, writes and sends while another core hashes.
import { Worker } from 'node:worker_threads';
import { DigestCounter, type Algorithm, type Digest } from './digest.js';

/**
 * A digest being computed over a stream of chunks. `update` copies the chunk (the caller may pass it on at once)
 * and returns a promise only when the hashing thread lags more than its bound behind (await it before the next
 * chunk: memory stays bounded); it throws when the hash failed. `digest` settles with the digest of every byte
 * given, or the failure; `abort` drops the hash (nothing settles after it).
 */
export interface StreamHash {
  /** bytes given so far */
  readonly size: number;
  update(chunk: Buffer): Promise<void> | undefined;
  digest(): Promise<Digest>;
  abort(): void;
}

/** What hashes a stream: a HashWorker, or anything with its `hash` (tests). */
export interface Hasher {
  hash(algorithm: Algorithm, size?: number): StreamHash;
}

export interface HashWorkerOptions {
  /** bytes copied into one batch for the thread (default 2 MiB: one hand-over, about 50 µs on a VM, per 2 MiB) */
  batchBytes?: number;
  /** at most this many bytes given to the thread and not yet hashed before `update` asks to wait (default 4 MiB) */
  maxPendingBytes?: number;
  /** streams of a known size below this are hashed on the calling thread: a round trip would cost more (1 MiB) */
  inlineBelow?: number;
}

/** A hash on the calling thread, with the StreamHash shape. */
export function inlineHash(algorithm: Algorithm): StreamHash {
  const counter = new DigestCounter(algorithm);
  return {
    get size() {
      return counter.size;
    },
    update(chunk) {
      counter.update(chunk);
      return undefined;
    },
    digest: () => Promise.resolve(counter.digest()),
    abort: () => undefined,
  };
}

/** acknowledged batch buffers kept for the next batches (8 MiB at the default size); the others are let go */
const SPARE_BATCHES = 4;

// The thread: one node:crypto Hash per job; a batch is acknowledged (and its buffer handed back) once hashed.
const THREAD = `
const { parentPort } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const jobs = new Map();
parentPort.on('message', (m) => {
  try {
    if (m.op === 'start') jobs.set(m.id, createHash(m.algorithm));
    else if (m.op === 'update') {
      const h = jobs.get(m.id);
      if (h) h.update(new Uint8Array(m.buf, 0, m.len));
      parentPort.postMessage({ op: 'ack', id: m.id, len: m.len, buf: m.buf }, [m.buf]);
    } else if (m.op === 'digest') {
      const h = jobs.get(m.id);
      jobs.delete(m.id);
      parentPort.postMessage({ op: 'digest', id: m.id, hex: h.digest('hex') });
    } else if (m.op === 'drop') jobs.delete(m.id);
  } catch (e) {
    jobs.delete(m.id);
    parentPort.postMessage({ op: 'error', id: m.id, message: String((e && e.message) || e) });
  }
});
`;

type Reply =
  | { op: 'ack'; id: number; len: number; buf: ArrayBuffer }
  | { op: 'digest'; id: number; hex: string }
  | { op: 'error'; id: number; message: string };

interface Job {
  algorithm: Algorithm;
  pending: number;
  failed?: Error;
  /** the waits of `update`, resolved once pending is back under the bound */
  wake: { resolve(): void; reject(e: Error): void }[];
  done?: { resolve(d: Digest): void; reject(e: Error): void };
}

/**
 * One hashing thread for a process (or a server), started on first use, stopped by `close` (the thread does not
 * keep the process alive while no hash is going on). A thread that dies fails the hashes in flight; the next hash
 * starts a new one. After `close`, hashes run on the calling thread.
 */
export class HashWorker implements Hasher {
  private worker?: Worker;
  private readonly jobs = new Map<number, Job>();
  private nextId = 1;
  private readonly spare: ArrayBuffer[] = [];
  private closed = false;
  private readonly batchBytes: number;
  private readonly maxPending: number;
  private readonly inlineBelow: number;

  constructor(opts: HashWorkerOptions = {}) {
    this.batchBytes = opts.batchBytes ?? 2 * 1024 * 1024;
    this.maxPending = opts.maxPendingBytes ?? 4 * 1024 * 1024;
    this.inlineBelow = opts.inlineBelow ?? 1024 * 1024;
  }

  /** hashes given to the thread and not yet settled or aborted (tests: none may be left behind) */
  get jobsInFlight(): number {
    return this.jobs.size;
  }

  /** whether the thread is running (tests) */
  get running(): boolean {
    return this.worker !== undefined;
  }

  /** A hash of `algorithm`; `size`, when known, lets a small stream be hashed on the calling thread. */
  hash(algorithm: Algorithm, size?: number): StreamHash {
    if (this.closed || (size !== undefined && size < this.inlineBelow)) return inlineHash(algorithm);
    const worker = this.thread();
    const id = this.nextId++;
    const job: Job = { algorithm, pending: 0, wake: [] };
    if (this.jobs.size === 0) worker.ref();
    this.jobs.set(id, job);
    worker.postMessage({ op: 'start', id, algorithm });
    let batch: ArrayBuffer | undefined;
    let fill = 0;
    let size_ = 0;
    let ended = false;
    const send = () => {
      if (!batch || fill === 0) return;
      job.pending += fill;
      worker.postMessage({ op: 'update', id, buf: batch, len: fill }, [batch]);
      batch = undefined;
      fill = 0;
    };
    return {
      get size() {
        return size_;
      },
      update: (chunk: Buffer) => {
        if (job.failed) throw job.failed;
        if (ended) throw new Error('hash updated after its digest');
        size_ += chunk.length;
        for (let at = 0; at < chunk.length;) {
          batch ??= this.spare.pop() ?? new ArrayBuffer(this.batchBytes);
          const n = Math.min(chunk.length - at, batch.byteLength - fill);
          chunk.copy(new Uint8Array(batch), fill, at, at + n);
          fill += n;
          at += n;
          if (fill === batch.byteLength) send();
        }
        if (job.pending <= this.maxPending) return undefined;
        return new Promise<void>((resolve, reject) => job.wake.push({ resolve, reject }));
      },
      digest: () => {
        if (job.failed) return Promise.reject(job.failed);
        if (ended) return Promise.reject(new Error('digest asked twice'));
        ended = true;
        send();
        return new Promise<Digest>((resolve, reject) => {
          job.done = { resolve, reject };
          worker.postMessage({ op: 'digest', id });
        });
      },
      abort: () => {
        if (!this.jobs.has(id)) return;
        const wake = job.wake.splice(0);
        this.forget(id);
        for (const w of wake) w.resolve();
        if (this.worker === worker) worker.postMessage({ op: 'drop', id });
      },
    };
  }

  /** Stops the thread; hashes in flight fail. Later hashes run on the calling thread. */
  async close(): Promise<void> {
    this.closed = true;
    const w = this.worker;
    this.worker = undefined;
    this.failAll(new Error('the hashing thread was closed'));
    if (w) await w.terminate();
  }

  private thread(): Worker {
    if (this.worker) return this.worker;
    const w = new Worker(THREAD, { eval: true });
    w.unref();
    w.on('message', (m: Reply) => this.onReply(m));
    const died = (e: Error) => {
      if (this.worker !== w) return;
      this.worker = undefined;
      this.failAll(e);
    };
    w.on('error', (e) => died(new Error(`the hashing thread failed: ${e.message}`)));
    w.on('exit', (code) => died(new Error(`the hashing thread exited (${code})`)));
    this.worker = w;
    return w;
  }

  private onReply(m: Reply): void {
    if (m.op === 'ack' && this.spare.length < SPARE_BATCHES && m.buf.byteLength === this.batchBytes)
      this.spare.push(m.buf);
    const job = this.jobs.get(m.id);
    if (!job) return;
    if (m.op === 'ack') {
      job.pending -= m.len;
      if (job.pending <= this.maxPending) for (const w of job.wake.splice(0)) w.resolve();
    } else if (m.op === 'digest') {
      const done = job.done;
      this.forget(m.id);
      done?.resolve(`${job.algorithm}:${m.hex}`);
    } else this.fail(m.id, job, new Error(`hashing failed: ${m.message}`));
  }

  private fail(id: number, job: Job, e: Error): void {
    job.failed = e;
    const { done } = job;
    const wake = job.wake.splice(0);
    job.done = undefined;
    this.forget(id);
    for (const w of wake) w.reject(e);
    done?.reject(e);
  }

  private failAll(e: Error): void {
    for (const [id, job] of [...this.jobs]) this.fail(id, job, e);
  }

  private forget(id: number): void {
    if (!this.jobs.delete(id)) return;
    if (this.jobs.size === 0) this.worker?.unref();
  }
}
