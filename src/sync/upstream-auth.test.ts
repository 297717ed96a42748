// Upstream authentication, unit: challenges parsed, tokens fetched once per scope, cached, refreshed, given up on.
import { describe, expect, it } from 'vitest';
import { parseChallenge, UpstreamAuth, type FetchToken } from './upstream-auth.js';

const CHALLENGE =
  'Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a:pull"';

function tokenServer() {
  const asked: { realm: string; query: string; basic: string | undefined }[] = [];
  let n = 0;
  const fetch: FetchToken = async (realm, query, basic) => {
    asked.push({ realm, query: query.toString(), basic });
    await Promise.resolve();
    return { token: `t${++n}`, expiresInSeconds: 300 };
  };
  return { asked, fetch };
}

describe('parseChallenge', () => {
  it('reads Bearer parameters, quoted or not, with escapes', () => {
    expect(parseChallenge(CHALLENGE)).toEqual({
      scheme: 'bearer',
      params: {
        realm: 'https://auth.example/token',
        service: 'registry.example',
        scope: 'repository:a:pull',
      },
    });
    expect(parseChallenge('Basic realm=x')).toEqual({ scheme: 'basic', params: { realm: 'x' } });
    expect(parseChallenge('Bearer realm="a\\"b"')?.params.realm).toBe('a"b');
    expect(parseChallenge(undefined)).toBeUndefined();
    expect(parseChallenge('')).toBeUndefined();
  });
});

describe('UpstreamAuth', () => {
  it('sends nothing first, then a token from the realm with the Basic credentials, cached per scope', async () => {
    const { asked, fetch } = tokenServer();
    let now = 0;
    const auth = new UpstreamAuth('hub', 'u', 'p', fetch, () => now);
    expect(await auth.header('repository:a:pull')).toBeUndefined();
    expect(await auth.unauthorized('repository:a:pull', undefined, CHALLENGE)).toBe(true);
    expect(await auth.header('repository:a:pull')).toBe('Bearer t1');
    expect(asked).toEqual([
      {
        realm: 'https://auth.example/token',
        query: 'service=registry.example&scope=repository%3Aa%3Apull',
        basic: `Basic ${Buffer.from('u:p').toString('base64')}`,
      },
    ]);
    // another scope: a token fetched at once (the realm is known), no 401 needed
    expect(await auth.header('repository:b:pull')).toBe('Bearer t2');
    expect(asked[1]!.query).toBe('service=registry.example&scope=repository%3Ab%3Apull');
    // near expiry (5 s early): a new one
    now = 296_000;
    expect(await auth.header('repository:a:pull')).toBe('Bearer t3');
  });

  it('refreshes once on a 401 to a token that worked, and gives up on a fresh one', async () => {
    const { fetch } = tokenServer();
    const auth = new UpstreamAuth('hub', undefined, undefined, fetch, () => 0);
    await auth.unauthorized('s', undefined, CHALLENGE);
    const t1 = await auth.header('s');
    auth.used('s');
    expect(await auth.unauthorized('s', t1, CHALLENGE)).toBe(true);
    const t2 = await auth.header('s');
    expect(t2).toBe('Bearer t2');
    expect(await auth.unauthorized('s', t2, CHALLENGE)).toBe(false);
  });

  it('fetches one token for requests that need it at once', async () => {
    const { asked, fetch } = tokenServer();
    const auth = new UpstreamAuth('hub', undefined, undefined, fetch, () => 0);
    await Promise.all([1, 2, 3].map(() => auth.unauthorized('s', undefined, CHALLENGE)));
    expect(asked).toHaveLength(1);
    expect(await Promise.all([auth.header('s'), auth.header('s')])).toEqual(['Bearer t1', 'Bearer t1']);
  });

  it('answers a Basic challenge with the credentials once, and gives up without any', async () => {
    const { fetch } = tokenServer();
    const auth = new UpstreamAuth('d', 'u', 'p', fetch, () => 0);
    expect(await auth.unauthorized('s', undefined, 'Basic realm="d"')).toBe(true);
    const basic = await auth.header('s');
    expect(basic).toBe(`Basic ${Buffer.from('u:p').toString('base64')}`);
    expect(await auth.unauthorized('s', basic, 'Basic realm="d"')).toBe(false);
    const anonymous = new UpstreamAuth('d', undefined, undefined, fetch, () => 0);
    expect(await anonymous.unauthorized('s', undefined, 'Basic realm="d"')).toBe(false);
  });

  it('turns a failing token server into an error naming the remote', async () => {
    const auth = new UpstreamAuth(
      'hub',
      undefined,
      undefined,
      async () => {
        throw new Error('connect ECONNREFUSED');
      },
      () => 0,
    );
    await expect(auth.unauthorized('s', undefined, CHALLENGE)).rejects.toThrow(
      /remote hub: its token server https:\/\/auth.example\/token failed: connect ECONNREFUSED/,
    );
  });
});
