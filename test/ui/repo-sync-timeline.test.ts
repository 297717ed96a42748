// The versions timeline of a synced repository: a sync's version named as a sync, by the user who asked for it.
import { afterAll, beforeAll, describe, expect } from 'vitest';
import { skipUnless } from '../helpers/backend.js';
import { basic } from '../helpers/in-process.js';
import {
  hasDistribution,
  NO_DISTRIBUTION,
  pushImage,
  startDistribution,
  type UpstreamRegistry,
} from '../helpers/upstreams.js';
import { ADMIN, startUiServer, type UiServer } from './ui-server.js';

const it = skipUnless(hasDistribution(), NO_DISTRIBUTION);

let s: UiServer;
let reg: UpstreamRegistry;

beforeAll(async () => {
  if (!hasDistribution()) return;
  reg = await startDistribution();
  s = await startUiServer('ui-repo-sync');
  await s.berth.remotes.add({ name: 'dist', url: reg.url });
  await pushImage(reg, 'lib/app', 'v1', { seed: 'ui-sync-1' });
});
afterAll(async () => {
  await s?.close();
  await reg?.stop();
});

describe('a synced repository', () => {
  it('shows the version a sync made as a sync, by who started it, with the run', async () => {
    const r = await s.app.inject({
      method: 'POST',
      url: '/api/v1/repositories/team/app/-/sync',
      payload: JSON.stringify({ remote: 'dist', upstream: 'lib/app' }),
      headers: { authorization: basic(ADMIN.user, ADMIN.password), 'content-type': 'application/json' },
    });
    expect(r.statusCode, r.body).toBe(202);
    const id = (JSON.parse(r.body) as { run: { id: string } }).run.id;
    for (;;) {
      const run = await s.berth.syncs.runs.get(id);
      if (run.state !== 'running') {
        expect(run.state).toBe('succeeded');
        break;
      }
      await new Promise((res) => setTimeout(res, 50));
    }
    const admin = await s.admin();
    const page = await admin.get('/repositories/team/app/-/versions');
    const at = page.body.indexOf('<th scope="row" data-label="Version">1');
    const row = page.body.slice(at, page.body.indexOf('</tr>', at));
    expect(row).toContain(`<td data-label="Actor">${ADMIN.user}</td>`);
    expect(row).toContain(
      `data-label="Operation">sync<br><span class="muted">sync run ${id} from dist</span>`,
    );
  });
});
