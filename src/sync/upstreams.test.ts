// The upstream clients of a process: one per remote while its connection stays the same, a new one after an edit.
import { describe, expect, it } from 'vitest';
import type { Remote, RemoteConnection } from './remote.js';
import { createUpstream } from './upstream-http.js';
import { Upstreams } from './upstreams.js';

const remote = (url: string): Remote => ({
  connection: { name: 'hub', url, tlsVerify: true, concurrency: 4 },
  include: [],
  exclude: [],
  platforms: [],
  referrers: 'none',
  policy: 'on_demand',
});

describe('Upstreams', () => {
  it('keeps one client per remote while its connection is unchanged, and makes a new one after an edit', async () => {
    let current = remote('http://127.0.0.1:5001');
    const made: RemoteConnection[] = [];
    const upstreams = new Upstreams(
      async (name) => {
        expect(name).toBe('hub');
        return current;
      },
      (conn) => {
        made.push(conn);
        return createUpstream(conn);
      },
    );
    const a = await upstreams.for('hub');
    expect(await upstreams.for('hub')).toBe(a);
    current = remote('http://127.0.0.1:5002');
    const b = await upstreams.for('hub');
    expect(b).not.toBe(a);
    expect(made.map((c) => c.url)).toEqual(['http://127.0.0.1:5001', 'http://127.0.0.1:5002']);
  });
});
