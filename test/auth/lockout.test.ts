// Who failed logins hold back, as a matrix (issue 13 point 13, issue 19): after each history of failures, which
// next attempt is let in, which is 401 and which 429, and what the 429 names (the user or the address). Names no
// user has are counted per address apart from real users' names; a user's wait holds back only addresses that
// have failed. Then the measured bound: an attacker failing as a victim from many addresses.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Auth } from '../../src/auth/auth.js';
import { DEFAULT_LOGIN_POLICY } from '../../src/auth/login-limits.js';
import { BerthError } from '../../src/core/errors.js';
import { openDatabase, type Db } from '../../src/db/connect.js';
import { backends, removeTestDatabase, testDatabaseUrl, type Backend } from '../helpers/backend.js';
import { ADMIN, basic, http, startTestServer, type TestServer } from '../helpers/in-process.js';

const POLICY = { free: 5, baseDelayMs: 1000, maxDelayMs: 60_000, windowMs: 15 * 60_000 };
let clock = 1_800_000_000_000;
const now = () => clock;

/** One attempt: who logs in (a name, and whether with the right password) from which address. */
interface Attempt {
  user: string;
  right: boolean;
  from: string;
}
/** A cell: the expected status, and for a 429 the text the message must hold. */
type Cell = [status: 200 | 401 | 429, names?: string];
interface Row {
  name: string;
  /** the failures made first: `count` wrong passwords (each refused with 401 or 429) */
  before: { user: string; from: string; count: number }[];
  /** then each attempt, in order, with its expected answer */
  then: [Attempt, Cell][];
}

// Each row uses addresses and users of its own (the server and its counts are shared by the rows).
const ROWS: Row[] = [
  {
    name: 'seven wrong passwords for a name no user has (bob), then the administrator from the same address',
    before: [{ user: 'bob', from: '203.0.113.1', count: 7 }],
    then: [
      [{ user: 'admin', right: true, from: '203.0.113.1' }, [200]],
      [{ user: 'bob', right: false, from: '203.0.113.1' }, [429, 'too many failed logins for bob:']],
      // another made-up name from there waits too: the address's count of unknown names
      [
        { user: 'carol', right: false, from: '203.0.113.1' },
        [429, 'too many failed logins from 203.0.113.1:'],
      ],
      [{ user: 'carol', right: false, from: '203.0.113.2' }, [401]],
      // a real user's wrong password from there is counted (401), like anywhere else
      [{ user: 'alice', right: false, from: '203.0.113.1' }, [401]],
      [{ user: 'alice', right: true, from: '203.0.113.1' }, [200]],
    ],
  },
  {
    name: "one address guessing real users' passwords: the address waits, for every user",
    before: ['u1', 'u2', 'u3', 'u4', 'u5'].map((user) => ({ user, from: '203.0.113.10', count: 1 })),
    then: [
      [
        { user: 'admin', right: true, from: '203.0.113.10' },
        [429, 'too many failed logins from 203.0.113.10:'],
      ],
      [{ user: 'bob', right: false, from: '203.0.113.10' }, [429, 'from 203.0.113.10:']],
      [{ user: 'admin', right: true, from: '203.0.113.11' }, [200]],
      [{ user: 'u1', right: true, from: '203.0.113.11' }, [200]],
    ],
  },
  {
    name: 'five wrong passwords for a real user (victim) from five addresses',
    before: [1, 2, 3, 4, 5].map((i) => ({ user: 'victim', from: `198.51.100.${i}`, count: 1 })),
    then: [
      // from an address that failed, the user waits, even with the right password
      [{ user: 'victim', right: true, from: '198.51.100.1' }, [429, 'too many failed logins for victim:']],
      // from an address without failures, the right password is let in, and a wrong one counted
      [{ user: 'victim', right: true, from: '198.51.100.50' }, [200]],
      [{ user: 'victim', right: false, from: '198.51.100.51' }, [401]],
      // which makes that address wait as the others
      [{ user: 'victim', right: true, from: '198.51.100.51' }, [429, 'for victim:']],
      // the addresses are not held back for others: one failure each
      [{ user: 'alice', right: true, from: '198.51.100.1' }, [200]],
    ],
  },
  {
    name: 'five wrong passwords for bob from five addresses, then a user is made up from each',
    before: [1, 2, 3, 4, 5].map((i) => ({ user: 'bob', from: `192.0.2.${i}`, count: 1 })),
    then: [
      [{ user: 'bob', right: false, from: '192.0.2.1' }, [429, 'for bob:']],
      [{ user: 'dave', right: false, from: '192.0.2.1' }, [401]],
      [{ user: 'admin', right: true, from: '192.0.2.2' }, [200]],
    ],
  },
];

describe('login lockout matrix', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer('lockout', { auth: { loginPolicy: POLICY, now }, trustProxy: ['127.0.0.1'] });
    for (const u of ['victim', 'alice', 'u1', 'u2', 'u3', 'u4', 'u5'])
      await s.berth.auth.users.create(u, `${u}-password`);
  });
  afterAll(async () => {
    await s?.close();
  });

  const password = (user: string) => (user === 'admin' ? ADMIN.password : `${user}-password`);
  const attempt = (a: Attempt) =>
    http('GET', `${s.url}/v2/`, undefined, {
      authorization: basic(a.user, a.right ? password(a.user) : 'a-wrong-guess'),
      'x-forwarded-for': a.from,
    });

  for (const row of ROWS) {
    it(row.name, async () => {
      clock += POLICY.windowMs * 2; // every earlier row's failures are out of the window
      for (const b of row.before)
        for (let i = 0; i < b.count; i++) {
          const r = await attempt({ user: b.user, right: false, from: b.from });
          expect([401, 429], r.body.toString()).toContain(r.status);
        }
      for (const [a, [status, names]] of row.then) {
        const r = await attempt(a);
        const what = `${a.user} (${a.right ? 'right' : 'wrong'} password) from ${a.from}`;
        expect(r.status, `${what}: ${r.body.toString()}`).toBe(status);
        if (status === 429) {
          const message: string = r.json().errors[0].message;
          expect(r.json().errors[0].code).toBe('TOOMANYREQUESTS');
          expect(message, what).toContain(names);
          expect(message).toMatch(/try again in \d+ s$/);
          expect(Number(r.headers['retry-after'])).toBeGreaterThanOrEqual(1);
        }
      }
    });
  }
});

describe.each(backends())(
  'an attacker failing as a victim from many addresses, on %s',
  (backend: Backend) => {
    let url: string;
    let db: Db;
    let auth: Auth;
    beforeAll(async () => {
      url = await testDatabaseUrl(`lockout_${backend}`, backend);
      db = await openDatabase(url);
      auth = new Auth(db.kysely, { loginPolicy: DEFAULT_LOGIN_POLICY, now });
      await auth.users.create('victim', 'victim-password');
    });
    afterAll(async () => {
      await db?.close();
      if (url) await removeTestDatabase(url);
    });

    const outcome = (user: string, password: string, address: string) =>
      auth.authenticate({ kind: 'basic', user, password }, address).then(
        () => 'OK',
        (e: unknown) => (e instanceof BerthError ? e.code : String(e)),
      );

    it('50 addresses x 10 wrong passwords: 54 guesses checked, the victim logs in from a clean address', async () => {
      clock += DEFAULT_LOGIN_POLICY.windowMs * 2;
      const answers: string[] = [];
      for (let a = 0; a < 50; a++)
        for (let i = 0; i < 10; i++) answers.push(await outcome('victim', `guess-${a}-${i}`, `10.1.0.${a}`));
      // the user's 5 free failures, then one from each of the 49 other addresses (the first attempt there, which
      // had no failures); every other attempt waits
      expect(answers.filter((x) => x === 'UNAUTHORIZED').length).toBe(5 + 49);
      expect(answers.filter((x) => x === 'TOOMANYREQUESTS').length).toBe(500 - 54);
      // the victim: refused from an address the attacker used, let in from any other
      expect(await outcome('victim', 'victim-password', '10.1.0.7')).toBe('TOOMANYREQUESTS');
      expect(await outcome('victim', 'victim-password', '10.2.0.1')).toBe('OK');
      // which leaves the count (and the wait) in force for the attacker's addresses
      for (let a = 0; a < 50; a++)
        expect(await outcome('victim', 'guess-after', `10.1.0.${a}`)).toBe('TOOMANYREQUESTS');
    });

    it('a 30-minute attack from 20 addresses, one guess every 5 s: bounded guesses, the victim never kept out', async () => {
      clock += DEFAULT_LOGIN_POLICY.windowMs * 2;
      const start = clock;
      let checked = 0;
      let victimIn = 0;
      let victimTries = 0;
      for (let t = 0; t < 30 * 60; t += 5) {
        clock = start + t * 1000;
        if ((await outcome('victim', `guess-${t}`, `10.3.0.${(t / 5) % 20}`)) === 'UNAUTHORIZED') checked++;
        // the victim logs in every 5 minutes, each time from an address of their own with no failures
        if (t % 300 === 2 * 5) {
          victimTries++;
          if ((await outcome('victim', 'victim-password', `10.4.0.${victimTries}`)) === 'OK') victimIn++;
        }
      }
      expect(victimIn).toBe(victimTries);
      expect(victimTries).toBe(6);
      // without the addresses: the free 5, then about one a minute (the longest wait); the addresses add one guess
      // each per window (15 minutes) in which they have no failures
      const perUser = 5 + 30;
      const perAddress = 20 * 2;
      expect(checked).toBeLessThanOrEqual(perUser + perAddress);
      expect(checked).toBe(62);
      console.info(
        `lockout: 360 attempts from 20 addresses in 30 min: ${checked} checked, victim ${victimIn}/6 in`,
      );
    });
  },
);
