// Sums vitest JSON reports into CI's closing line `N passed, N failed, N skipped`, printed last.
//
//   node .ci/count.mjs [--extra-failed N] [--extra-passed N] [--run NAME EXIT_CODE REPORT.json]...
//
// A run whose report is missing or unreadable counts as 1 failed. Tests that the report lists but that got
// no result (their worker crashed: vitest then still calls them pending and the run a success) count as
// failed, as does each test file that failed outside any test (e.g. an import error); and a run that
// exited non-zero with no failure to show for it counts 1 failed.
// --extra-failed adds failures from steps that are not test runs (lint, typecheck, installs, the bench smoke
// test); --extra-passed adds items that passed outside the test runs (the bench smoke test).
// Before the totals it names every failed test (file, test, the first line of its message), so the tail of the
// log says what failed; for a run that failed with no failed test to name (vitest's "Unhandled Errors", a failed
// hook, a crashed worker), it prints that part of the run's own output, kept beside its report as NAME.log by
// .ci/run. Exits 1 when anything failed.
// A test file that failed is run once more by .ci/run (NAME.retry.json beside the report): when all its tests pass
// then, its results replace the first ones and it is named under "flaky" with its first failure, so a flake is
// seen, not hidden; a run whose log shows an unhandled error, or whose failure names no test, is never forgiven.
//   node .ci/count.mjs --failed-files REPORT.json    prints the failed test files of a report, one a line
import { existsSync, readFileSync } from 'node:fs';

if (process.argv[2] === '--failed-files') {
  try {
    const r = JSON.parse(readFileSync(process.argv[3], 'utf8'));
    for (const t of r.testResults ?? []) if (t.status === 'failed') console.log(t.name);
  } catch {
    // no report: nothing to retry
  }
  process.exit(0);
}

const args = process.argv.slice(2);
const runs = [];
let extraFailed = 0;
let extraPassed = 0;
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--extra-failed') {
    extraFailed += Number(args[++i]) || 0;
  } else if (args[i] === '--extra-passed') {
    extraPassed += Number(args[++i]) || 0;
  } else if (args[i] === '--run') {
    runs.push({ name: args[i + 1], rc: Number(args[i + 2]), report: args[i + 3] });
    i += 3;
  } else {
    console.error(`count.mjs: unknown argument ${args[i]}`);
    extraFailed += 1;
  }
}

// Counts of a file's tests by outcome, from its assertion results.
function tally(file) {
  const c = { passed: 0, failed: 0, skipped: 0 };
  for (const a of file?.assertionResults ?? []) {
    if (a.status === 'passed') c.passed += 1;
    else if (a.status === 'failed') c.failed += 1;
    else c.skipped += 1;
  }
  return c;
}

// The first run's report with the files its retry passed put in place: returns the report and the flakes.
function withRetry(run, r) {
  const retryPath = run.report.replace(/\.json$/, '.retry.json');
  if (!existsSync(retryPath)) return { r, flaky: [] };
  let retry;
  try {
    retry = JSON.parse(readFileSync(retryPath, 'utf8'));
  } catch {
    return { r, flaky: [] };
  }
  let log = '';
  try {
    log = readFileSync(run.report.replace(/\.json$/, '.log'), 'utf8');
  } catch {
    // no log: no evidence of unhandled errors either way; the retry alone decides
  }
  // eslint-disable-next-line no-control-regex
  if (/Unhandled (Error|Rejection)|Worker exited/.test(log.replace(/\x1b\[[0-9;]*m/g, '')))
    return { r, flaky: [] };
  const again = new Map((retry.testResults ?? []).map((t) => [t.name, t]));
  const flaky = [];
  const files = (r.testResults ?? []).map((t) => {
    const second = again.get(t.name);
    if (t.status !== 'failed' || !second || second.status !== 'passed') return t;
    const before = tally(t);
    const after = tally(second);
    if (after.failed > 0 || after.passed + after.skipped < before.passed + before.failed + before.skipped)
      return t;
    const first = (t.assertionResults ?? []).find((a) => a.status === 'failed');
    const why = String(first?.failureMessages?.[0] ?? t.message ?? '')
      .split('\n')[0]
      .slice(0, 200);
    flaky.push({ file: t.name, test: first?.fullName ?? first?.title, why });
    r.numPassedTests = (r.numPassedTests ?? 0) + after.passed - before.passed;
    r.numFailedTests = (r.numFailedTests ?? 0) + after.failed - before.failed;
    r.numPendingTests = (r.numPendingTests ?? 0) + after.skipped - before.skipped;
    r.numTotalTests =
      (r.numTotalTests ?? 0) +
      after.passed +
      after.skipped -
      (before.passed + before.failed + before.skipped);
    return second;
  });
  r.testResults = files;
  return { r, flaky };
}

let passed = extraPassed;
let failed = extraFailed;
let skipped = 0;
const failures = [];
const flakes = [];

// The lines of a run's log that tell why it failed when its report names no failed test: vitest's error
// sections ("Unhandled Errors", "Failed Suites", …) and lines naming an error, without colour codes.
function unnamedFailure(run) {
  const log = run.report.replace(/\.json$/, '.log');
  let text;
  try {
    text = readFileSync(log, 'utf8');
  } catch {
    return [`  ${run.name}: failed with no failed test in its report, and no log at ${log}`];
  }
  // eslint-disable-next-line no-control-regex
  const lines = text.replace(/\x1b\[[0-9;]*m/g, '').split('\n');
  const out = [`  ${run.name}: failed with no failed test in its report; from its log:`];
  const start = lines.findIndex((l) =>
    /Unhandled (Error|Rejection)|Failed Suites|Errors? ⎯|Worker exited/.test(l),
  );
  const picked =
    start >= 0
      ? lines.slice(start, start + 30)
      : lines.filter((l) => /\b(Error|ERR_[A-Z_]+|timed out|Timeout)\b/.test(l)).slice(-20);
  for (const l of picked) if (l.trim()) out.push(`    ${l.slice(0, 240)}`);
  return out;
}
for (const run of runs) {
  let r;
  try {
    r = JSON.parse(readFileSync(run.report, 'utf8'));
  } catch (e) {
    console.log(
      `${run.name}: no readable report (${e.code ?? e.message}), exit ${run.rc}: counted as 1 failed`,
    );
    failed += 1;
    continue;
  }
  const retried = withRetry(run, r);
  r = retried.r;
  for (const f of retried.flaky) {
    const where = String(f.file).replace(/^.*?\/(src|test|bench)\//, '$1/');
    flakes.push(
      `  ${run.name}: ${where}${f.test ? ` > ${f.test}` : ''} failed, then passed on its retry: ${f.why}`,
    );
  }
  // the exit code stands for the first run: once every failed file passed on its retry, nothing else failed
  const forgiven = retried.flaky.length > 0 && !(r.testResults ?? []).some((t) => t.status === 'failed');
  const p = r.numPassedTests ?? 0;
  let f = r.numFailedTests ?? 0;
  const s = (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0);
  // Test files that failed without a failed test (collection or import errors).
  const brokenFiles = (r.testResults ?? []).filter(
    (t) => t.status === 'failed' && !(t.assertionResults ?? []).some((a) => a.status === 'failed'),
  ).length;
  f += brokenFiles;
  // Tests with no result: a crashed worker's tests are in numTotalTests but in none of the counts.
  const unfinished = Math.max(0, (r.numTotalTests ?? 0) - p - (r.numFailedTests ?? 0) - s);
  f += unfinished;
  if (f === 0 && !forgiven && (run.rc !== 0 || r.success === false)) f = 1;
  const named = (r.testResults ?? []).some(
    (t) => t.status === 'failed' && (t.assertionResults ?? []).some((a) => a.status === 'failed'),
  );
  if (f > 0 && !named) failures.push(...unnamedFailure(run));
  console.log(
    `${run.name}: ${p} passed, ${f} failed, ${s} skipped (exit ${run.rc}` +
      `${brokenFiles ? `, ${brokenFiles} test file(s) failed outside tests` : ''}` +
      `${unfinished ? `, ${unfinished} test(s) got no result (crashed worker?)` : ''})`,
  );
  for (const file of r.testResults ?? []) {
    const where = String(file.name ?? '').replace(/^.*?\/(src|test|bench)\//, '$1/');
    const failedTests = (file.assertionResults ?? []).filter((a) => a.status === 'failed');
    for (const a of failedTests) {
      const why = String(a.failureMessages?.[0] ?? '')
        .split('\n')[0]
        .slice(0, 200);
      failures.push(`  ${run.name}: ${where} > ${a.fullName ?? a.title}${why ? `: ${why}` : ''}`);
    }
    if (file.status === 'failed' && failedTests.length === 0) {
      const why = String(file.message ?? '')
        .split('\n')[0]
        .slice(0, 200);
      failures.push(`  ${run.name}: ${where} (failed outside its tests)${why ? `: ${why}` : ''}`);
    }
  }
  passed += p;
  failed += f;
  skipped += s;
}
if (flakes.length) console.log(`flaky (failed once, passed when run again):\n${flakes.join('\n')}`);
if (failures.length) console.log(`failed tests:\n${failures.slice(0, 80).join('\n')}`);
if (failures.length > 80) console.log(`  … and ${failures.length - 80} more`);
if (extraFailed || extraPassed) console.log(`other steps: ${extraPassed} passed, ${extraFailed} failed`);
console.log(`${passed} passed, ${failed} failed, ${skipped} skipped`);
process.exit(failed > 0 ? 1 : 0);
