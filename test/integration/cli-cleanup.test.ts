// `berth cleanup` against a running server: dry run reports, a real run removes, bad options are usage errors.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBerth } from '../helpers/cli.js';
import { startTestServer, type TestServer } from '../helpers/in-process.js';
import { Registry, ociImage } from '../registry/oci.js';

let s: TestServer;
beforeAll(async () => {
  s = await startTestServer('cli-cleanup');
});
afterAll(async () => s?.close());

const berth = (...args: string[]) => runBerth(s.url, ...args);

describe('berth cleanup', () => {
  it('reports with --dry-run, then removes an orphaned blob', async () => {
    const reg = new Registry(s.url);
    const d = await reg.pushBlob('cli/orphan', Buffer.from(`orphan ${Math.random()}`));
    await s.berth.db.kysely.deleteFrom('pending_blobs').where('digest', '=', d).execute();
    const dry = await berth('cleanup', '--dry-run', '--protection', '0', '--json');
    expect(dry.code, dry.err).toBe(0);
    expect(JSON.parse(dry.out).digests).toContain(d);
    expect((await reg.req('HEAD', `/v2/cli/orphan/blobs/${d}`)).status).toBe(404); // not the repository's: pending gone
    const kept = await s.berth.db.kysely
      .selectFrom('blobs')
      .select('digest')
      .where('digest', '=', d)
      .execute();
    expect(kept).toHaveLength(1);
    const real = await berth('cleanup', '--protection', '0');
    expect(real.code, real.err).toBe(0);
    expect(real.out).toContain(`removed ${d}`);
    expect(real.out).toMatch(/cleanup removed \d+ blobs/);
    const gone = await s.berth.db.kysely
      .selectFrom('blobs')
      .select('digest')
      .where('digest', '=', d)
      .execute();
    expect(gone).toHaveLength(0);
  });
  it('prints the version each repository got for the unreferenced blobs it let go of', async () => {
    const reg = new Registry(s.url);
    const img = ociImage({ n: 1 });
    await reg.pushImage('cli/deleted', img, 'v1');
    expect((await reg.req('DELETE', `/v2/cli/deleted/manifests/${img.digest}`)).status).toBe(202);
    const latest = (await reg.versions('cli/deleted')).at(-1)!.number;
    const r = await berth('cleanup', '--protection', '0');
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(
      new RegExp(
        `cli/deleted: version ${latest + 1} removed 2 unreferenced blobs \\(0\\.0 MiB\\), 0 untagged manifests`,
      ),
    );
    const versions = await berth('repo', 'versions', 'cli/deleted');
    expect(versions.out).toMatch(/MESSAGE[\s\S]*cleanup: removed 2 unreferenced blobs/);
  });

  it('refuses a protection that is not a number of seconds (exit 2)', async () => {
    const r = await berth('cleanup', '--protection', 'soon');
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/not a number of seconds/);
  });
});
