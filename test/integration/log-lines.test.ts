// The server's log as an operator reads it: one msg per line with the reason apart, and BERTH_LOG_LEVEL=warn
// keeping refusals of access and failed logins (docs/deploy.md promises that), on the real `berth serve`.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { http, basic } from '../helpers/in-process.js';
import { startRealServer, type RealServer } from '../helpers/real-server.js';

let s: RealServer;
beforeAll(async () => {
  s = await startRealServer('log-lines', { env: { BERTH_LOG_LEVEL: 'warn' } });
  const made = await http(
    'POST',
    `${s.url}/api/v1/users`,
    JSON.stringify({ name: 'ci', password: 'ci-password-1' }),
    {
      'content-type': 'application/json',
    },
  );
  expect(made.status, made.body.toString()).toBe(201);
}, 60_000);
afterAll(async () => s?.stop());

/** The server's JSON log lines so far, raw and parsed. */
const logLines = (): { raw: string; line: Record<string, unknown> }[] =>
  s
    .output()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((raw) => ({ raw, line: JSON.parse(raw) as Record<string, unknown> }));

/** Waits until a line passes `pred` (the child's output arrives a little after its answer). */
async function lineWhere(pred: (l: Record<string, unknown>) => boolean) {
  for (let i = 0; i < 100; i++) {
    const found = logLines().find((l) => pred(l.line));
    if (found) return found;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`no such log line in:\n${s.output()}`);
}

describe('log lines at BERTH_LOG_LEVEL=warn', () => {
  it('a push refused (403) is logged once, as a warning, with the reason in `reason` and one msg', async () => {
    const r = await http('POST', `${s.url}/v2/library/app/blobs/uploads/`, undefined, {
      authorization: basic('ci', 'ci-password-1'),
    });
    expect(r.status).toBe(403);
    const { raw, line } = await lineWhere((l) => l.status === 403);
    expect(line.msg).toBe('request refused');
    expect(line.reason).toBe('ci may not push repository library/app');
    expect(line.code).toBe('DENIED');
    expect(line.level).toBe(40); // pino's warn
    // JSON.parse keeps the last of two equal keys: the raw line must have only one
    expect(raw.match(/"msg":/g)).toHaveLength(1);
  });

  it('a failed login (401) is kept, naming the user in its reason', async () => {
    const r = await http('GET', `${s.url}/api/v1/whoami`, undefined, {
      authorization: basic('ci', 'wrong-password'),
    });
    expect(r.status).toBe(401);
    const { line } = await lineWhere((l) => l.status === 401 && String(l.reason).includes('ci'));
    expect(line.reason).toBe('wrong user name or password for ci');
    expect(line.level).toBe(40);
  });

  it('an anonymous push (401) is kept too; a request that succeeds or a manifest unknown (404) is not', async () => {
    const r = await http('POST', `${s.url}/v2/library/app/blobs/uploads/`, undefined, { authorization: '' });
    expect(r.status).toBe(401);
    await lineWhere(
      (l) => l.status === 401 && l.reason === 'authentication required to push repository library/app',
    );
    expect((await http('GET', `${s.url}/api/v1/whoami`)).status).toBe(200);
    const unknown = await http('GET', `${s.url}/v2/nothing/here/manifests/latest`);
    expect(unknown.status).toBe(404);
    // a request made after them that is logged: everything before it has arrived
    await http('GET', `${s.url}/api/v1/whoami`, undefined, { authorization: basic('ci', 'wrong-again') });
    const failedLogins = () =>
      logLines().filter((l) => l.line.reason === 'wrong user name or password for ci');
    await lineWhere(() => failedLogins().length === 2);
    const all = logLines().map((l) => l.line);
    expect(all.filter((l) => l.status === 404)).toEqual([]);
    expect(all.filter((l) => l.msg === 'request completed' || l.msg === 'incoming request')).toEqual([]);
    for (const l of logLines()) expect(l.raw.match(/"msg":/g)?.length ?? 0).toBeLessThanOrEqual(1);
  });
});
