// Runs the load generator (load.ts) in a child process: for a fixed time, or until stopped.
import { fork, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import type { LoadResult, LoadSpec } from './load.js';

export type { LoadResult, LoadSpec };

const live = new Set<ChildProcess>();
export function killLoadGenerators(): void {
  for (const c of live) c.kill('SIGKILL');
}

export interface RunningLoad {
  /** tells the generator to stop and resolves with what it measured */
  stop(): Promise<LoadResult>;
  done: Promise<LoadResult>;
}

export function startLoad(spec: LoadSpec): RunningLoad {
  const child = fork(join(import.meta.dirname, 'load.js'), [], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    // the generator is not the server under profile
    env: { ...process.env, NODE_OPTIONS: '' },
  });
  live.add(child);
  const done = new Promise<LoadResult>((resolve, reject) => {
    child.on('message', (m: { result?: LoadResult; error?: string }) => {
      if (m.result) resolve(m.result);
      else reject(new Error(`load generator: ${m.error}`));
    });
    child.once('exit', (code) => {
      live.delete(child);
      reject(new Error(`load generator exited with ${code} before answering`));
    });
  });
  child.send({ spec });
  return {
    done,
    stop: () => {
      if (child.connected) child.send({ stop: true });
      return done;
    },
  };
}

export const runLoad = (spec: LoadSpec): Promise<LoadResult> => startLoad(spec).done;
