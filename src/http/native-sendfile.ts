// Loads the optional sendfile addon (native/sendfile): one sender thread per process, with jobs known by id.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { getSystemErrorName } from 'node:util';

interface Addon {
  init(onDone: (id: number, errno: number, sent: number) => void): void;
  send(socketFd: number, fileFd: number, offset: number, length: number): number;
  cancel(id: number): void;
  progress(id: number): number;
  jobs(): number;
}

/** A job's end: null when every byte went, else why not (EPIPE, ECONNRESET, EIO for a file shorter than said). */
export type SendDone = (err: NodeJS.ErrnoException | null, sent: number) => void;

/** The addon's sender thread, as JS sees it. */
export interface NativeSender {
  /** Sends `length` bytes of the file from `offset` to the socket (both dup()ed by the addon): the job's id. */
  send(socketFd: number, fileFd: number, offset: number, length: number, done: SendDone): number;
  /** Stops a job: its `done` is never called; the thread closes its descriptors soon after. */
  cancel(id: number): void;
  /** Bytes a job has sent so far, or -1 once it has ended. */
  progress(id: number): number;
  /** Jobs not yet ended (cancelled ones included until the thread has let go of them). */
  jobs(): number;
}

const ADDON = join('native', 'sendfile', 'build', 'Release', 'sendfile.node');

/** The addon's file: found from this module up (src/http, dist/http, dist-bench/src/http). */
function addonPath(): string | undefined {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, ADDON))) return join(dir, ADDON);
    dir = dirname(dir);
  }
  return undefined;
}

let loaded: { sender: NativeSender } | { reason: string } | undefined;

function errnoError(errno: number): NodeJS.ErrnoException {
  let code: string;
  try {
    code = getSystemErrorName(-errno);
  } catch {
    code = `errno ${errno}`;
  }
  return Object.assign(new Error(`sendfile: ${code}`), { code, errno: -errno, syscall: 'sendfile' });
}

function load(): { sender: NativeSender } | { reason: string } {
  if (process.platform !== 'linux') return { reason: 'sendfile is used on Linux only' };
  const path = addonPath();
  if (path === undefined)
    return { reason: 'the addon is not built (npm run build:native; needs g++, make, python3)' };
  let addon: Addon;
  try {
    addon = createRequire(import.meta.url)(path) as Addon;
  } catch (e) {
    return { reason: `the addon did not load: ${(e as Error).message}` };
  }
  if (typeof addon.send !== 'function') return { reason: 'the addon offers no sendfile on this system' };
  const pending = new Map<number, SendDone>();
  addon.init((id, errno, sent) => {
    const done = pending.get(id);
    pending.delete(id);
    done?.(errno === 0 ? null : errnoError(errno), sent);
  });
  return {
    sender: {
      send(socketFd, fileFd, offset, length, done) {
        const id = addon.send(socketFd, fileFd, offset, length);
        pending.set(id, done);
        return id;
      },
      cancel(id) {
        if (pending.delete(id)) addon.cancel(id);
      },
      progress: (id) => addon.progress(id),
      jobs: () => addon.jobs(),
    },
  };
}

/** The sender, loaded once per process, or why there is none. */
export function nativeSender(): { sender: NativeSender } | { reason: string } {
  loaded ??= load();
  return loaded;
}
