// Both OCI distribution-spec conformance suites of ../shared/tools against the real `berth serve`, authentication on: v1.1.1 must pass whole; `next` (every optional area on) may fail only in the groups named below.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect } from 'vitest';
import { http } from '../helpers/in-process.js';
import { run, startRealServer, type RealServer } from '../helpers/real-server.js';
import { ADMIN, itWithTools, toolPath } from '../helpers/tools.js';

const V111 = 'oci-conformance/v1.1.1/run.sh';
const NEXT = 'oci-conformance/next/run.sh';

/**
 * The groups of the `next` suite berth does not pass yet (issue 11), each with its number of failing leaf
 * tests on the code this test was written against. The list may only shrink: a failing group not named here,
 * or more failures in a group than its number, fails this test; so does a group named here that passes now
 * (remove its entry, or lower its number when part of it passes).
 */
const KNOWN_FAILING: Record<string, { count: number; why: string }> = {
  // the sparse-image cases, refused by design (docs/api.md: holding the bytes is the proof of ownership): 7 leaf
  // tests (push by digest and by tag, HEAD and GET by digest and by tag, and the tag list missing "sparse-image")
  sparse: { count: 7, why: 'sparse images are refused by design (sparse indexes are accepted)' },
};

const it = itWithTools(V111, NEXT, 'oci-conformance/next/summarize.py');

let s: RealServer;
let work: string;
beforeAll(async () => {
  s = await startRealServer('conformance');
  work = mkdtempSync(join(tmpdir(), 'conformance-'));
});
afterAll(async () => {
  await s?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

/** Runs a suite's wrapper; resolves with its exit code and output (stdout and stderr), never rejects. */
function runSuite(
  script: string,
  args: string[],
  env: NodeJS.ProcessEnv,
): Promise<{ code: number; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(toolPath(script), args, {
      cwd: work,
      env: { ...process.env, OCI_USERNAME: ADMIN.user, OCI_PASSWORD: ADMIN.password, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr.on('data', (b: Buffer) => (out += b.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code: code ?? -1, out }));
  });
}

/** The wrapper's last line: `Overall: N passed, N failed, N skipped`. */
function overall(out: string): { passed: number; failed: number; skipped: number } {
  const m = /^Overall: (\d+) passed, (\d+) failed, (\d+) skipped$/m.exec(out);
  if (!m) throw new Error(`no "Overall:" line in the suite's output:\n${out.slice(-4000)}`);
  return { passed: Number(m[1]), failed: Number(m[2]), skipped: Number(m[3]) };
}

describe('OCI conformance suites against berth with authentication on', () => {
  it('challenges anonymous callers (the suites run signed in)', async () => {
    const r = await http('GET', `${s.url}/v2/`, undefined, { authorization: '' });
    expect(r.status).toBe(401);
    expect(String(r.headers['www-authenticate'])).toMatch(/^Bearer /);
  });

  it('passes the v1.1.1 suite with 0 failed', { timeout: 300_000 }, async () => {
    const { code, out } = await runSuite(V111, [s.url, 'conformance/v111', 'conformance/v111-other'], {
      OCI_AUTOMATIC_CROSSMOUNT: '0',
      OCI_REPORT_DIR: join(work, 'v1.1.1'),
    });
    const o = overall(out);
    console.log(`v1.1.1 conformance: ${o.passed} passed, ${o.failed} failed, ${o.skipped} skipped`);
    expect(o.failed, out.slice(-6000)).toBe(0);
    expect(o.passed).toBeGreaterThanOrEqual(74);
    expect(code).toBe(0);
  });

  it('passes the next suite but for the known failing groups', { timeout: 300_000 }, async () => {
    const results = join(work, 'next');
    const { out } = await runSuite(NEXT, [s.url, 'conformance/next1', 'conformance/next2'], {
      OCI_RESULTS_DIR: results,
    });
    const o = overall(out);
    const summary = (await run('python3', [
      toolPath('oci-conformance/next/summarize.py'),
      join(results, 'junit.xml'),
    ])) as string;
    console.log(`next conformance: ${o.passed} passed, ${o.failed} failed, ${o.skipped} skipped\n${summary}`);
    expect(o.passed, out.slice(-6000)).toBeGreaterThan(800);
    const failing = new Map<string, number>();
    for (const m of summary.matchAll(/^(\S.*): (\d+) failing leaf tests$/gm))
      failing.set(m[1]!, Number(m[2]));
    const problems: string[] = [];
    for (const [group, count] of failing) {
      const known = KNOWN_FAILING[group];
      if (!known)
        problems.push(`group "${group}" fails (${count} leaf tests) and is not a known failing group`);
      else if (count !== known.count)
        problems.push(
          `group "${group}": ${count} failing leaf tests, known ${known.count} (update the list)`,
        );
    }
    for (const group of Object.keys(KNOWN_FAILING)) {
      if (!failing.has(group)) problems.push(`group "${group}" passes now: remove it from KNOWN_FAILING`);
    }
    expect(problems, summary).toEqual([]);
  });
});
