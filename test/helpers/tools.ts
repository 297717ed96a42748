// The third-party registry tools of ../shared/tools (crane, oras, regctl, the OCI conformance suites), a client's own config dir, and the switch that runs their tests once per CI run.
//
// Slow, these tests run only when BERTH_TEST_SLOW_E2E is set (not empty, 0 or false), as for the Docker test:
// .ci/run sets it for the Node 20 SQLite run alone. Unset, they are skipped with that reason in their names,
// even under CI=true. Set, a missing tool skips them locally and fails them under CI=true.
import { execFile } from 'node:child_process';
import { accessSync, constants, mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { it as vitestIt } from 'vitest';
import { skipUnless } from './backend.js';
import { ADMIN } from './in-process.js';
import { ROOT } from './real-server.js';

export const TOOLS = join(ROOT, '..', 'shared', 'tools');

/** The path of a tool under ../shared/tools (e.g. `bin/crane`). */
export const toolPath = (rel: string): string => join(TOOLS, rel);

/** Whether a tool is there: executable, or readable for a script run through its interpreter (`.py`). */
const usable = (file: string): boolean => {
  try {
    accessSync(file, file.endsWith('.py') ? constants.R_OK : constants.X_OK);
    return true;
  } catch {
    return false;
  }
};

/** Whether the slow end-to-end tests run (BERTH_TEST_SLOW_E2E set, and not to '', '0' or 'false'). */
export const slowE2E = (): boolean => !['', '0', 'false'].includes(process.env.BERTH_TEST_SLOW_E2E ?? '');

const named = (base: typeof vitestIt.skip, reason: string): typeof vitestIt => {
  const proxy: typeof vitestIt = new Proxy(base, {
    apply: (target, self, [name, ...rest]: unknown[]) =>
      Reflect.apply(target, self, [`${String(name)} [skipped: ${reason}]`, ...rest]),
    // it.fails, it.skip, … of a skipped test are skipped the same way
    get: (target, key) =>
      key === 'fails' || key === 'skip' || key === 'only' ? proxy : Reflect.get(target, key),
  }) as typeof vitestIt;
  return proxy;
};

/**
 * `it` for tests needing the given tools (paths under ../shared/tools): skipped with its reason when
 * BERTH_TEST_SLOW_E2E is not set; when a tool is missing, skipped locally and failing under CI=true —
 * `it.fails` included (a missing tool must not pass as the expected failure).
 */
export function itWithTools(...rels: string[]): typeof vitestIt {
  if (!slowE2E()) {
    return named(
      vitestIt.skip,
      'a slow end-to-end test, run when BERTH_TEST_SLOW_E2E=1 (CI: its test_slow run)',
    );
  }
  const missing = rels.filter((r) => !usable(toolPath(r)));
  if (missing.length === 0) return vitestIt;
  const reason = `${missing.map((m) => `../shared/tools/${m}`).join(', ')} missing (see ../shared/tools/README.md)`;
  const base = skipUnless(false, reason);
  return new Proxy(base, {
    get: (target, key) => (key === 'fails' ? base : Reflect.get(target, key)),
  }) as typeof vitestIt;
}

/** A fresh home for one client: HOME, DOCKER_CONFIG and XDG_CONFIG_HOME inside it, nothing shared. */
export function clientHome(label: string): { dir: string; env: NodeJS.ProcessEnv } {
  const dir = mkdtempSync(join(tmpdir(), `${label}-home-`));
  mkdirSync(join(dir, '.docker'));
  return {
    dir,
    env: {
      PATH: process.env.PATH,
      HOME: dir,
      DOCKER_CONFIG: join(dir, '.docker'),
      XDG_CONFIG_HOME: join(dir, '.config'),
      TMPDIR: process.env.TMPDIR ?? tmpdir(),
    },
  };
}

const exec = promisify(execFile);

/**
 * Runs a tool of ../shared/tools/bin with the given environment (in `cwd`, default the client's HOME);
 * resolves with its stdout, rejects with its stderr and stdout in the message.
 */
export async function runTool(
  name: string,
  env: NodeJS.ProcessEnv,
  args: string[],
  cwd?: string,
): Promise<string> {
  try {
    const r = await exec(toolPath(`bin/${name}`), args, {
      env,
      cwd: cwd ?? env.HOME,
      maxBuffer: 64 * 1024 * 1024,
      encoding: 'utf8',
    });
    return r.stdout;
  } catch (e) {
    const err = e as { stderr?: string; stdout?: string; code?: number };
    throw new Error(`${name} ${args.join(' ')} failed (${err.code}): ${err.stderr ?? ''}${err.stdout ?? ''}`);
  }
}

export { ADMIN };
