// `berth serve --s3-redirect`, `--s3-redirect-ttl`, `--s3-public-endpoint`: in the help with their environment variables; each bad value or missing companion stops serve before it opens anything, named.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { run } from './program.js';
import { s3RedirectOf } from './redirect-options.js';
import { parseS3Store } from '../app.js';

async function berth(...args: string[]) {
  let out = '';
  let err = '';
  vi.spyOn(process.stdout, 'write').mockImplementation((s) => ((out += String(s)), true));
  vi.spyOn(process.stderr, 'write').mockImplementation((s) => ((err += String(s)), true));
  vi.spyOn(console, 'error').mockImplementation((...a: unknown[]) => void (err += `${a.join(' ')}\n`));
  const code = await run(['node', 'berth', ...args]);
  vi.restoreAllMocks();
  return { code, out, err };
}

afterEach(() => {
  vi.restoreAllMocks();
  vi.unstubAllEnvs();
});

const S3 = parseS3Store('s3://registry/berth', { endpoint: 'http://rgw.internal:7480' });

describe('berth serve --s3-redirect', () => {
  it('lists its options in the help, with their environment variables and defaults', async () => {
    const r = await berth('serve', '--help');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(
      /--s3-redirect\s+answer blob GETs of the registry with 307[\s\S]*BERTH_S3_REDIRECT=true/,
    );
    expect(r.out).toMatch(
      /--s3-redirect-ttl <seconds>[\s\S]*default: 1200[\s\S]*env:\s+BERTH_S3_REDIRECT_TTL/,
    );
    expect(r.out).toMatch(/--s3-public-endpoint <url>[\s\S]*env:\s+BERTH_S3_PUBLIC_ENDPOINT/);
  });

  it('gives the default lifetime of 20 minutes, the lifetime and the public endpoint given (options or environment)', async () => {
    expect(await s3RedirectOf({}, S3, {})).toBeUndefined();
    expect(await s3RedirectOf({ s3Redirect: true }, S3, {})).toEqual({ ttlSeconds: 1200 });
    expect(
      await s3RedirectOf(
        {
          s3Redirect: true,
          s3RedirectTtl: '604800',
          s3PublicEndpoint: 'https://registry-blobs.example.com/',
        },
        S3,
        {},
      ),
    ).toEqual({ ttlSeconds: 604800, publicEndpoint: 'https://registry-blobs.example.com' });
    expect(await s3RedirectOf({ s3RedirectTtl: '60' }, S3, { BERTH_S3_REDIRECT: 'true' })).toEqual({
      ttlSeconds: 60,
    });
    expect(await s3RedirectOf({}, S3, { BERTH_S3_REDIRECT: '0' })).toBeUndefined();
  });

  it('stops serve on a filesystem store, naming --store (exit 1, nothing opened)', async () => {
    const r = await berth('serve', '--data', '/nonexistent/berth-redirect-test', '--s3-redirect');
    expect(r.code).toBe(1);
    expect(r.err).toContain(
      '--s3-redirect needs the S3 store: give --store s3://BUCKET[/PREFIX] too (the filesystem store serves blobs itself)',
    );
    vi.stubEnv('BERTH_S3_REDIRECT', 'true');
    const env = await berth('serve', '--data', '/nonexistent/berth-redirect-test');
    expect(env.code).toBe(1);
    expect(env.err).toContain('--s3-redirect needs the S3 store');
  });

  it('refuses a lifetime or public endpoint without --s3-redirect', async () => {
    await expect(s3RedirectOf({ s3RedirectTtl: '60' }, S3, {})).rejects.toThrow(
      '--s3-redirect-ttl and --s3-public-endpoint go with --s3-redirect: give it too',
    );
    await expect(s3RedirectOf({ s3PublicEndpoint: 'http://cdn.example.com' }, S3, {})).rejects.toThrow(
      'go with --s3-redirect',
    );
    const r = await berth('serve', '--data', '/nonexistent/berth-redirect-test', '--s3-redirect-ttl', '60');
    expect(r.code).toBe(1);
    expect(r.err).toContain('go with --s3-redirect');
  });

  it('refuses lifetimes S3 does not accept', async () => {
    for (const ttl of ['0', '604801', 'abc', '20m', '-5', '1.5', '']) {
      await expect(s3RedirectOf({ s3Redirect: true, s3RedirectTtl: ttl }, S3, {}), ttl).rejects.toThrow(
        `--s3-redirect-ttl "${ttl}" is not a lifetime S3 accepts: give whole seconds from 1 to 604800 (seven days); default 1200`,
      );
    }
  });

  it('refuses public endpoints that are not http(s) origins, never repeating credentials', async () => {
    const refused = async (url: string) => {
      const e = await s3RedirectOf({ s3Redirect: true, s3PublicEndpoint: url }, S3, {}).then(
        () => undefined,
        (x: Error) => x.message,
      );
      expect(e, url).toBeDefined();
      return e!;
    };
    expect(await refused('cdn.example.com')).toContain('is not a URL: give http(s)://HOST[:PORT]');
    expect(await refused('ftp://cdn.example.com')).toContain('must be an http:// or https:// URL');
    expect(await refused('https://cdn.example.com/s3')).toContain(
      'must be http(s)://HOST[:PORT] with no path or query: a signature covers the path',
    );
    expect(await refused('https://cdn.example.com/?x=1')).toContain('with no path or query');
    const creds = await refused('https://key:topsecret@cdn.example.com');
    expect(creds).toContain('--s3-public-endpoint must not hold credentials');
    expect(creds).not.toContain('topsecret');
  });

  it('refuses a BERTH_S3_REDIRECT that is neither true nor false', async () => {
    await expect(s3RedirectOf({}, S3, { BERTH_S3_REDIRECT: 'maybe' })).rejects.toThrow(
      'BERTH_S3_REDIRECT="maybe" is neither true nor false: give true (or 1) to turn it on, false (or 0) to leave it off',
    );
  });
});
