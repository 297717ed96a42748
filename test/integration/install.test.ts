// The `berth` command and the install: `./berth --version` from anywhere, `npm ci` without a warning (no unknown
// config, no dependency whose engines exclude the running Node), better-sqlite3 still built from source.
import { execFile } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/real-server.js';

const exec = promisify(execFile);
const VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;

let work: string;
beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'install-'));
});
afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

/** The environment without what npm passes to scripts (npm_config_*, npm_*), so a test run by `npm test` sees none. */
function cleanEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!/^npm_/i.test(k)) env[k] = v;
  return { ...env, ...extra };
}

describe('./berth', () => {
  it('prints the version of package.json with --version and -V, run from a folder outside the checkout', async () => {
    for (const flag of ['--version', '-V']) {
      const r = await exec(join(ROOT, 'berth'), [flag], { cwd: work, env: cleanEnv() });
      expect(r.stdout).toBe(`${VERSION}\n`);
      expect(r.stderr).toBe('');
    }
  });
});

describe('npm ci', () => {
  it('prints no warning for the lock file (dry run, offline: nothing fetched, nothing built)', async () => {
    const dir = join(work, 'ci');
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir);
    // (.npmrc too, should one come back: npm reads it, and its unknown keys are warnings)
    for (const f of ['package.json', 'package-lock.json', '.npmrc', '.prebuild-installrc'])
      if (existsSync(join(ROOT, f))) copyFileSync(join(ROOT, f), join(dir, f));
    // no user or global npmrc of this machine: only the project's own configuration counts
    const [user, global] = [join(work, 'user-npmrc'), join(work, 'global-npmrc')];
    for (const f of [user, global]) writeFileSync(f, '');
    const r = await exec('npm', ['ci', '--dry-run', '--offline', '--ignore-scripts'], {
      cwd: dir,
      env: cleanEnv({
        npm_config_userconfig: user,
        npm_config_globalconfig: global,
        npm_config_cache: join(work, 'npm-cache'),
        npm_config_update_notifier: 'false',
      }),
    });
    const output = `${r.stdout}${r.stderr}`;
    expect(output).toMatch(/added \d+ packages/);
    expect(output.split('\n').filter((l) => /^npm warn/i.test(l))).toEqual([]);
  });

  it("has better-sqlite3's installer build from source: prebuild-install finds .prebuild-installrc", async () => {
    const r = await exec(
      process.execPath,
      ['-e', 'console.log(require("../prebuild-install/rc.js")({ name: "better-sqlite3" }).buildFromSource)'],
      { cwd: join(ROOT, 'node_modules', 'better-sqlite3'), env: cleanEnv() },
    );
    expect(r.stdout.trim()).toBe('true');
  });
});
